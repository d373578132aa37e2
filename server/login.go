package server

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"roomhub"
	"roomhub/account"
	"roomhub/secret"
	"roomhub/ui"
)

// Rate limits of the account routes, per client IP, from the seed.
var (
	LimitLogin         = Limit{Requests: 10, Window: time.Hour}
	LimitPasswordReset = Limit{Requests: 5, Window: time.Hour}
)

type loginData struct {
	Email string
	SSO   []ssoProvider
}

type ssoProvider struct{ Name, Label string }

func (s *Server) ssoProviders() []ssoProvider {
	if s.sso == nil {
		return nil
	}
	var out []ssoProvider
	for _, p := range s.sso.Providers() {
		out = append(out, ssoProvider{Name: p.Name, Label: p.Label})
	}
	return out
}

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	if us, err := s.currentUser(r); err == nil && us != nil && us.sess.Verified {
		s.redirect(w, r, "/dashboard/")
		return
	}
	s.dashPage(w, r, http.StatusOK, ui.PageLogin, "", ui.Page{Data: loginData{SSO: s.ssoProviders()}})
}

// errBadLogin is the one answer to a wrong email or a wrong password, so
// the form does not tell which accounts exist.
var errBadLogin = roomhub.Errorf(roomhub.EUNAUTHORIZED, "Email or password is incorrect.")

// login checks a password. The (email, IP) pair is locked after
// LOCKOUT_LIMIT failures for LOCKOUT_DURATION, even for the right password,
// and unknown emails count and cost the same as known ones.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		s.fail(w, r, roomhub.Errorf(roomhub.EINVALID, "The form could not be read."))
		return
	}
	rawEmail, pw := r.PostForm.Get("email"), r.PostForm.Get("password")
	again := func(code int, msg string) {
		s.dashPage(w, r, code, ui.PageLogin, "", ui.Page{FormError: msg, Data: loginData{Email: rawEmail, SSO: s.ssoProviders()}})
	}
	email, err := account.NormalizeEmail(rawEmail)
	if err != nil || pw == "" || len(pw) > account.MaxPasswordLen*4 {
		again(http.StatusBadRequest, "Enter your email and password.")
		return
	}
	ip := reqState(r).ip.String()
	if locked, err := s.locked(r, email, ip); err != nil {
		s.fail(w, r, err)
		return
	} else if locked {
		again(http.StatusTooManyRequests, lockedMessage)
		return
	}
	u, err := s.accounts.UserByEmail(r.Context(), email)
	switch {
	case roomhub.ErrorCode(err) == roomhub.ENOTFOUND:
		s.hasher.DummyVerify(pw)
		s.loginFailed(w, r, email, roomhub.User{}, "unknown email", again)
		return
	case err != nil:
		s.fail(w, r, err)
		return
	}
	ok := false
	if u.PasswordHash != "" {
		ok, err = account.VerifyPassword(u.PasswordHash, pw)
		if err != nil {
			s.log.Error("password hash unreadable", "user", u.ID, "err", err)
		}
	} else {
		s.hasher.DummyVerify(pw)
	}
	if !ok {
		s.loginFailed(w, r, email, u, "wrong password", again)
		return
	}
	if account.NeedsRehash(u.PasswordHash) {
		if h, err := account.HashPassword(pw); err == nil {
			s.accounts.SetPassword(r.Context(), u.ID, h)
		}
	}
	if err := s.startUserSession(w, r, u.ID, false); err != nil {
		s.fail(w, r, err)
		return
	}
	s.auditUserOrgs(r, u, "login.password", "password accepted; second factor next", true, nil)
	if u.Enrolled() {
		s.redirect(w, r, "/login/2fa")
	} else {
		s.redirect(w, r, "/2fa/enrol")
	}
}

const lockedMessage = "Too many failed sign-ins from your address. Sign-in for this account is locked for a while; an administrator can clear it."

// The second factor is also limited per account, whatever the address:
// someone who has the password and many addresses gets
// MaxSecondFactorFailures guesses per LOCKOUT_DURATION, not that many per
// address. The count is kept as a login_attempts row under the pseudo
// address secondFactorKey, so `lock clear` and a successful sign-in clear it.
const (
	MaxSecondFactorFailures = 10
	secondFactorKey         = "second-factor"
	secondFactorLocked      = "Too many wrong codes for this account. Its second factor is locked for a while; an administrator can clear it."
)

