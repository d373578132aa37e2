// Package auth signs people in to the dashboard: password and second
// factor, enrolment, single sign-on, invitations and password reset links,
// signing out, and the dashboard sign-in sessions RequireUser checks.
package auth

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"roomhub"
	"roomhub/account"
	"roomhub/clock"
	"roomhub/config"
	"roomhub/secret"
	"roomhub/server/web"
	"roomhub/sso"
	"roomhub/ui"

	"github.com/go-chi/chi/v5"
)

// Handler serves the sign-in routes and checks dashboard sign-ins.
type Handler struct {
	*web.Kit
	cfg      config.Config
	accounts Accounts
	box      *secret.Box
	policy   *account.Policy
	hasher   *account.Hasher
	sso      *sso.SSO
	clock    clock.Clock
	log      *slog.Logger
	obs      web.Observer
}

// Accounts is what signing in uses of the accounts: everything but API
// keys and reading the audit log.
type Accounts interface {
	roomhub.Orgs
	roomhub.Users
	roomhub.SecondFactors
	roomhub.Memberships
	roomhub.UserTokens
	roomhub.UserSessions
	roomhub.Lockouts
}

// Deps are what signing in reads and changes.
type Deps struct {
	Accounts Accounts
	// Box seals and opens second-factor secrets (APP_MASTER_KEY).
	Box *secret.Box
	// Policy checks new passwords.
	Policy *account.Policy
	// SSO is nil when no provider is configured.
	SSO *sso.SSO
}

// New returns the sign-in handler.
func New(kit *web.Kit, d Deps) *Handler {
	return &Handler{Kit: kit, cfg: kit.Config(), accounts: d.Accounts, box: d.Box, policy: d.Policy, hasher: account.NewHasher(),
		sso: d.SSO, clock: kit.Clock(), log: kit.Log(), obs: kit.Observer()}
}

// Mount mounts the sign-in routes; the caller puts CSRF in front.
func (s *Handler) Mount(r chi.Router) {
	r.Get("/login", s.Handle(s.loginPage))
	r.With(s.Limit("login", web.LimitLogin)).Post("/login", s.Handle(s.login))
	r.Get("/login/2fa", s.Handle(s.twoFactorPage))
	r.With(s.Limit("login", web.LimitLogin)).Post("/login/2fa", s.Handle(s.twoFactor))
	r.Get("/2fa/enrol", s.Handle(s.enrolPage))
	r.With(s.Limit("login", web.LimitLogin)).Post("/2fa/enrol", s.Handle(s.enrol))
	r.Post("/logout", s.Handle(s.logout))
	r.With(s.RequireUser).Post("/logout/all", s.Handle(s.logoutAll))
	r.Get("/auth/sso/{provider}", s.Handle(s.ssoBegin)) // only completing a sign-in counts

	r.With(s.Limit("login", web.LimitLogin)).Get("/auth/sso/{provider}/callback", s.Handle(s.ssoCallback))
	// Only the forms count against the limit: a link token has 256
	// random bits, so looking pages up cannot guess one.
	r.Get("/invite/{token}", s.Handle(s.invitePage))
	r.With(s.Limit("password_reset", web.LimitPasswordReset)).Post("/invite/{token}", s.Handle(s.acceptInvite))
	r.Get("/reset/{token}", s.Handle(s.resetPage))
	r.With(s.Limit("password_reset", web.LimitPasswordReset)).Post("/reset/{token}", s.Handle(s.reset))
}

type loginData struct {
	Email string
	SSO   []ssoProvider
}

type ssoProvider struct{ Name, Label string }

func (s *Handler) ssoProviders() []ssoProvider {
	if s.sso == nil {
		return nil
	}
	var out []ssoProvider
	for _, p := range s.sso.Providers() {
		out = append(out, ssoProvider{Name: p.Name, Label: p.Label})
	}
	return out
}

func (s *Handler) loginPage(w http.ResponseWriter, r *http.Request) error {
	if us, err := s.currentUser(r); err == nil && us != nil && us.Sess.Verified {
		s.Redirect(w, r, "/dashboard/")
		return nil
	}
	s.DashPage(w, r, http.StatusOK, ui.PageLogin, "", ui.Page{Data: loginData{SSO: s.ssoProviders()}})
	return nil
}

