package server

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"time"

	"roomhub"
)

// Dashboard session limits. A dashboard session is separate from the
// participant one: its own cookie, SameSite=Lax so a link from an email
// or chat opens the dashboard signed in, and shorter lifetimes.
const (
	UserSessionCookie      = "roomhub_admin"
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
func (s *Server) startUserSession(w http.ResponseWriter, r *http.Request, userID int64, verified bool) error {
	if old, err := r.Cookie(UserSessionCookie); err == nil && old.Value != "" {
		s.accounts.DeleteUserSession(r.Context(), sessionID(old.Value))
	}
	b := make([]byte, sessionTokenBytes)
	rand.Read(b)
	token := base64.RawURLEncoding.EncodeToString(b)
	now := s.clock.Now()
	maxAge := UserSessionMaxAge
	if !verified {
		maxAge = UserSessionPendingMaxAge
	}
	us := roomhub.UserSession{ID: sessionID(token), UserID: userID, Verified: verified,
		CreatedAt: now, LastSeen: now, ExpiresAt: now.Add(maxAge), IP: reqState(r).ip.String(), UserAgent: truncate(r.UserAgent(), 256)}
	if err := s.accounts.CreateUserSession(r.Context(), us); err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{Name: UserSessionCookie, Value: token, Path: "/", HttpOnly: true,
		Secure: !s.cfg.Debug, SameSite: http.SameSiteLaxMode})
	st := reqState(r)
	st.user = &userState{sess: us}
	return nil
}

func (s *Server) clearUserCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: UserSessionCookie, Value: "", Path: "/", HttpOnly: true,
		Secure: !s.cfg.Debug, SameSite: http.SameSiteLaxMode, MaxAge: -1})
}

// userState is the request's dashboard session and user, once loaded.
type userState struct {
	sess roomhub.UserSession
	user roomhub.User
}

// currentUser loads the request's dashboard session, if it has a live one.
// Expired sessions are deleted on sight.
func (s *Server) currentUser(r *http.Request) (*userState, error) {
	st := reqState(r)
	if st.user != nil && st.user.user.ID != 0 {
		return st.user, nil
	}
	c, err := r.Cookie(UserSessionCookie)
	if err != nil || len(c.Value) != base64.RawURLEncoding.EncodedLen(sessionTokenBytes) {
		return nil, nil
	}
	id := sessionID(c.Value)
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
	st.user = &userState{sess: us, user: u}
	return st.user, nil
}

// requireUser lets through requests with a verified (two-factor) session;
// others are sent to sign in, or to finish the second factor.
func (s *Server) requireUser(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		us, err := s.currentUser(r)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		switch {
		case us == nil:
			s.redirect(w, r, "/login")
		case !us.sess.Verified && us.user.Enrolled():
			s.redirect(w, r, "/login/2fa")
		case !us.sess.Verified:
			s.redirect(w, r, "/2fa/enrol")
		default:
			next.ServeHTTP(w, r)
		}
	})
}

// redirect sends the browser to path: HX-Redirect for htmx requests (a 302
// would be followed inside the swap), 303 otherwise.
func (s *Server) redirect(w http.ResponseWriter, r *http.Request, path string) {
	if isHTMX(r) {
		w.Header().Set("HX-Redirect", path)
		w.WriteHeader(http.StatusNoContent)
		return
	}
	http.Redirect(w, r, path, http.StatusSeeOther)
}

// isHTMX reports whether an htmx request asks for a fragment: boosted
// requests navigate and get the full page.
func isHTMX(r *http.Request) bool {
	return r.Header.Get("HX-Request") == "true" && r.Header.Get("HX-Boosted") != "true"
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
