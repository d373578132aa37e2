package sso

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/markbates/goth"
)

// microsoftEmail returns the address goth read from Microsoft Graph's /me
// (its mail attribute, or failing that the user principal name) and whether
// Roomhub may take it as verified.
//
// Graph's mail attribute is set by the user's tenant administrators and
// Microsoft checks nothing about it. With a single tenant id configured, that
// tenant is the operator's own and its word is trusted. With
// "organizations" any tenant may sign in, and an attacker's tenant can set
// mail to anyone's address; the user principal name is different: Entra
// accepts it only in a domain the user's tenant has proved it owns (guests,
// whose names carry #EXT#, aside). "common" and "consumers" also admit
// personal Microsoft accounts, whose addresses Roomhub cannot judge.
func microsoftEmail(tenant string, u goth.User) (email string, verified bool) {
	upn, _ := u.RawData["userPrincipalName"].(string)
	upn = strings.TrimSpace(upn)
	if strings.Contains(strings.ToUpper(upn), "#EXT#") || !strings.Contains(upn, "@") {
		upn = ""
	}
	email = strings.TrimSpace(u.Email)
	if email == "" {
		email = upn
	}
	switch tenant {
	case "", "common", "consumers":
		return email, false
	case "organizations":
		return email, upn != "" && strings.EqualFold(email, upn)
	}
	return email, true
}

// githubEmails is GitHub's list of a user's addresses with their
// verification state (the user:email scope grants it).
const githubEmails = "https://api.github.com/user/emails"

// githubVerified asks GitHub whether email is one of the user's verified
// addresses. goth's FetchUser returns the profile's public email when there
// is one, and reports nothing about its verification.
func githubVerified(ctx context.Context, c *http.Client, token, email string) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, CallTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, githubEmails, nil)
	if err != nil {
		return false, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/vnd.github+json")
	res, err := c.Do(req)
	if err != nil {
		return false, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return false, fmt.Errorf("GitHub answered %d for the user's emails", res.StatusCode)
	}
	var list []struct {
		Email    string `json:"email"`
		Verified bool   `json:"verified"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(nil, res.Body, maxDocumentBytes)).Decode(&list); err != nil {
		return false, fmt.Errorf("GitHub's email list: %w", err)
	}
	for _, e := range list {
		if e.Verified && strings.EqualFold(strings.TrimSpace(e.Email), email) {
			return true, nil
		}
	}
	return false, nil
}