// errBadLogin is the one answer to a wrong email or a wrong password, so
// the form does not tell which accounts exist.
var errBadLogin = roomhub.Errorf(roomhub.EUNAUTHORIZED, "Email or password is incorrect.")

// login checks a password. The (email, IP) pair is locked after
// LOCKOUT_LIMIT failures for LOCKOUT_DURATION, even for the right password,
// and unknown emails count and cost the same as known ones.
func (s *Handler) login(w http.ResponseWriter, r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		return roomhub.Errorf(roomhub.EINVALID, "The form could not be read.")
	}
	rawEmail, pw := r.PostForm.Get("email"), r.PostForm.Get("password")
	again := func(code int, msg string) {
		s.DashPage(w, r, code, ui.PageLogin, "", ui.Page{FormError: msg, Data: loginData{Email: rawEmail, SSO: s.ssoProviders()}})
	}
	email, err := account.NormalizeEmail(rawEmail)
	if err != nil || pw == "" || len(pw) > account.MaxPasswordLen*4 {
		again(http.StatusBadRequest, "Enter your email and password.")
		return nil
	}
	ip := web.StateOf(r).IP.String()
	if locked, err := s.locked(r, email, ip); err != nil {
		return err
	} else if locked {
		again(http.StatusTooManyRequests, lockedMessage)
		return nil
	}
	u, err := s.accounts.UserByEmail(r.Context(), email)
	switch {
	case roomhub.ErrorCode(err) == roomhub.ENOTFOUND:
		// The same work as a wrong password of a known account: a hash,
		// the failure count, a memberships query and an audit write.
		s.hasher.DummyVerify(pw)
		s.loginFailed(w, r, email, roomhub.User{}, "unknown email", again)
		return nil
	case err != nil:
		return err
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
		return nil
	}
	if account.NeedsRehash(u.PasswordHash) {
		if h, err := account.HashPassword(pw); err == nil {
			s.accounts.SetPassword(r.Context(), u.ID, h)
		}
	}
	if err := s.startUserSession(w, r, u.ID, false); err != nil {
		return err
	}
	s.auditUserOrgs(r, u, "login.password", "password accepted; second factor next", true, nil)
	if u.Enrolled() {
		s.Redirect(w, r, "/login/2fa")
	} else {
		s.Redirect(w, r, "/2fa/enrol")
	}
	return nil
}

const lockedMessage = "Too many failed sign-ins from your address. Sign-in for this account is locked for a while; an administrator can clear it."

// The second factor is also limited per account, whatever the address:
// someone who has the password and many addresses gets
// MaxSecondFactorFailures guesses per LOCKOUT_DURATION, not that many per
// address. The count is kept as a login_attempts row under the pseudo
// address secondFactorKey, so `lock clear` and a successful sign-in clear it.
//
// And per pending sign-in: after MaxPendingCodeFailures wrong codes the
// pending session is deleted, so whoever holds it must pass the password
// step again, which is rate limited and locked per (email, address).
const (
	MaxSecondFactorFailures = 10
	MaxPendingCodeFailures  = 5
	secondFactorKey         = "second-factor"
	secondFactorLocked      = "Too many wrong codes for this account. Its second factor is locked for a while; an administrator can clear it."
	pendingEndedMessage     = "Too many wrong codes. Sign in again with your password."
)

// NoOrgAudit is the organization id of audit rows that belong to no
// organization: sign-in events of an email without an account (or of an
// account in no organization). No organization's dashboard shows them;
// operators read them in the database. Real organizations start at 1.
const NoOrgAudit int64 = 0

// endPending deletes a pending (password only) sign-in: whoever holds it
// must start again from the password, which is itself limited.
func (s *Handler) endPending(w http.ResponseWriter, r *http.Request, us *web.SignIn) {
	if err := s.accounts.DeleteUserSession(r.Context(), us.Sess.ID); err != nil {
		s.log.Error("pending session not deleted", "err", err)
	}
	s.ClearUserCookie(w)
}

