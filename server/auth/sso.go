package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"roomhub"
	"roomhub/account"
	"roomhub/server/web"
)

// SSO flow limits.
const (
	ssoCookie = "roomhub_sso"
	// SSOFlowTimeout bounds the time between leaving for the provider and
	// coming back.
	SSOFlowTimeout = 10 * time.Minute
	// MaxSSOCookieBytes bounds the flow cookie a client sends back.
	MaxSSOCookieBytes = 3500
)

// ssoFlow is what the browser carries to the provider and back, signed
// with SECRET_KEY so it cannot be altered: the state to match and goth's
// session data. SameSite=Lax lets it come back on the provider's top-level
// redirect.
type ssoFlow struct {
	Provider string `json:"p"`
	State    string `json:"s"`
	Data     string `json:"d"`
	Expires  int64  `json:"e"`
}

func (s *Handler) signFlow(f ssoFlow) string {
	b, _ := json.Marshal(f)
	m := hmac.New(sha256.New, []byte(s.cfg.SecretKey))
	m.Write([]byte("sso\x00"))
	m.Write(b)
	return base64.RawURLEncoding.EncodeToString(b) + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (s *Handler) readFlow(r *http.Request) (ssoFlow, bool) {
	var f ssoFlow
	c, err := r.Cookie(ssoCookie)
	if err != nil || len(c.Value) > MaxSSOCookieBytes {
		return f, false
	}
	body, sig, ok := strings.Cut(c.Value, ".")
	if !ok {
		return f, false
	}
	b, err1 := base64.RawURLEncoding.DecodeString(body)
	got, err2 := base64.RawURLEncoding.DecodeString(sig)
	if err1 != nil || err2 != nil {
		return f, false
	}
	m := hmac.New(sha256.New, []byte(s.cfg.SecretKey))
	m.Write([]byte("sso\x00"))
	m.Write(b)
	if !hmac.Equal(got, m.Sum(nil)) || json.Unmarshal(b, &f) != nil {
		return f, false
	}
	return f, s.clock.Now().Unix() < f.Expires
}

// ssoBegin sends the browser to the provider.
func (s *Handler) ssoBegin(w http.ResponseWriter, r *http.Request) error {
	name := chi.URLParam(r, "provider")
	if s.sso == nil {
		return roomhub.Errorf(roomhub.ENOTFOUND, "Page not found.")
	}
	flow, err := s.sso.Begin(name)
	if err != nil {
		return err
	}
	v := s.signFlow(ssoFlow{Provider: name, State: flow.State, Data: flow.Data, Expires: s.clock.Now().Add(SSOFlowTimeout).Unix()})
	http.SetCookie(w, &http.Cookie{Name: ssoCookie, Value: v, Path: "/auth/sso/", HttpOnly: true,
		Secure: !s.cfg.Debug, SameSite: http.SameSiteLaxMode, MaxAge: int(SSOFlowTimeout / time.Second)})
	http.Redirect(w, r, flow.URL, http.StatusFound)
	return nil
}

// ssoCallback completes the provider's flow. A known user (matched by a
// verified email) goes on to the second factor like after a password; an
// unknown one joins the organization that verified the email's domain, as a
// viewer, only if that organization allows it.
func (s *Handler) ssoCallback(w http.ResponseWriter, r *http.Request) error {
	name := chi.URLParam(r, "provider")
	http.SetCookie(w, &http.Cookie{Name: ssoCookie, Value: "", Path: "/auth/sso/", HttpOnly: true,
		Secure: !s.cfg.Debug, SameSite: http.SameSiteLaxMode, MaxAge: -1})
	if s.sso == nil {
		return roomhub.Errorf(roomhub.ENOTFOUND, "Page not found.")
	}
	f, ok := s.readFlow(r)
	if !ok || f.Provider != name {
		s.Security(r, "sso_flow_invalid", "provider", name)
		s.ssoDenied(r, name, "", "the sign-in flow expired, was used already or was altered")
		return roomhub.Errorf(roomhub.EUNAUTHORIZED, "The sign-in link expired or was already used. Please try again.")
	}
	id, err := s.sso.Complete(r.Context(), name, f.State, f.Data, r.URL.Query())
	if err != nil {
		s.Security(r, "sso_failed", "provider", name, "err", err.Error())
		s.ssoDenied(r, name, "", "the provider did not complete the sign-in")
		return err
	}
	refuse := func(why string) {
		s.obs.LoginFailed()
		s.Security(r, "sso_refused", "provider", name, "email", id.Email, "reason", why)
		s.ssoDenied(r, name, id.Email, why)
		s.Fail(w, r, roomhub.Errorf(roomhub.EFORBIDDEN, "There is no Roomhub account for %s. Ask an administrator for an invitation.", id.Email))
	}
	if !id.EmailVerified {
		refuse("email not verified by the provider")
		return nil
	}
	email, err := account.NormalizeEmail(id.Email)
	if err != nil {
		refuse("malformed email")
		return nil
	}
	u, err := s.accounts.UserByEmail(r.Context(), email)
	switch {
	case roomhub.ErrorCode(err) == roomhub.ENOTFOUND:
		org, set, err := s.accounts.OrgByVerifiedDomain(r.Context(), account.EmailDomain(email))
		if roomhub.ErrorCode(err) == roomhub.ENOTFOUND || err == nil && !set.SSOAutoProvision {
			refuse("no account and no organization provisions this domain")
			return nil
		}
		if err != nil {
			return err
		}
		name, nerr := roomhub.NormalizeName(id.Name)
		if nerr != nil {
			name = strings.SplitN(email, "@", 2)[0]
		}
		u, err = s.accounts.CreateUser(r.Context(), roomhub.User{Email: email, Name: name, CreatedAt: s.clock.Now()})
		if err != nil {
			return err
		}
		if err := s.accounts.AddMembership(r.Context(), org.ID, u.ID, roomhub.RoleViewer); err != nil {
			return err
		}
		s.AuditAs(r, org.ID, u, "user.create", "user", u.Email, "joined through SSO ("+id.Provider+") as viewer", true, map[string]any{"provider": id.Provider})
	case err != nil:
		return err
	}
	if err := s.startUserSession(w, r, u.ID, false); err != nil {
		return err
	}
	s.auditUserOrgs(r, u, "login.sso", "signed in with "+id.Provider+"; second factor next", true, map[string]any{"provider": id.Provider})
	if u.Enrolled() {
		s.Redirect(w, r, "/login/2fa")
	} else {
		s.Redirect(w, r, "/2fa/enrol")
	}
	return nil
}

// ssoDenied audits a refused SSO sign-in as login.sso.denied, in the
// organizations it concerns when the provider named an email: the
// account's organizations if the email has one, else the organization that
// verified the email's domain (someone of its domain was turned away). A
// flow that failed before the provider named anyone, or an email no
// organization claims, concerns no organization: the row goes under
// NoOrgAudit, for the operator.
func (s *Handler) ssoDenied(r *http.Request, provider, rawEmail, why string) {
	ctx := r.Context()
	desc := "SSO sign-in with " + provider + " refused: " + why
	extra := map[string]any{"provider": provider, "reason": why}
	email, err := account.NormalizeEmail(rawEmail)
	if err != nil {
		email = web.Truncate(rawEmail, 254)
	} else {
		u, err := s.accounts.UserByEmail(ctx, email)
		if err == nil {
			s.auditSignIn(r, u, email, "login.sso.denied", desc, false, extra)
			return
		}
		if org, _, err := s.accounts.OrgByVerifiedDomain(ctx, account.EmailDomain(email)); err == nil {
			extra["email"] = email
			s.AuditAs(r, org.ID, roomhub.User{}, "login.sso.denied", "user", email, desc, false, extra)
			return
		}
	}
	s.auditSignIn(r, roomhub.User{}, email, "login.sso.denied", desc, false, extra)
}