// locked reports whether the (email, IP) pair is locked now; a refused
// attempt on a locked pair is audited.
// endPending deletes a pending (password only) sign-in: whoever holds it
// must start again from the password, which is itself limited.
func (s *Server) endPending(w http.ResponseWriter, r *http.Request, us *userState) {
	if err := s.accounts.DeleteUserSession(r.Context(), us.sess.ID); err != nil {
		s.log.Error("pending session not deleted", "err", err)
	}
	s.clearUserCookie(w)
}

func (s *Server) locked(r *http.Request, email, ip string) (bool, error) {
	a, err := s.accounts.LoginAttempts(r.Context(), email, ip)
	if err != nil {
		return false, err
	}
	if a.LockedUntil.IsZero() || !s.clock.Now().Before(a.LockedUntil) {
		return false, nil
	}
	s.security(r, "login_locked", "email", email)
	if u, err := s.accounts.UserByEmail(r.Context(), email); err == nil {
		s.auditUserOrgs(r, u, "login.locked", "sign-in refused: this email is locked from this address", false, nil)
	}
	return true, nil
}

// loginFailed records a failed first or second factor: it counts toward the
// lock, is audited, and answers with the same message whatever went wrong.
func (s *Server) loginFailed(w http.ResponseWriter, r *http.Request, email string, u roomhub.User, why string, again func(int, string)) {
	a, err := s.accounts.RecordLoginFailure(r.Context(), email, reqState(r).ip.String(), s.cfg.LockoutLimit, s.cfg.LockoutDuration, s.clock.Now())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.obs.LoginFailed()
	s.security(r, "login_failed", "email", email, "reason", why, "failures", a.Failures)
	extra := map[string]any{"reason": why, "failures": a.Failures}
	if u.ID != 0 {
		s.auditUserOrgs(r, u, "login.failed", "sign-in failed: "+why, false, extra)
	}
	if !a.LockedUntil.IsZero() && a.Failures == s.cfg.LockoutLimit {
		s.obs.Lockout()
		s.security(r, "login_lockout", "email", email, "until", a.LockedUntil)
		if u.ID != 0 {
			s.auditUserOrgs(r, u, "login.lockout", "locked after "+strconv.Itoa(a.Failures)+" failed sign-ins from this address", false, extra)
		}
		again(http.StatusTooManyRequests, lockedMessage)
		return
	}
	if why == "wrong code" {
		again(http.StatusUnauthorized, "That code is not valid. Codes work once; wait for the next one.")
		return
	}
	again(http.StatusUnauthorized, errBadLogin.Message)
}

// pendingUser returns the signed-in user of a session that passed the
// first factor but not yet the second.
func (s *Server) pendingUser(w http.ResponseWriter, r *http.Request) (*userState, bool) {
	us, err := s.currentUser(r)
	if err != nil {
		s.fail(w, r, err)
		return nil, false
	}
	if us == nil {
		s.redirect(w, r, "/login")
		return nil, false
	}
	if us.sess.Verified {
		s.redirect(w, r, "/dashboard/")
		return nil, false
	}
	return us, true
}

func (s *Server) twoFactorPage(w http.ResponseWriter, r *http.Request) {
	us, ok := s.pendingUser(w, r)
	if !ok {
		return
	}
	if !us.user.Enrolled() {
		s.redirect(w, r, "/2fa/enrol")
		return
	}
	s.dashPage(w, r, http.StatusOK, ui.PageTwoFactor, "", ui.Page{})
}