// locked reports whether the (email, IP) pair is locked now; a refused
// attempt on a locked pair is audited, for an unknown email as for a known
// one (auditSignIn).
func (s *Handler) locked(r *http.Request, email, ip string) (bool, error) {
	a, err := s.accounts.LoginAttempts(r.Context(), email, ip)
	if err != nil {
		return false, err
	}
	if a.LockedUntil.IsZero() || !s.clock.Now().Before(a.LockedUntil) {
		return false, nil
	}
	s.Security(r, "login_locked", "email", email)
	u, err := s.accounts.UserByEmail(r.Context(), email)
	if err != nil && roomhub.ErrorCode(err) != roomhub.ENOTFOUND {
		return false, err
	}
	s.auditSignIn(r, u, email, "login.locked", "sign-in refused: this email is locked from this address", false, nil)
	return true, nil
}

// auditSignIn audits a sign-in event of the account u, or of email when it
// has no account (u is zero), in each organization of the account. With no
// organization to show it to, the row goes under NoOrgAudit. So an unknown
// email costs what a known one costs, a memberships query and an audit
// write, as it costs a password hash (Hasher.DummyVerify): neither the
// answer nor the work done tells which emails have accounts. (Only the
// number of audit rows differs, one per organization of the account.)
func (s *Handler) auditSignIn(r *http.Request, u roomhub.User, email, action, desc string, ok bool, extra map[string]any) {
	ms, err := s.accounts.ListMemberships(r.Context(), u.ID)
	if err != nil {
		s.log.Error("audit: list memberships failed", "err", err)
		return
	}
	if len(ms) == 0 {
		if extra == nil {
			extra = map[string]any{}
		}
		extra["email"] = email
		objID := email
		if u.ID != 0 {
			objID = strconv.FormatInt(u.ID, 10)
		}
		s.AuditAs(r, NoOrgAudit, u, action, "user", objID, desc, ok, extra)
		return
	}
	for _, m := range ms {
		s.AuditAs(r, m.OrgID, u, action, "user", strconv.FormatInt(u.ID, 10), desc, ok, extra)
	}
}

// loginFailed records a failed password step: it counts toward the lock,
// is audited, and answers with the same message whatever went wrong. An
// unknown email takes the same path as a known one.
func (s *Handler) loginFailed(w http.ResponseWriter, r *http.Request, email string, u roomhub.User, why string, again func(int, string)) {
	a, err := s.accounts.RecordLoginFailure(r.Context(), email, web.StateOf(r).IP.String(), s.cfg.LockoutLimit, s.cfg.LockoutDuration, s.clock.Now())
	if err != nil {
		s.Fail(w, r, err)
		return
	}
	s.obs.LoginFailed()
	s.Security(r, "login_failed", "email", email, "reason", why, "failures", a.Failures)
	extra := map[string]any{"reason": why, "failures": a.Failures}
	s.auditSignIn(r, u, email, "login.failed", "sign-in failed: "+why, false, extra)
	if !a.LockedUntil.IsZero() && a.Failures == s.cfg.LockoutLimit {
		s.obs.Lockout()
		s.Security(r, "login_lockout", "email", email, "until", a.LockedUntil)
		s.auditSignIn(r, u, email, "login.lockout", "locked after "+strconv.Itoa(a.Failures)+" failed sign-ins from this address", false, extra)
		again(http.StatusTooManyRequests, lockedMessage)
		return
	}
	again(http.StatusUnauthorized, errBadLogin.Message)
}

