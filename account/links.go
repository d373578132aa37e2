package account

import (
	"context"
	"time"

	"roomhub"
)

// IssueInvitation stores a one-time invitation to org for email with role
// and returns its link. Only the token's hash is stored. The CLI's
// `user create` uses it too.
func IssueInvitation(ctx context.Context, a roomhub.UserTokens, now time.Time, ttl time.Duration, base string, orgID int64, email string, role roomhub.Role, by int64) (string, error) {
	tok, hash := NewToken()
	_, err := a.CreateUserToken(ctx, roomhub.UserToken{Kind: roomhub.TokenInvite, OrgID: orgID, Email: email, Role: role,
		Hash: hash, CreatedBy: by, CreatedAt: now, ExpiresAt: now.Add(ttl)})
	if err != nil {
		return "", err
	}
	return base + "/invite/" + tok, nil
}

// IssueReset stores a one-time password reset for a user and returns its
// link. There is no self-service reset by email: an administrator of one of
// the user's organizations (or the operator) hands the link over.
func IssueReset(ctx context.Context, a roomhub.UserTokens, now time.Time, ttl time.Duration, base string, orgID, userID int64, email string, by int64) (string, error) {
	tok, hash := NewToken()
	_, err := a.CreateUserToken(ctx, roomhub.UserToken{Kind: roomhub.TokenReset, OrgID: orgID, Email: email, UserID: userID,
		Hash: hash, CreatedBy: by, CreatedAt: now, ExpiresAt: now.Add(ttl)})
	if err != nil {
		return "", err
	}
	return base + "/reset/" + tok, nil
}
