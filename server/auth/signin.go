package auth

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"roomhub/server/web"
	"time"

	"roomhub"
)

// Dashboard session limits. A dashboard session is separate from the
// participant one: its own cookie, SameSite=Lax so a link from an email
// or chat opens the dashboard signed in, and shorter lifetimes.
const (
	UserSessionIdleTimeout = 2 * time.Hour  // unused this long: signed out
	UserSessionMaxAge      = 12 * time.Hour // and none lives longer
	// UserSessionPendingMaxAge bounds the time between the password (or SSO)
	// step and the second factor.
	UserSessionPendingMaxAge = 10 * time.Minute
	// userSessionTouchEvery spares a write per request: LastSeen is
	// refreshed at most this often.
	userSessionTouchEvery = time.Minute
)

// startUserSession creates a new dashboard session for user and sets its
// cookie, replacing (and deleting) the one the request carried: a session id
// never survives a change of privilege, so a planted cookie is worthless.
func (s *Handler) startUserSession(w http.ResponseWriter, r *http.Request, userID int64, verified bool) error {
	if old, err := r.Cookie(web.UserSessionCookie); err == nil && old.Value != "" {
		s.accounts.DeleteUserSession(r.Context(), web.SessionID(old.Value))
	}
	b := make([]byte, web.SessionTokenBytes)
	rand.Read(b)
	token := base64.RawURLEncoding.EncodeToString(b)
	now := s.clock.Now()
	maxAge := UserSessionMaxAge
	if !verified {
		maxAge = UserSessionPendingMaxAge
	}
	us := roomhub.UserSession{ID: web.SessionID(token), UserID: userID, Verified: verified,
		CreatedAt: now, LastSeen: now, ExpiresAt: now.Add(maxAge), IP: web.StateOf(r).IP.String(), UserAgent: web.Truncate(r.UserAgent(), 256)}
	if err := s.accounts.CreateUserSession(r.Context(), us); err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{Name: web.UserSessionCookie, Value: token, Path: "/", HttpOnly: true,
		Secure: !s.cfg.Debug, SameSite: http.SameSiteLaxMode})
	st := web.StateOf(r)
	st.User = &web.SignIn{Sess: us}
	return nil
}

// currentUser loads the request's dashboard session, if it has a live one.
// Expired sessions are deleted on sight.
func (s *Handler) currentUser(r *http.Request) (*web.SignIn, error) {
	st := web.StateOf(r)
	if st.User != nil && st.User.User.ID != 0 {
		return st.User, nil
	}
	c, err := r.Cookie(web.UserSessionCookie)
	if err != nil || len(c.Value) != base64.RawURLEncoding.EncodedLen(web.SessionTokenBytes) {
		return nil, nil
	}
	id := web.SessionID(c.Value)
	us, err := s.accounts.UserSession(r.Context(), id)
	if roomhub.ErrorCode(err) == roomhub.ENOTFOUND {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	now := s.clock.Now()
	if !now.Before(us.ExpiresAt) || now.Sub(us.LastSeen) >= UserSessionIdleTimeout {
		s.accounts.DeleteUserSession(r.Context(), id)
		return nil, nil
	}
	u, err := s.accounts.UserByID(r.Context(), us.UserID)
	if roomhub.ErrorCode(err) == roomhub.ENOTFOUND {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if now.Sub(us.LastSeen) >= userSessionTouchEvery {
		if err := s.accounts.TouchUserSession(r.Context(), id, now); err != nil {
			return nil, err
		}
		us.LastSeen = now
	}
	st.User = &web.SignIn{Sess: us, User: u}
	return st.User, nil
}

// RequireUser lets through requests with a verified (two-factor) session;
// others are sent to sign in, or to finish the second factor.
func (s *Handler) RequireUser(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		us, err := s.currentUser(r)
		if err != nil {
			s.Fail(w, r, err)
			return
		}
		switch {
		case us == nil:
			s.Redirect(w, r, "/login")
		case !us.Sess.Verified && us.User.Enrolled():
			s.Redirect(w, r, "/login/2fa")
		case !us.Sess.Verified:
			s.Redirect(w, r, "/2fa/enrol")
		default:
			next.ServeHTTP(w, r)
		}
	})
}

// StillSignedIn reports whether the stream's dashboard session is still
// valid and its user still a member of the organization.
func (s *Handler) StillSignedIn(ctx context.Context, r *http.Request) bool {
	st := web.StateOf(r)
	if st.User == nil {
		return false
	}
	us, err := s.accounts.UserSession(ctx, st.User.Sess.ID)
	now := s.clock.Now()
	if err != nil || !now.Before(us.ExpiresAt) || now.Sub(us.LastSeen) >= UserSessionIdleTimeout {
		return false
	}
	_, err = s.accounts.Membership(ctx, st.Dash.Org.ID, st.User.User.ID)
	return err == nil
}