// codeFailed records a wrong second-factor code three ways before it
// answers: toward the (email, IP) lock, like a wrong password; toward the
// account's own second-factor lock (MaxSecondFactorFailures from any
// addresses); and against this pending sign-in (MaxPendingCodeFailures).
// Reaching any of the three ends the pending sign-in, so the password step
// comes again. restart answers on the sign-in page.
func (s *Handler) codeFailed(w http.ResponseWriter, r *http.Request, us *web.SignIn, again, restart func(int, string)) {
	ctx, u, now := r.Context(), us.User, s.clock.Now()
	pair, err := s.accounts.RecordLoginFailure(ctx, u.Email, web.StateOf(r).IP.String(), s.cfg.LockoutLimit, s.cfg.LockoutDuration, now)
	if err != nil {
		s.Fail(w, r, err)
		return
	}
	acct, err := s.accounts.RecordLoginFailure(ctx, u.Email, secondFactorKey, MaxSecondFactorFailures, s.cfg.LockoutDuration, now)
	if err != nil {
		s.Fail(w, r, err)
		return
	}
	n, err := s.accounts.RecordCodeFailure(ctx, us.Sess.ID)
	switch {
	case roomhub.ErrorCode(err) == roomhub.ENOTFOUND:
		n = MaxPendingCodeFailures // ended meanwhile by a concurrent wrong code
	case err != nil:
		s.Fail(w, r, err)
		return
	}
	lockedNow := func(a roomhub.LoginAttempts) bool { return !a.LockedUntil.IsZero() && now.Before(a.LockedUntil) }
	s.obs.LoginFailed()
	s.Security(r, "login_failed", "email", u.Email, "reason", "wrong code", "failures", pair.Failures,
		"account_failures", acct.Failures, "session_failures", n)
	extra := map[string]any{"reason": "wrong code", "failures": pair.Failures, "account_failures": acct.Failures, "session_failures": n}
	s.auditSignIn(r, u, u.Email, "login.failed", "sign-in failed: wrong code", false, extra)
	switch {
	case lockedNow(acct):
		s.obs.Lockout()
		s.Security(r, "second_factor_lockout", "user", u.ID, "until", acct.LockedUntil)
		s.auditSignIn(r, u, u.Email, "2fa.lockout", "second factor locked after "+strconv.Itoa(acct.Failures)+" wrong codes from any address", false, nil)
		s.endPending(w, r, us)
		restart(http.StatusTooManyRequests, secondFactorLocked)
	case lockedNow(pair):
		if pair.Failures == s.cfg.LockoutLimit {
			s.obs.Lockout()
			s.Security(r, "login_lockout", "email", u.Email, "until", pair.LockedUntil)
			s.auditSignIn(r, u, u.Email, "login.lockout", "locked after "+strconv.Itoa(pair.Failures)+" failed sign-ins from this address", false, extra)
		}
		s.endPending(w, r, us)
		restart(http.StatusTooManyRequests, lockedMessage)
	case n >= MaxPendingCodeFailures:
		s.Security(r, "pending_signin_ended", "user", u.ID, "session_failures", n)
		s.auditSignIn(r, u, u.Email, "2fa.pending_ended", "sign-in ended after "+strconv.Itoa(n)+" wrong codes; the password is needed again", false, extra)
		s.endPending(w, r, us)
		restart(http.StatusUnauthorized, pendingEndedMessage)
	default:
		again(http.StatusUnauthorized, "That code is not valid. Codes work once; wait for the next one.")
	}
}

// pendingUser returns the signed-in user of a session that passed the
// first factor but not yet the second.
func (s *Handler) pendingUser(w http.ResponseWriter, r *http.Request) (*web.SignIn, bool) {
	us, err := s.currentUser(r)
	if err != nil {
		s.Fail(w, r, err)
		return nil, false
	}
	if us == nil {
		s.Redirect(w, r, "/login")
		return nil, false
	}
	if us.Sess.Verified {
		s.Redirect(w, r, "/dashboard/")
		return nil, false
	}
	return us, true
}

func (s *Handler) twoFactorPage(w http.ResponseWriter, r *http.Request) error {
	us, ok := s.pendingUser(w, r)
	if !ok {
		return nil
	}
	if !us.User.Enrolled() {
		s.Redirect(w, r, "/2fa/enrol")
		return nil
	}
	s.DashPage(w, r, http.StatusOK, ui.PageTwoFactor, "", ui.Page{})
	return nil
}

