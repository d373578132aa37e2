package room

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strconv"
	"strings"
	"time"

	"roomhub"
	"roomhub/hub"
)

// Room invite links. A link carries a token: a payload naming the
// organization, the room and the expiry, and an HMAC-SHA256 of it keyed from
// SECRET_KEY. The signature lets the server refuse a forged or altered link
// without touching the database and binds the link to one organization; the
// stored hash of the whole token counts uses and allows revocation.
//
// Opening a link only shows where it leads, so link previews in chat apps
// use nothing up; redeeming it takes one use and gives the browser session
// a pass for the room, which lets it join while the room is locked.

// Room invite limits.
const (
	MaxInviteHours = 7 * 24 // longest validity a moderator may choose
	MaxInviteUses  = 1000   // most uses a moderator may set (0 is unlimited)
	// PassTTL is how long a redeemed invite keeps admitting its session:
	// long enough to rejoin after a dropped connection.
	PassTTL = 12 * time.Hour
	// maxInviteToken bounds the token accepted in a URL.
	maxInviteToken = 512
)

// Invite refusals, as moderators read them.
var (
	ErrInviteHours = roomhub.Invalid("hours", "An invite link is valid for 1 to %d hours.", MaxInviteHours)
	ErrInviteUses  = roomhub.Invalid("max_uses", "Uses is a whole number from 0 (unlimited) to %d.", MaxInviteUses)
)

// inviteKey derives the signing key of room invites from SECRET_KEY, so it
// is never the key of another purpose.
func inviteKey(secretKey string) []byte {
	m := hmac.New(sha256.New, []byte(secretKey))
	m.Write([]byte("roomhub room invite v1"))
	return m.Sum(nil)
}

// signInvite returns a token for room of org expiring at exp.
func (s *Service) signInvite(org int64, room string, exp time.Time) string {
	nonce := make([]byte, 16)
	rand.Read(nonce)
	payload := strconv.FormatInt(org, 10) + "|" + room + "|" + strconv.FormatInt(exp.Unix(), 10) + "|" + base64.RawURLEncoding.EncodeToString(nonce)
	m := hmac.New(sha256.New, s.inviteKey)
	m.Write([]byte(payload))
	return base64.RawURLEncoding.EncodeToString([]byte(payload)) + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// OpenInvite checks a token's signature, organization and expiry and
// returns its room, using nothing up. Any failure is the same ENOTFOUND:
// the visitor learns nothing about why.
func (s *Service) OpenInvite(token string, org int64) (string, error) {
	return s.openInvite(token, org, s.clock.Now())
}

func (s *Service) openInvite(token string, org int64, now time.Time) (string, error) {
	bad := roomhub.Errorf(roomhub.ENOTFOUND, "This invite link is not valid: it may have expired, been used up or been revoked.")
	if len(token) > maxInviteToken {
		return "", bad
	}
	p64, s64, ok := strings.Cut(token, ".")
	if !ok {
		return "", bad
	}
	payload, err1 := base64.RawURLEncoding.DecodeString(p64)
	sig, err2 := base64.RawURLEncoding.DecodeString(s64)
	if err1 != nil || err2 != nil {
		return "", bad
	}
	m := hmac.New(sha256.New, s.inviteKey)
	m.Write(payload)
	if !hmac.Equal(sig, m.Sum(nil)) {
		return "", bad
	}
	parts := strings.Split(string(payload), "|")
	if len(parts) != 4 {
		return "", bad
	}
	o, err1 := strconv.ParseInt(parts[0], 10, 64)
	exp, err2 := strconv.ParseInt(parts[2], 10, 64)
	if err1 != nil || err2 != nil || o != org || roomhub.ValidateRoom(parts[1]) != nil || !now.Before(time.Unix(exp, 0)) {
		return "", bad
	}
	return parts[1], nil
}

func inviteHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// Invite makes an invite link to a room valid for hours, for uses people
// (0: unlimited until it expires), and returns its token, shown once: only
// its hash is stored.
func (s *Service) Invite(ctx context.Context, key hub.Key, by string, hours, uses int) (string, roomhub.RoomInvite, error) {
	if hours < 1 || hours > MaxInviteHours {
		return "", roomhub.RoomInvite{}, ErrInviteHours
	}
	if uses < 0 || uses > MaxInviteUses {
		return "", roomhub.RoomInvite{}, ErrInviteUses
	}
	exp := s.clock.Now().Add(time.Duration(hours) * time.Hour).Truncate(time.Second)
	token := s.signInvite(key.Org, key.Room, exp)
	inv, err := s.moderation.CreateRoomInvite(ctx, roomhub.RoomInvite{OrgID: key.Org, Room: key.Room,
		CreatedBy: by, ExpiresAt: exp, MaxUses: uses}, inviteHash(token))
	if err != nil {
		return "", roomhub.RoomInvite{}, err
	}
	return token, inv, nil
}

// Redeem takes one use of an invite link of org and returns its room and
// the pass that admits the holder's session to it while it is locked.
func (s *Service) Redeem(ctx context.Context, org int64, token string) (string, roomhub.Pass, error) {
	now := s.clock.Now()
	room, err := s.openInvite(token, org, now)
	if err == nil {
		_, err = s.moderation.UseRoomInvite(ctx, org, inviteHash(token), now)
	}
	if err != nil {
		return "", roomhub.Pass{}, err
	}
	return room, roomhub.Pass{OrgID: org, Room: room, ExpiresAt: now.Add(PassTTL)}, nil
}

// Invites lists a room's invite links, newest first.
func (s *Service) Invites(ctx context.Context, key hub.Key) ([]roomhub.RoomInvite, error) {
	return s.moderation.ListRoomInvites(ctx, key.Org, key.Room)
}

// RevokeInvite ends an invite link of the room's organization at once;
// ENOTFOUND if it has none with that id.
func (s *Service) RevokeInvite(ctx context.Context, key hub.Key, id int64) error {
	return s.moderation.RevokeRoomInvite(ctx, key.Org, id)
}
