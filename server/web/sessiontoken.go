package web

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
)

// sessionMACBytes is the length of the server's signature in a participant
// session token: 32 random bytes, then the first 16 bytes of their
// HMAC-SHA256 under SECRET_KEY.
const sessionMACBytes = 16

func (s *Kit) sessionMAC(random []byte) []byte {
	m := hmac.New(sha256.New, []byte(s.cfg.SecretKey))
	m.Write([]byte("participant-session\x00"))
	m.Write(random)
	return m.Sum(nil)[:sessionMACBytes]
}

// newSessionToken issues a participant session token the server can later
// recognise as its own without a store lookup: sessions have no row until
// they gain a grant, so "unknown to the store" cannot tell a planted id
// from a fresh one, but the signature can.
func (s *Kit) newSessionToken() string {
	b := make([]byte, SessionTokenBytes, SessionTokenBytes+sessionMACBytes)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(append(b, s.sessionMAC(b)...))
}

// issuedToken reports whether v is a participant token this server (or a
// node sharing SECRET_KEY) issued.
func (s *Kit) issuedToken(v string) bool {
	if len(v) != base64.RawURLEncoding.EncodedLen(SessionTokenBytes+sessionMACBytes) {
		return false
	}
	b, err := base64.RawURLEncoding.DecodeString(v)
	if err != nil {
		return false
	}
	return hmac.Equal(b[SessionTokenBytes:], s.sessionMAC(b[:SessionTokenBytes]))
}

// dashCookie returns the dashboard session token the request carries, if
// well-formed (whether the session is live is checked where it matters).
func dashCookie(r *http.Request) string {
	c, err := r.Cookie(UserSessionCookie)
	if err != nil || len(c.Value) != base64.RawURLEncoding.EncodedLen(SessionTokenBytes) {
		return ""
	}
	return c.Value
}

// dashCSRFToken is the CSRF token of a dashboard session: an HMAC of its id
// under SECRET_KEY, so it is bound to that session and not to the
// participant cookie beside it.
func (s *Kit) dashCSRFToken(dashSessionID string) string {
	m := hmac.New(sha256.New, []byte(s.cfg.SecretKey))
	m.Write([]byte("dashboard-csrf\x00"))
	m.Write([]byte(dashSessionID))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// PageCSRF is the CSRF token a page hands out, for the cookies the browser
// will hold once it has this response: the dashboard session's when there
// is one (a session this very response starts included, none if it ends
// one), else the participant session's, issuing that cookie if needed.
func (s *Kit) PageCSRF(w http.ResponseWriter, r *http.Request) string {
	tok := s.EnsureCookie(w, r)
	dash := dashCookie(r)
	for _, h := range w.Header().Values("Set-Cookie") {
		if c, err := http.ParseSetCookie(h); err == nil && c.Name == UserSessionCookie {
			dash = c.Value
			if c.MaxAge < 0 {
				dash = ""
			}
		}
	}
	if dash != "" && len(dash) == base64.RawURLEncoding.EncodedLen(SessionTokenBytes) {
		return s.dashCSRFToken(SessionID(dash))
	}
	return s.CSRFToken(tok)
}