// twoFactor checks a TOTP code (each 30-second step is accepted once) or a
// backup code (each works once). Failures count toward the (email, IP) lock
// like wrong passwords, toward the account's second-factor lock, and
// against the pending sign-in (codeFailed), so the six digits cannot be
// brute-forced.
func (s *Handler) twoFactor(w http.ResponseWriter, r *http.Request) error {
	us, ok := s.pendingUser(w, r)
	if !ok {
		return nil
	}
	u := us.User
	again := func(code int, msg string) {
		s.DashPage(w, r, code, ui.PageTwoFactor, "", ui.Page{FormError: msg})
	}
	if !u.Enrolled() {
		s.Redirect(w, r, "/2fa/enrol")
		return nil
	}
	restart := func(code int, msg string) {
		s.DashPage(w, r, code, ui.PageLogin, "", ui.Page{FormError: msg, Data: loginData{Email: u.Email, SSO: s.ssoProviders()}})
	}
	ip := web.StateOf(r).IP.String()
	if locked, err := s.locked(r, u.Email, ip); err != nil {
		return err
	} else if locked {
		s.endPending(w, r, us)
		restart(http.StatusTooManyRequests, lockedMessage)
		return nil
	}
	acct, err := s.accounts.LoginAttempts(r.Context(), u.Email, secondFactorKey)
	if err != nil {
		return err
	}
	if !acct.LockedUntil.IsZero() && s.clock.Now().Before(acct.LockedUntil) {
		s.endPending(w, r, us)
		restart(http.StatusTooManyRequests, secondFactorLocked)
		return nil
	}
	code := strings.TrimSpace(r.PostFormValue("code"))
	method, passed := "", false
	if len(code) == 6 {
		method = "totp"
		secret, err := s.box.Open(u.TOTPSecret, totpAAD(u.ID))
		if err != nil {
			return &roomhub.Error{Code: roomhub.EINTERNAL, Message: "2FA secret unreadable", Err: err}
		}
		if step, valid := account.ValidateTOTP(secret, code, s.clock.Now()); valid {
			passed, err = s.accounts.UseTOTPStep(r.Context(), u.ID, step)
			if err != nil {
				return err
			}
			if !passed {
				s.Security(r, "totp_replay", "user", u.ID)
				s.auditUserOrgs(r, u, "2fa.replay", "a TOTP code was used a second time", false, nil)
			}
		}
	} else if code != "" {
		method = "backup_code"
		var err error
		passed, err = s.accounts.UseBackupCode(r.Context(), u.ID, account.HashBackupCode(code))
		if err != nil {
			return err
		}
	}
	if !passed {
		s.codeFailed(w, r, us, again, restart)
		return nil
	}
	for _, key := range []string{ip, secondFactorKey} {
		if _, err := s.accounts.ClearLoginAttempts(r.Context(), u.Email, key); err != nil {
			return err
		}
	}
	if err := s.startUserSession(w, r, u.ID, true); err != nil {
		return err
	}
	extra := map[string]any{"method": method}
	if method == "backup_code" {
		left, _ := s.accounts.UnusedBackupCodes(r.Context(), u.ID)
		extra["backup_codes_left"] = left
	}
	s.auditUserOrgs(r, u, "login", "signed in", true, extra)
	s.Redirect(w, r, "/dashboard/")
	return nil
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

func (s *Handler) enrolPage(w http.ResponseWriter, r *http.Request) error {
	us, ok := s.pendingUser(w, r)
	if !ok {
		return nil
	}
	if us.User.Enrolled() {
		s.Redirect(w, r, "/login/2fa")
		return nil
	}
	s.renderEnrol(w, r, us, http.StatusOK, "", "")
	return nil
}

func (s *Handler) renderEnrol(w http.ResponseWriter, r *http.Request, us *web.SignIn, code int, secret, msg string) {
	e, err := account.NewTOTP("Roomhub", us.User.Email)
	if secret != "" {
		e, err = account.TOTPFromSecret("Roomhub", us.User.Email, secret)
	}
	if err != nil {
		s.Fail(w, r, err)
		return
	}
	sealed, err := s.box.Seal(e.Secret, enrolAAD(us.Sess.ID))
	if err != nil {
		s.Fail(w, r, err)
		return
	}
	s.DashPage(w, r, code, ui.PageEnrol, "", ui.Page{FormError: msg, Data: enrolData{Secret: e.Secret, PNG: e.PNG, Sealed: sealed}})
}

// enrol completes TOTP enrolment: the code proves the app holds the secret.
// The session is then rotated to a verified one and the backup codes are
// shown, once.
func (s *Handler) enrol(w http.ResponseWriter, r *http.Request) error {
	us, ok := s.pendingUser(w, r)
	if !ok {
		return nil
	}
	u := us.User
	if u.Enrolled() {
		s.Redirect(w, r, "/login/2fa")
		return nil
	}
	secret, err := s.box.Open(r.PostFormValue("enrolment"), enrolAAD(us.Sess.ID))
	if err != nil {
		s.Security(r, "enrolment_tampered", "user", u.ID)
		return roomhub.Errorf(roomhub.EINVALID, "The enrolment form expired. Reload the page and scan the new code.")
	}
	step, valid := account.ValidateTOTP(secret, r.PostFormValue("code"), s.clock.Now())
	if !valid {
		s.renderEnrol(w, r, us, http.StatusBadRequest, secret, "That code does not match. Check the time on your device and enter the current code.")
		return nil
	}
	sealed, err := s.box.Seal(secret, totpAAD(u.ID))
	if err != nil {
		return err
	}
	codes, hashes := account.NewBackupCodes()
	if err := s.accounts.SetTOTP(r.Context(), u.ID, sealed, hashes); err != nil {
		return err
	}
	if _, err := s.accounts.UseTOTPStep(r.Context(), u.ID, step); err != nil {
		return err
	}
	if err := s.startUserSession(w, r, u.ID, true); err != nil {
		return err
	}
	s.auditUserOrgs(r, u, "2fa.enrol", "two-factor authentication turned on", true, nil)
	s.auditUserOrgs(r, u, "login", "signed in", true, map[string]any{"method": "enrolment"})
	s.DashPage(w, r, http.StatusOK, ui.PageBackupCodes, "", ui.Page{Data: codes})
	return nil
}

// logout ends this session; logoutAll ends every session of the user.
func (s *Handler) logout(w http.ResponseWriter, r *http.Request) error {
	if us, err := s.currentUser(r); err == nil && us != nil {
		s.accounts.DeleteUserSession(r.Context(), us.Sess.ID)
		s.auditUserOrgs(r, us.User, "logout", "signed out", true, nil)
	}
	s.ClearUserCookie(w)
	s.Redirect(w, r, "/login")
	return nil
}

func (s *Handler) logoutAll(w http.ResponseWriter, r *http.Request) error {
	u := web.StateOf(r).User.User
	n, err := s.accounts.DeleteUserSessions(r.Context(), u.ID)
	if err != nil {
		return err
	}
	s.auditUserOrgs(r, u, "logout.everywhere", "signed out of every session", true, map[string]any{"sessions": n})
	s.ClearUserCookie(w)
	s.Redirect(w, r, "/login")
	return nil
}

type inviteData struct {
	OrgName, Email, Role, Name, Path string
	// SignedIn is true when the visitor is signed in (both factors) as the
	// invited email: they join with one click. Every other visitor sees one
	// page, whether or not the email has an account.
	SignedIn bool
}

// errBadLink is the one answer to a link that is wrong, used, expired, or
// no longer backed by its issuer.
var errBadLink = roomhub.Errorf(roomhub.ENOTFOUND, "This link is not valid. It may have expired or been used already.")

// invitation loads the link a request names and checks it is still backed
// by its issuer (linkRefusal); a wrong, used, expired or refused token is
// one 404.
func (s *Handler) invitation(w http.ResponseWriter, r *http.Request, kind roomhub.TokenKind) (roomhub.UserToken, bool) {
	tok := chi.URLParam(r, "token")
	if !account.ValidTokenFormat(tok) {
		s.Fail(w, r, errBadLink)
		return roomhub.UserToken{}, false
	}
	t, err := s.accounts.UserTokenByHash(r.Context(), kind, account.HashToken(tok), s.clock.Now())
	if err != nil {
		if roomhub.ErrorCode(err) == roomhub.ENOTFOUND {
			s.Security(r, "bad_link_token", "kind", string(kind))
			err = errBadLink
		}
		s.Fail(w, r, err)
		return roomhub.UserToken{}, false
	}
	why, err := s.linkRefusal(r.Context(), t)
	if err != nil {
		s.Fail(w, r, err)
		return roomhub.UserToken{}, false
	}
	if why != "" {
		// Spent, so that it cannot come back to life when the rights do.
		if _, err := s.accounts.UseUserToken(r.Context(), t.ID, s.clock.Now()); err != nil {
			s.log.Error("refused link not spent", "token", t.ID, "err", err)
		}
		s.Security(r, "link_refused", "kind", string(kind), "org", t.OrgID, "why", why)
		action, objType, objID := "invitation.accept.denied", "invitation", strconv.FormatInt(t.ID, 10)
		if kind == roomhub.TokenReset {
			action, objType, objID = "password.change.denied", "user", strconv.FormatInt(t.UserID, 10)
		}
		s.AuditAs(r, t.OrgID, roomhub.User{}, action, objType, objID, "link refused: "+why, false,
			map[string]any{"email": t.Email, "issuer": t.CreatedBy, "token": t.ID})
		s.Fail(w, r, errBadLink)
		return roomhub.UserToken{}, false
	}
	return t, true
}

// linkRefusal checks again, when a link is used, what was checked when it
// was made: its issuer's rights may have changed since. RevokeTokensIssuedBy
// spends an issuer's links when they drop below admin or leave; this covers
// the rest, such as an owner made admin who still holds an owner invitation,
// or an account that joined another organization after its reset link was
// made. It returns why the link is refused, "" if it is not. A link with no
// issuer (CreatedBy 0) was made by the operator's CLI and stands as made.
func (s *Handler) linkRefusal(ctx context.Context, t roomhub.UserToken) (string, error) {
	if t.CreatedBy == 0 {
		return "", nil
	}
	issuer, err := s.accounts.Membership(ctx, t.OrgID, t.CreatedBy)
	if roomhub.ErrorCode(err) == roomhub.ENOTFOUND {
		return "its issuer is no longer a member of the organization", nil
	}
	if err != nil {
		return "", err
	}
	switch t.Kind {
	case roomhub.TokenInvite:
		if !issuer.Role.CanManage() || !account.MayAssign(issuer.Role, t.Role) {
			return "its issuer, now " + string(issuer.Role) + ", may no longer give the role " + string(t.Role), nil
		}
		return "", nil
	case roomhub.TokenReset:
		target, err := s.accounts.Membership(ctx, t.OrgID, t.UserID)
		if roomhub.ErrorCode(err) == roomhub.ENOTFOUND {
			return "the account is no longer a member of the organization", nil
		}
		if err != nil {
			return "", err
		}
		all, err := s.accounts.ListMemberships(ctx, t.UserID)
		if err != nil {
			return "", err
		}
		why, _ := account.ResetRefusal(issuer, target, all)
		return why, nil
	}
	return "unknown kind of link", nil
}

func (s *Handler) invitePage(w http.ResponseWriter, r *http.Request) error {
	t, ok := s.invitation(w, r, roomhub.TokenInvite)
	if !ok {
		return nil
	}
	s.renderInvite(w, r, t, http.StatusOK, "", "")
	return nil
}

// renderInvite shows an invitation. What it shows does not depend on
// whether the invited email has an account: only a visitor signed in as
// that email sees something else (a Join button).
func (s *Handler) renderInvite(w http.ResponseWriter, r *http.Request, t roomhub.UserToken, code int, name, msg string) {
	org, err := s.accounts.OrgByID(r.Context(), t.OrgID)
	if err != nil {
		s.Fail(w, r, err)
		return
	}
	d := inviteData{OrgName: org.Name, Email: t.Email, Role: string(t.Role), Name: name, Path: r.URL.Path}
	if us, _ := s.currentUser(r); us != nil && us.Sess.Verified && us.User.Email == t.Email {
		d.SignedIn = true
	}
	s.DashPage(w, r, code, ui.PageInvite, "", ui.Page{FormError: msg, Data: d})
}

// acceptInvite adds the signed-in invited account to the organization, or
// creates the invited account (name and password). The token works once.
//
// An invitation never changes an existing account: its password is set
// only by its owner or a reset link. Whoever holds the link and is not
// signed in as the email gets the account form; the email is looked up
// only once the form is valid, and an existing account is refused (409)
// without spending the link. That answer does tell the link's holder that
// the account exists: it is the one place, and it cannot be avoided, since
// for an email without an account the same form creates one.
func (s *Handler) acceptInvite(w http.ResponseWriter, r *http.Request) error {
	t, ok := s.invitation(w, r, roomhub.TokenInvite)
	if !ok {
		return nil
	}
	if us, _ := s.currentUser(r); us != nil && us.Sess.Verified && us.User.Email == t.Email {
		if !s.useToken(w, r, t) {
			return nil
		}
		if err := s.accounts.AddMembership(r.Context(), t.OrgID, us.User.ID, t.Role); err != nil {
			return err
		}
		s.AuditAs(r, t.OrgID, us.User, "invitation.accept", "user", strconv.FormatInt(us.User.ID, 10), "joined as "+string(t.Role), true, nil)
		s.Redirect(w, r, "/dashboard/")
		return nil
	}
	name, err := roomhub.NormalizeName(r.PostFormValue("name"))
	if err != nil {
		s.renderInvite(w, r, t, http.StatusBadRequest, r.PostFormValue("name"), roomhub.ErrorMessage(err))
		return nil
	}
	pw := r.PostFormValue("password")
	if err := s.policy.Check(pw, t.Email, name); err != nil {
		s.renderInvite(w, r, t, http.StatusBadRequest, name, roomhub.ErrorMessage(err))
		return nil
	}
	hash, err := account.HashPassword(pw)
	if err != nil {
		return err
	}
	exists := func() {
		s.Security(r, "invite_existing_account", "org", t.OrgID)
		s.AuditAs(r, t.OrgID, roomhub.User{}, "invitation.accept.denied", "invitation", strconv.FormatInt(t.ID, 10),
			"an account for the invited email exists; the link does not set its password", false, map[string]any{"email": t.Email})
		s.renderInvite(w, r, t, http.StatusConflict, name,
			"An account for "+t.Email+" already exists. Sign in as "+t.Email+", then open this link again to join.")
	}
	switch _, err := s.accounts.UserByEmail(r.Context(), t.Email); {
	case err == nil:
		exists()
		return nil
	case roomhub.ErrorCode(err) != roomhub.ENOTFOUND:
		return err
	}
	if !s.useToken(w, r, t) {
		return nil
	}
	u, err := s.accounts.CreateUser(r.Context(), roomhub.User{Email: t.Email, Name: name, PasswordHash: hash, CreatedAt: s.clock.Now()})
	if roomhub.ErrorCode(err) == roomhub.ECONFLICT {
		exists() // created meanwhile; this link is spent
		return nil
	}
	if err != nil {
		return err
	}
	if err := s.accounts.AddMembership(r.Context(), t.OrgID, u.ID, t.Role); err != nil {
		return err
	}
	s.AuditAs(r, t.OrgID, u, "user.create", "user", strconv.FormatInt(u.ID, 10), "account created from an invitation as "+string(t.Role), true, nil)
	if err := s.startUserSession(w, r, u.ID, false); err != nil {
		return err
	}
	s.Redirect(w, r, "/2fa/enrol")
	return nil
}

// useToken spends a one-time token; a second use (a race) is refused.
func (s *Handler) useToken(w http.ResponseWriter, r *http.Request, t roomhub.UserToken) bool {
	ok, err := s.accounts.UseUserToken(r.Context(), t.ID, s.clock.Now())
	if err != nil {
		s.Fail(w, r, err)
		return false
	}
	if !ok {
		s.Fail(w, r, errBadLink)
		return false
	}
	return true
}

type resetData struct{ Email, Path string }

func (s *Handler) resetPage(w http.ResponseWriter, r *http.Request) error {
	t, ok := s.invitation(w, r, roomhub.TokenReset)
	if !ok {
		return nil
	}
	s.DashPage(w, r, http.StatusOK, ui.PageReset, "", ui.Page{Data: resetData{Email: t.Email, Path: r.URL.Path}})
	return nil
}

// reset sets a new password from a reset link and signs the user out
// everywhere; the second factor is untouched.
func (s *Handler) reset(w http.ResponseWriter, r *http.Request) error {
	t, ok := s.invitation(w, r, roomhub.TokenReset)
	if !ok {
		return nil
	}
	u, err := s.accounts.UserByID(r.Context(), t.UserID)
	if err != nil {
		return err
	}
	pw := r.PostFormValue("password")
	if err := s.policy.Check(pw, u.Email, u.Name); err != nil {
		s.DashPage(w, r, http.StatusBadRequest, ui.PageReset, "", ui.Page{FormError: roomhub.ErrorMessage(err), Data: resetData{Email: t.Email, Path: r.URL.Path}})
		return nil
	}
	hash, err := account.HashPassword(pw)
	if err != nil {
		return err
	}
	if !s.useToken(w, r, t) {
		return nil
	}
	if err := s.accounts.SetPassword(r.Context(), u.ID, hash); err != nil {
		return err
	}
	s.accounts.DeleteUserSessions(r.Context(), u.ID)
	s.auditUserOrgs(r, u, "password.change", "password set from a reset link; every session signed out", true, nil)
	s.ClearUserCookie(w)
	s.Redirect(w, r, "/login")
	return nil
}
