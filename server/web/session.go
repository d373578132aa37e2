package web

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"time"

	"roomhub"
)

// Participant session limits.
const (
	SessionCookie      = "roomhub_session"
	SessionIdleTimeout = 12 * time.Hour // a session unused this long is gone
	SessionMaxAge      = 24 * time.Hour // and none lives longer than this
	// SessionTokenBytes is the randomness of a session cookie, participant
	// or dashboard: 256 bits.
	SessionTokenBytes = 32
)

// sessionState is a request's participant session. The cookie holds a random
// token; the store knows only its SHA-256, so a leaked table holds no usable
// cookie. Nothing is written until the session gains a grant, so browsing the
// lobby creates no rows.
type sessionState struct {
	token  string // cookie value
	loaded bool
	stored bool // a row exists
	s      roomhub.Session
}

// SessionID is the stored id of a session token: its SHA-256, so a leaked
// table holds no usable cookie.
func SessionID(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// cookieToken returns the participant session token the client sent, if
// the server issued it (issuedToken); anything else counts as no cookie,
// so a session id chosen by the client is never adopted.
func (s *Kit) cookieToken(r *http.Request) string {
	c, err := r.Cookie(SessionCookie)
	if err != nil || !s.issuedToken(c.Value) {
		return ""
	}
	return c.Value
}

// EnsureCookie makes sure the client holds a session token, issuing a new
// one when it has none, and returns it.
func (s *Kit) EnsureCookie(w http.ResponseWriter, r *http.Request) string {
	st := StateOf(r)
	if st.sess == nil {
		st.sess = &sessionState{token: s.cookieToken(r)}
	}
	if st.sess.token == "" {
		st.sess.token = s.newSessionToken()
		st.sess.loaded = true // brand new: nothing to load
		now := s.clock.Now()
		st.sess.s = roomhub.Session{ID: SessionID(st.sess.token), CreatedAt: now, LastSeen: now}
		s.setSessionCookie(w, st.sess.token)
	}
	return st.sess.token
}

// setSessionCookie sets the participant cookie: HttpOnly, SameSite=Strict,
// Secure unless DEBUG, and no expiry so it ends with the browser.
func (s *Kit) setSessionCookie(w http.ResponseWriter, token string) {
	http.SetCookie(w, &http.Cookie{
		Name: SessionCookie, Value: token, Path: "/",
		HttpOnly: true, Secure: !s.cfg.Debug, SameSite: http.SameSiteStrictMode,
	})
}

// Session returns the request's session, loading it from the store once.
// A missing or expired session becomes a fresh, empty one.
func (s *Kit) Session(w http.ResponseWriter, r *http.Request) (*roomhub.Session, error) {
	s.EnsureCookie(w, r)
	ss := StateOf(r).sess
	if ss.loaded {
		return &ss.s, nil
	}
	ss.loaded = true
	now := s.clock.Now()
	got, err := s.store.GetSession(r.Context(), SessionID(ss.token))
	switch {
	case err == nil && now.Before(got.ExpiresAt) && now.Sub(got.LastSeen) < SessionIdleTimeout:
		ss.s, ss.stored = got, true
	case err == nil || roomhub.ErrorCode(err) == roomhub.ENOTFOUND:
		// Unknown or expired: start over under the same token; its row, if
		// any, is overwritten on save.
		ss.s = roomhub.Session{ID: SessionID(ss.token), CreatedAt: now, LastSeen: now}
		ss.stored = err == nil
	default:
		return nil, err
	}
	return &ss.s, nil
}

// SaveSession writes the session back, refreshing its idle timer.
func (s *Kit) SaveSession(r *http.Request, sess *roomhub.Session) error {
	now := s.clock.Now()
	sess.LastSeen = now
	sess.ExpiresAt = sess.CreatedAt.Add(SessionMaxAge)
	return s.store.SaveSession(r.Context(), *sess)
}

// CSRFToken is the CSRF token of a session: an HMAC of the session id under
// SECRET_KEY, so it needs no storage and is useless with another cookie.
func (s *Kit) CSRFToken(sessionToken string) string {
	m := hmac.New(sha256.New, []byte(s.cfg.SecretKey))
	m.Write([]byte("csrf\x00"))
	m.Write([]byte(SessionID(sessionToken)))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// csrfValid checks sent against the request's CSRF token: the dashboard
// session's when the request carries a dashboard cookie (dashCSRFToken),
// else the participant session's.
func (s *Kit) csrfValid(r *http.Request, sent string) bool {
	var want string
	if dash := dashCookie(r); dash != "" {
		want = s.dashCSRFToken(SessionID(dash))
	} else if tok := s.cookieToken(r); tok != "" {
		want = s.CSRFToken(tok)
	}
	if want == "" || sent == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(want), []byte(sent)) == 1
}