// twoFactor checks a TOTP code (each 30-second step is accepted once) or a
// backup code (each works once). Failures count toward the lock like wrong
// passwords, so the six digits cannot be brute-forced.
func (s *Server) twoFactor(w http.ResponseWriter, r *http.Request) {
	us, ok := s.pendingUser(w, r)
	if !ok {
		return
	}
	u := us.user
	again := func(code int, msg string) {
		s.dashPage(w, r, code, ui.PageTwoFactor, "", ui.Page{FormError: msg})
	}
	if !u.Enrolled() {
		s.redirect(w, r, "/2fa/enrol")
		return
	}
	ip := reqState(r).ip.String()
	if locked, err := s.locked(r, u.Email, ip); err != nil {
		s.fail(w, r, err)
		return
	} else if locked {
		again(http.StatusTooManyRequests, lockedMessage)
		return
	}
	acct, err := s.accounts.LoginAttempts(r.Context(), u.Email, secondFactorKey)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if !acct.LockedUntil.IsZero() && s.clock.Now().Before(acct.LockedUntil) {
		s.endPending(w, r, us)
		again(http.StatusTooManyRequests, secondFactorLocked)
		return
	}
	code := strings.TrimSpace(r.PostFormValue("code"))
	method, passed := "", false
	if len(code) == 6 {
		method = "totp"
		secret, err := s.box.Open(u.TOTPSecret, totpAAD(u.ID))
		if err != nil {
			s.fail(w, r, &roomhub.Error{Code: roomhub.EINTERNAL, Message: "2FA secret unreadable", Err: err})
			return
		}
		if step, valid := account.ValidateTOTP(secret, code, s.clock.Now()); valid {
			passed, err = s.accounts.UseTOTPStep(r.Context(), u.ID, step)
			if err != nil {
				s.fail(w, r, err)
				return
			}
			if !passed {
				s.security(r, "totp_replay", "user", u.ID)
				s.auditUserOrgs(r, u, "2fa.replay", "a TOTP code was used a second time", false, nil)
			}
		}
	} else if code != "" {
		method = "backup_code"
		var err error
		passed, err = s.accounts.UseBackupCode(r.Context(), u.ID, account.HashBackupCode(code))
		if err != nil {
			s.fail(w, r, err)
			return
		}
	}
	if !passed {
		a, err := s.accounts.RecordLoginFailure(r.Context(), u.Email, secondFactorKey, MaxSecondFactorFailures, s.cfg.LockoutDuration, s.clock.Now())
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if a.Failures >= MaxSecondFactorFailures {
			s.obs.Lockout()
			s.security(r, "second_factor_lockout", "user", u.ID, "until", a.LockedUntil)
			s.auditUserOrgs(r, u, "2fa.lockout", "second factor locked after "+strconv.Itoa(a.Failures)+" wrong codes from any address", false, nil)
			s.endPending(w, r, us)
			again(http.StatusTooManyRequests, secondFactorLocked)
			return
		}
		s.loginFailed(w, r, u.Email, u, "wrong code", again)
		return
	}
	for _, key := range []string{ip, secondFactorKey} {
		if _, err := s.accounts.ClearLoginAttempts(r.Context(), u.Email, key); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	if err := s.startUserSession(w, r, u.ID, true); err != nil {
		s.fail(w, r, err)
		return
	}
	extra := map[string]any{"method": method}
	if method == "backup_code" {
		left, _ := s.accounts.UnusedBackupCodes(r.Context(), u.ID)
		extra["backup_codes_left"] = left
	}
	s.auditUserOrgs(r, u, "login", "signed in", true, extra)
	s.redirect(w, r, "/dashboard/")
}

// totpAAD binds a sealed TOTP secret to its user row.
func totpAAD(userID int64) string {
	return secret.AAD(roomhub.SealedSecret{Table: "users", Column: "totp_secret", ID: userID})
}

type enrolData struct {
	Secret string
	PNG    []byte
	Sealed string // the secret, sealed to this session, carried by the form
}

// enrolAAD binds an enrolment in progress to the session that started it,
// so a form value cannot be replayed from another session.
func enrolAAD(sessionID string) string { return "enrol:" + sessionID }

func (s *Server) enrolPage(w http.ResponseWriter, r *http.Request) {
	us, ok := s.pendingUser(w, r)
	if !ok {
		return
	}
	if us.user.Enrolled() {
		s.redirect(w, r, "/login/2fa")
		return
	}
	s.renderEnrol(w, r, us, http.StatusOK, "", "")
}

func (s *Server) renderEnrol(w http.ResponseWriter, r *http.Request, us *userState, code int, secret, msg string) {
	e, err := account.NewTOTP("Roomhub", us.user.Email)
	if secret != "" {
		e, err = account.TOTPFromSecret("Roomhub", us.user.Email, secret)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	sealed, err := s.box.Seal(e.Secret, enrolAAD(us.sess.ID))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.dashPage(w, r, code, ui.PageEnrol, "", ui.Page{FormError: msg, Data: enrolData{Secret: e.Secret, PNG: e.PNG, Sealed: sealed}})
}

// enrol completes TOTP enrolment: the code proves the app holds the secret.
// The session is then rotated to a verified one and the backup codes are
// shown, once.
func (s *Server) enrol(w http.ResponseWriter, r *http.Request) {
	us, ok := s.pendingUser(w, r)
	if !ok {
		return
	}
	u := us.user
	if u.Enrolled() {
		s.redirect(w, r, "/login/2fa")
		return
	}
	secret, err := s.box.Open(r.PostFormValue("enrolment"), enrolAAD(us.sess.ID))
	if err != nil {
		s.security(r, "enrolment_tampered", "user", u.ID)
		s.fail(w, r, roomhub.Errorf(roomhub.EINVALID, "The enrolment form expired. Reload the page and scan the new code."))
		return
	}
	step, valid := account.ValidateTOTP(secret, r.PostFormValue("code"), s.clock.Now())
	if !valid {
		s.renderEnrol(w, r, us, http.StatusBadRequest, secret, "That code does not match. Check the time on your device and enter the current code.")
		return
	}
	sealed, err := s.box.Seal(secret, totpAAD(u.ID))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	codes, hashes := account.NewBackupCodes()
	if err := s.accounts.SetTOTP(r.Context(), u.ID, sealed, hashes); err != nil {
		s.fail(w, r, err)
		return
	}
	if _, err := s.accounts.UseTOTPStep(r.Context(), u.ID, step); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.startUserSession(w, r, u.ID, true); err != nil {
		s.fail(w, r, err)
		return
	}
	s.auditUserOrgs(r, u, "2fa.enrol", "two-factor authentication turned on", true, nil)
	s.auditUserOrgs(r, u, "login", "signed in", true, map[string]any{"method": "enrolment"})
	s.dashPage(w, r, http.StatusOK, ui.PageBackupCodes, "", ui.Page{Data: codes})
}

// logout ends this session; logoutAll ends every session of the user.
func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	if us, err := s.currentUser(r); err == nil && us != nil {
		s.accounts.DeleteUserSession(r.Context(), us.sess.ID)
		s.auditUserOrgs(r, us.user, "logout", "signed out", true, nil)
	}
	s.clearUserCookie(w)
	s.redirect(w, r, "/login")
}

func (s *Server) logoutAll(w http.ResponseWriter, r *http.Request) {
	u := reqState(r).user.user
	n, err := s.accounts.DeleteUserSessions(r.Context(), u.ID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.auditUserOrgs(r, u, "logout.everywhere", "signed out of every session", true, map[string]any{"sessions": n})
	s.clearUserCookie(w)
	s.redirect(w, r, "/login")
}

type inviteData struct {
	OrgName, Email, Role, Name, Path string
	Existing, SignedIn               bool
}

// invitation loads the invitation a link names; a wrong, used or expired
// token is one 404.
func (s *Server) invitation(w http.ResponseWriter, r *http.Request, kind roomhub.TokenKind) (roomhub.UserToken, bool) {
	tok := chiParam(r, "token")
	if !account.ValidTokenFormat(tok) {
		s.fail(w, r, roomhub.Errorf(roomhub.ENOTFOUND, "This link is not valid. It may have expired or been used already."))
		return roomhub.UserToken{}, false
	}
	t, err := s.accounts.UserTokenByHash(r.Context(), kind, account.HashToken(tok), s.clock.Now())
	if err != nil {
		if roomhub.ErrorCode(err) == roomhub.ENOTFOUND {
			s.security(r, "bad_link_token", "kind", string(kind))
			err = roomhub.Errorf(roomhub.ENOTFOUND, "This link is not valid. It may have expired or been used already.")
		}
		s.fail(w, r, err)
		return roomhub.UserToken{}, false
	}
	return t, true
}

func (s *Server) invitePage(w http.ResponseWriter, r *http.Request) {
	t, ok := s.invitation(w, r, roomhub.TokenInvite)
	if !ok {
		return
	}
	s.renderInvite(w, r, t, http.StatusOK, "", "")
}

func (s *Server) renderInvite(w http.ResponseWriter, r *http.Request, t roomhub.UserToken, code int, name, msg string) {
	org, err := s.accounts.OrgByID(r.Context(), t.OrgID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	d := inviteData{OrgName: org.Name, Email: t.Email, Role: string(t.Role), Name: name, Path: r.URL.Path}
	if _, err := s.accounts.UserByEmail(r.Context(), t.Email); err == nil {
		d.Existing = true
		if us, _ := s.currentUser(r); us != nil && us.sess.Verified && us.user.Email == t.Email {
			d.SignedIn = true
		}
	}
	s.dashPage(w, r, code, ui.PageInvite, "", ui.Page{FormError: msg, Data: d})
}

// acceptInvite creates the invited account (name and password), or adds an
// existing, signed-in account to the organization. The token works once.
func (s *Server) acceptInvite(w http.ResponseWriter, r *http.Request) {
	t, ok := s.invitation(w, r, roomhub.TokenInvite)
	if !ok {
		return
	}
	existing, err := s.accounts.UserByEmail(r.Context(), t.Email)
	if err != nil && roomhub.ErrorCode(err) != roomhub.ENOTFOUND {
		s.fail(w, r, err)
		return
	}
	if err == nil {
		us, _ := s.currentUser(r)
		if us == nil || !us.sess.Verified || us.user.ID != existing.ID {
			s.renderInvite(w, r, t, http.StatusUnauthorized, "", "Sign in as "+t.Email+" first, then open the link again.")
			return
		}
		if !s.useToken(w, r, t) {
			return
		}
		if err := s.accounts.AddMembership(r.Context(), t.OrgID, existing.ID, t.Role); err != nil {
			s.fail(w, r, err)
			return
		}
		s.auditAs(r, t.OrgID, existing, "invitation.accept", "user", strconv.FormatInt(existing.ID, 10), "joined as "+string(t.Role), true, nil)
		s.redirect(w, r, "/dashboard/")
		return
	}
	name, err := roomhub.NormalizeName(r.PostFormValue("name"))
	if err != nil {
		s.renderInvite(w, r, t, http.StatusBadRequest, r.PostFormValue("name"), roomhub.ErrorMessage(err))
		return
	}
	pw := r.PostFormValue("password")
	if err := s.policy.Check(pw, t.Email, name); err != nil {
		s.renderInvite(w, r, t, http.StatusBadRequest, name, roomhub.ErrorMessage(err))
		return
	}
	hash, err := account.HashPassword(pw)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if !s.useToken(w, r, t) {
		return
	}
	u, err := s.accounts.CreateUser(r.Context(), roomhub.User{Email: t.Email, Name: name, PasswordHash: hash, CreatedAt: s.clock.Now()})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.accounts.AddMembership(r.Context(), t.OrgID, u.ID, t.Role); err != nil {
		s.fail(w, r, err)
		return
	}
	s.auditAs(r, t.OrgID, u, "user.create", "user", strconv.FormatInt(u.ID, 10), "account created from an invitation as "+string(t.Role), true, nil)
	if err := s.startUserSession(w, r, u.ID, false); err != nil {
		s.fail(w, r, err)
		return
	}
	s.redirect(w, r, "/2fa/enrol")
}

// useToken spends a one-time token; a second use (a race) is refused.
func (s *Server) useToken(w http.ResponseWriter, r *http.Request, t roomhub.UserToken) bool {
	ok, err := s.accounts.UseUserToken(r.Context(), t.ID, s.clock.Now())
	if err != nil {
		s.fail(w, r, err)
		return false
	}
	if !ok {
		s.fail(w, r, roomhub.Errorf(roomhub.ENOTFOUND, "This link is not valid. It may have expired or been used already."))
		return false
	}
	return true
}

type resetData struct{ Email, Path string }

func (s *Server) resetPage(w http.ResponseWriter, r *http.Request) {
	t, ok := s.invitation(w, r, roomhub.TokenReset)
	if !ok {
		return
	}
	s.dashPage(w, r, http.StatusOK, ui.PageReset, "", ui.Page{Data: resetData{Email: t.Email, Path: r.URL.Path}})
}

// reset sets a new password from a reset link and signs the user out
// everywhere; the second factor is untouched.
func (s *Server) reset(w http.ResponseWriter, r *http.Request) {
	t, ok := s.invitation(w, r, roomhub.TokenReset)
	if !ok {
		return
	}
	u, err := s.accounts.UserByID(r.Context(), t.UserID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	pw := r.PostFormValue("password")
	if err := s.policy.Check(pw, u.Email, u.Name); err != nil {
		s.dashPage(w, r, http.StatusBadRequest, ui.PageReset, "", ui.Page{FormError: roomhub.ErrorMessage(err), Data: resetData{Email: t.Email, Path: r.URL.Path}})
		return
	}
	hash, err := account.HashPassword(pw)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if !s.useToken(w, r, t) {
		return
	}
	if err := s.accounts.SetPassword(r.Context(), u.ID, hash); err != nil {
		s.fail(w, r, err)
		return
	}
	s.accounts.DeleteUserSessions(r.Context(), u.ID)
	s.auditUserOrgs(r, u, "password.change", "password set from a reset link; every session signed out", true, nil)
	s.clearUserCookie(w)
	s.redirect(w, r, "/login")
}

// publicURL is the base for links: PUBLIC_URL, or this request's origin.
func (s *Server) publicURL(r *http.Request) string {
	if s.cfg.PublicURL != "" {
		return s.cfg.PublicURL
	}
	scheme := "http"
	if reqState(r).https {
		scheme = "https"
	}
	return (&url.URL{Scheme: scheme, Host: r.Host}).String()
}
