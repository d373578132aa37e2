// Package dashboard serves an organization's administration pages: its
// home, settings (Agora credentials, video moderation, SSO domain), users and invitations,
// API keys, the audit log and webhooks. Live rooms, history and moderation
// are the live package's.
package dashboard

import (
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"roomhub"
	"roomhub/account"
	"roomhub/clock"
	"roomhub/config"
	"roomhub/secret"
	"roomhub/server/web"
	"roomhub/ui"
	"roomhub/video"
)

// Limits of the dashboard forms.
const (
	MaxKeyNameLen   = account.MaxKeyNameLen
	MaxSSODomainLen = 253
	MaxAuditFilter  = 254 // characters of a text filter
	AuditPageSize   = 50
	MaxAuditExport  = 100000 // rows in one CSV export
)

// Handler serves the administration pages.
type Handler struct {
	*web.Kit
	cfg      config.Config
	accounts Accounts
	box      *secret.Box
	video    *video.Service
	// defaultOrg is the organization on the server's own Agora project.
	defaultOrg roomhub.Org
	clock      clock.Clock
	log        *slog.Logger
}

// Accounts is what the administration pages use of the accounts: every
// concern but sign-in lockouts.
type Accounts interface {
	roomhub.Orgs
	roomhub.Users
	roomhub.SecondFactors
	roomhub.Memberships
	roomhub.UserTokens
	roomhub.UserSessions
	roomhub.APIKeys
	roomhub.AuditLog
}

// Deps are what the administration pages read and change.
type Deps struct {
	Accounts Accounts
	// Box seals the organization's Agora certificate, Agora REST and
	// notification secrets and webhook secrets.
	Box *secret.Box
	// Video is nil when the server does not moderate Agora channels; the
	// Settings page then says so.
	Video *video.Service
	// DefaultOrg is the organization served at "/", on the server's own
	// Agora project.
	DefaultOrg roomhub.Org
}

// New returns the administration pages' handler.
func New(kit *web.Kit, d Deps) *Handler {
	return &Handler{Kit: kit, cfg: kit.Config(), accounts: d.Accounts, box: d.Box, video: d.Video, defaultOrg: d.DefaultOrg,
		clock: kit.Clock(), log: kit.Log()}
}

// Mount mounts the organization's dashboard pages under /dashboard/{org}/;
// the caller has resolved the organization and the user's role (web.DashOrg).
func (s *Handler) Mount(r chi.Router) {
	r.Get("/", s.Handle(s.orgHome))
	r.Get("/settings", s.Handle(s.settingsPage))
	r.Get("/users", s.Handle(s.usersPage))
	r.Get("/keys", s.Handle(s.keysPage))
	r.Get("/audit", s.Handle(s.auditPage))
	r.Get("/audit.csv", s.Handle(s.auditCSV))
	r.Group(func(r chi.Router) {
		r.Use(s.RequireManage)
		r.Post("/settings/agora", s.Handle(s.saveAgora))
		r.Post("/settings/video", s.Handle(s.saveVideo))
		r.Post("/settings/sso", s.Handle(s.saveSSO))
		r.Post("/invitations", s.Handle(s.createInvitation))
		r.Post("/invitations/{id}/revoke", s.Handle(s.revokeInvitation))
		r.Post("/users/{id}/role", s.Handle(s.setRole))
		r.Post("/users/{id}/remove", s.Handle(s.removeUser))
		r.Post("/users/{id}/reset-2fa", s.Handle(s.resetTwoFactor))
		r.Post("/users/{id}/reset-password", s.Handle(s.resetPasswordLink))
		keyOps := s.LimitBy("api_key_ops", web.LimitKeyOps, func(r *http.Request) string {
			return strconv.FormatInt(web.StateOf(r).User.User.ID, 10)
		})
		r.With(keyOps).Post("/keys", s.Handle(s.createKey))
		r.With(keyOps).Post("/keys/{id}/revoke", s.Handle(s.revokeKey))
	})
	// Webhooks (webhooks.go): everyone reads the endpoints and the
	// delivery log; owners and admins add, delete and test endpoints
	// (RequireManage: viewers get 404), at most LimitWebhookOps per user.
	r.Get("/webhooks", s.Handle(s.webhooksPage))
	r.Group(func(r chi.Router) {
		r.Use(s.RequireManage)
		hookOps := s.LimitBy("webhook_ops", web.LimitWebhookOps, func(r *http.Request) string {
			return strconv.FormatInt(web.StateOf(r).User.User.ID, 10)
		})
		r.With(hookOps).Post("/webhooks", s.Handle(s.createWebhook))
		r.With(hookOps).Post("/webhooks/{id}/delete", s.Handle(s.deleteWebhook))
		r.With(hookOps).Post("/webhooks/{id}/test", s.Handle(s.testWebhook))
	})
}

// Home lists the organizations of the signed-in user.
func (s *Handler) Home(w http.ResponseWriter, r *http.Request) {
	ms, err := s.accounts.ListMemberships(r.Context(), web.StateOf(r).User.User.ID)
	if err != nil {
		s.Fail(w, r, err)
		return
	}
	s.DashPage(w, r, http.StatusOK, ui.PageOrgs, "orgs", ui.Page{Data: ms})
}

func (s *Handler) orgHome(w http.ResponseWriter, r *http.Request) error {
	s.Redirect(w, r, "/dashboard/"+web.StateOf(r).Dash.Org.Slug+"/live")
	return nil
}

// Settings.

type settingsData struct {
	Settings roomhub.OrgSettings
	Video    videoSettings
}

func (s *Handler) settingsPage(w http.ResponseWriter, r *http.Request) error {
	s.renderSettings(w, r, http.StatusOK, "", "")
	return nil
}

func (s *Handler) renderSettings(w http.ResponseWriter, r *http.Request, code int, flash, formErr string) {
	set, err := s.accounts.OrgSettings(r.Context(), web.StateOf(r).Dash.Org.ID)
	if err != nil {
		s.Fail(w, r, err)
		return
	}
	vs, err := s.readVideoSettings(r.Context(), web.StateOf(r).Dash.Org)
	if err != nil {
		s.Fail(w, r, err)
		return
	}
	s.DashPage(w, r, code, ui.PageSettings, "settings", ui.Page{Flash: flash, FormError: formErr, Data: settingsData{Settings: set, Video: vs}})
}

// agoraHex reports whether v is an Agora App ID or certificate: 32 hex digits.
func agoraHex(v string) bool {
	if len(v) != 32 {
		return false
	}
	_, err := hex.DecodeString(v)
	return err == nil
}

// saveAgora sets the organization's own Agora credentials. The certificate
// is sealed with APP_MASTER_KEY bound to this organization's row, and never
// rendered again; an empty certificate keeps the stored one.
func (s *Handler) saveAgora(w http.ResponseWriter, r *http.Request) error {
	org := web.StateOf(r).Dash.Org
	appID := strings.TrimSpace(r.PostFormValue("app_id"))
	cert := strings.TrimSpace(r.PostFormValue("certificate"))
	set, err := s.accounts.OrgSettings(r.Context(), org.ID)
	if err != nil {
		return err
	}
	action := "credentials.update"
	switch {
	case appID == "" && cert == "":
		set.AgoraAppID, set.AgoraCertificate = "", ""
		action = "credentials.clear"
	case !agoraHex(appID):
		s.renderSettings(w, r, http.StatusBadRequest, "", "The App ID is 32 hexadecimal characters, as shown in the Agora console.")
		return nil
	case cert == "" && set.AgoraCertificate == "":
		s.renderSettings(w, r, http.StatusBadRequest, "", "Enter the App certificate too.")
		return nil
	case cert != "" && !agoraHex(cert):
		s.renderSettings(w, r, http.StatusBadRequest, "", "The App certificate is 32 hexadecimal characters, as shown in the Agora console.")
		return nil
	default:
		set.AgoraAppID = strings.ToLower(appID)
		if cert != "" {
			sealed, err := s.box.Seal(strings.ToLower(cert), agoraAAD(org.ID))
			if err != nil {
				return err
			}
			set.AgoraCertificate = sealed
		}
	}
	set.OrgID, set.UpdatedAt = org.ID, s.clock.Now()
	if err := s.accounts.SaveOrgSettings(r.Context(), set); err != nil {
		return err
	}
	s.AuditHere(r, action, "org", org.Slug, "Agora credentials changed", true, map[string]any{"app_id": set.AgoraAppID, "certificate_changed": cert != ""})
	s.renderSettings(w, r, http.StatusOK, "Video credentials saved.", "")
	return nil
}

// agoraAAD binds a sealed Agora certificate to its organization's row.
func agoraAAD(orgID int64) string {
	return secret.AAD(roomhub.SealedSecret{Table: "org_settings", Column: "agora_certificate", ID: orgID})
}

// saveSSO sets the organization's SSO email domain and whether first-time
// SSO users join it. A changed domain loses its verification: only an
// operator verifies one (roomhub org verify-domain), so an organization
// cannot claim someone else's domain and capture its users.
func (s *Handler) saveSSO(w http.ResponseWriter, r *http.Request) error {
	org := web.StateOf(r).Dash.Org
	domain := strings.ToLower(strings.TrimSpace(r.PostFormValue("sso_domain")))
	if domain != "" && !validDomain(domain) {
		s.renderSettings(w, r, http.StatusBadRequest, "", "Enter a domain name like example.com.")
		return nil
	}
	set, err := s.accounts.OrgSettings(r.Context(), org.ID)
	if err != nil {
		return err
	}
	if domain != set.SSODomain {
		set.SSODomainVerified = false
	}
	set.OrgID, set.SSODomain, set.SSOAutoProvision, set.UpdatedAt = org.ID, domain, r.PostFormValue("auto_provision") == "1", s.clock.Now()
	if err := s.accounts.SaveOrgSettings(r.Context(), set); err != nil {
		return err
	}
	s.AuditHere(r, "settings.sso", "org", org.Slug, "sign-on settings changed", true, map[string]any{"domain": domain, "auto_provision": set.SSOAutoProvision})
	s.renderSettings(w, r, http.StatusOK, "Sign-on settings saved.", "")
	return nil
}

func validDomain(d string) bool {
	if len(d) > MaxSSODomainLen || !strings.Contains(d, ".") {
		return false
	}
	for _, label := range strings.Split(d, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// Users and invitations.

type usersData struct {
	Users       []roomhub.Membership
	Invitations []roomhub.UserToken
	Link        string // a one-time link just created
	LinkLabel   string
}

func (s *Handler) usersPage(w http.ResponseWriter, r *http.Request) error {
	s.renderUsers(w, r, http.StatusOK, "", "", usersData{})
	return nil
}

func (s *Handler) renderUsers(w http.ResponseWriter, r *http.Request, code int, flash, formErr string, d usersData) {
	org := web.StateOf(r).Dash.Org
	var err error
	if d.Users, err = s.accounts.ListOrgUsers(r.Context(), org.ID); err != nil {
		s.Fail(w, r, err)
		return
	}
	if d.Invitations, err = s.accounts.ListInvitations(r.Context(), org.ID, s.clock.Now()); err != nil {
		s.Fail(w, r, err)
		return
	}
	s.DashPage(w, r, code, ui.PageUsers, "users", ui.Page{Flash: flash, FormError: formErr, Data: d})
}

func (s *Handler) createInvitation(w http.ResponseWriter, r *http.Request) error {
	st := web.StateOf(r)
	email, err := account.NormalizeEmail(r.PostFormValue("email"))
	if err != nil {
		s.renderUsers(w, r, http.StatusBadRequest, "", roomhub.ErrorMessage(err), usersData{})
		return nil
	}
	role := roomhub.Role(r.PostFormValue("role"))
	if !account.MayAssign(st.Dash.M.Role, role) {
		s.AuditHere(r, "invitation.create.denied", "invitation", email, "role "+web.Truncate(string(role), 20)+" may not be given by "+string(st.Dash.M.Role), false, nil)
		s.renderUsers(w, r, http.StatusBadRequest, "", "Choose a role you are allowed to give.", usersData{})
		return nil
	}
	if u, err := s.accounts.UserByEmail(r.Context(), email); err == nil {
		if _, err := s.accounts.Membership(r.Context(), st.Dash.Org.ID, u.ID); err == nil {
			s.renderUsers(w, r, http.StatusConflict, "", email+" is already a member.", usersData{})
			return nil
		}
	}
	link, err := account.IssueInvitation(r.Context(), s.accounts, s.clock.Now(), s.cfg.InviteTTL, s.PublicURL(r), st.Dash.Org.ID, email, role, st.User.User.ID)
	if err != nil {
		return err
	}
	s.AuditHere(r, "invitation.create", "invitation", email, "invited as "+string(role), true, map[string]any{"role": string(role)})
	s.renderUsers(w, r, http.StatusOK, "", "", usersData{Link: link, LinkLabel: "Send this invitation link to " + email + "."})
	return nil
}

func (s *Handler) revokeInvitation(w http.ResponseWriter, r *http.Request) error {
	id, err := web.IDParam(r, "id")
	if err == nil {
		err = s.accounts.RevokeInvitation(r.Context(), web.StateOf(r).Dash.Org.ID, id)
	}
	if err != nil {
		s.NotFoundHere(w, r, "invitation.revoke", "invitation", chi.URLParam(r, "id"), err)
		return nil
	}
	s.AuditHere(r, "invitation.revoke", "invitation", strconv.FormatInt(id, 10), "invitation revoked", true, nil)
	s.renderUsers(w, r, http.StatusOK, "Invitation revoked.", "", usersData{})
	return nil
}

// target loads the membership a user action is about, in this organization
// only, and checks the actor may act on it: admins cannot touch owners.
func (s *Handler) target(w http.ResponseWriter, r *http.Request, action string) (roomhub.Membership, bool) {
	st := web.StateOf(r)
	id, err := web.IDParam(r, "id")
	var m roomhub.Membership
	if err == nil {
		m, err = s.accounts.Membership(r.Context(), st.Dash.Org.ID, id)
	}
	if err != nil {
		s.NotFoundHere(w, r, action, "user", chi.URLParam(r, "id"), err)
		return m, false
	}
	if m.Role == roomhub.RoleOwner && st.Dash.M.Role != roomhub.RoleOwner {
		s.AuditHere(r, action+".denied", "user", strconv.FormatInt(id, 10), "only an owner may change an owner", false, nil)
		s.renderUsers(w, r, http.StatusForbidden, "", "Only an owner can change an owner.", usersData{})
		return m, false
	}
	return m, true
}

// revokeIssued spends the invitations and reset links m issued in this
// organization: a link outlives neither its issuer's role nor membership.
// (The link pages also check the issuer again when a link is used.)
func (s *Handler) revokeIssued(r *http.Request, m roomhub.Membership) {
	n, err := s.accounts.RevokeTokensIssuedBy(r.Context(), web.StateOf(r).Dash.Org.ID, m.UserID)
	if err != nil {
		s.log.Error("links of a demoted user not revoked", "user", m.UserID, "err", err)
		return
	}
	if n > 0 {
		s.AuditHere(r, "invitation.revoke", "user", strconv.FormatInt(m.UserID, 10),
			strconv.Itoa(n)+" unused links issued by "+m.UserEmail+" revoked with their role", true, map[string]any{"count": n})
	}
}

// ownerChangeFailed answers a role change or removal the store refused. The
// store checks "not the last owner" in the same transaction as the change
// (two owners stepping down at once cannot both succeed), and refuses with
// roomhub.ErrLastOwner: a 409 on the users page, audited.
func (s *Handler) ownerChangeFailed(w http.ResponseWriter, r *http.Request, m roomhub.Membership, err error) {
	if errors.Is(err, roomhub.ErrLastOwner) {
		s.AuditHere(r, "owner.last.denied", "user", strconv.FormatInt(m.UserID, 10), "the last owner cannot be demoted or removed", false, map[string]any{"email": m.UserEmail})
	}
	s.FormError(w, r, err, func(code int, msg string) { s.renderUsers(w, r, code, "", msg, usersData{}) })
}

// setRole changes a member's role. The member is signed out everywhere: a
// session never carries privileges across a change of them.
func (s *Handler) setRole(w http.ResponseWriter, r *http.Request) error {
	st := web.StateOf(r)
	m, ok := s.target(w, r, "permission.change")
	if !ok {
		return nil
	}
	role := roomhub.Role(r.PostFormValue("role"))
	if !account.MayAssign(st.Dash.M.Role, role) {
		s.AuditHere(r, "permission.change.denied", "user", strconv.FormatInt(m.UserID, 10), "role "+web.Truncate(string(role), 20)+" may not be given by "+string(st.Dash.M.Role), false, nil)
		s.renderUsers(w, r, http.StatusBadRequest, "", "Choose a role you are allowed to give.", usersData{})
		return nil
	}
	if role == m.Role {
		s.renderUsers(w, r, http.StatusOK, "Nothing changed.", "", usersData{})
		return nil
	}
	if err := s.accounts.SetRole(r.Context(), st.Dash.Org.ID, m.UserID, role); err != nil {
		s.ownerChangeFailed(w, r, m, err)
		return nil
	}
	s.accounts.DeleteUserSessions(r.Context(), m.UserID)
	if !role.CanManage() {
		s.revokeIssued(r, m)
	}
	s.AuditHere(r, "permission.change", "user", strconv.FormatInt(m.UserID, 10), string(m.Role)+" → "+string(role), true,
		map[string]any{"from": string(m.Role), "to": string(role), "email": m.UserEmail})
	if m.UserID == st.User.User.ID {
		s.ClearUserCookie(w)
		s.Redirect(w, r, "/login")
		return nil
	}
	s.renderUsers(w, r, http.StatusOK, "Role changed; "+m.UserEmail+" must sign in again.", "", usersData{})
	return nil
}

// removeUser ends a membership in this organization, and nothing else: the
// account, its password, second factor and other memberships stay. Its
// sessions are ended only when it has no organization left; otherwise every
// dashboard request (and each live stream, within LiveSessionCheck) checks
// the membership, so signing the person out of their other organizations
// would be an account-wide act this organization may not do.
func (s *Handler) removeUser(w http.ResponseWriter, r *http.Request) error {
	st := web.StateOf(r)
	m, ok := s.target(w, r, "user.remove")
	if !ok {
		return nil
	}
	if err := s.accounts.RemoveMembership(r.Context(), st.Dash.Org.ID, m.UserID); err != nil {
		s.ownerChangeFailed(w, r, m, err)
		return nil
	}
	if rest, err := s.accounts.ListMemberships(r.Context(), m.UserID); err != nil {
		s.log.Error("memberships of a removed user not listed; sessions kept", "user", m.UserID, "err", err)
	} else if len(rest) == 0 {
		s.accounts.DeleteUserSessions(r.Context(), m.UserID)
	}
	s.revokeIssued(r, m)
	s.AuditHere(r, "user.remove", "user", strconv.FormatInt(m.UserID, 10), m.UserEmail+" removed from the organization", true, map[string]any{"email": m.UserEmail})
	if m.UserID == st.User.User.ID {
		s.ClearUserCookie(w)
		s.Redirect(w, r, "/login")
		return nil
	}
	s.renderUsers(w, r, http.StatusOK, m.UserEmail+" was removed.", "", usersData{})
	return nil
}

// mayResetAccount applies account.ResetRefusal to the request. A refusal is
// audited; an account shared with another organization gets the very 404 a
// user who is not in this organization gets (target), so the answer says
// nothing about other organizations.
func (s *Handler) mayResetAccount(w http.ResponseWriter, r *http.Request, m roomhub.Membership, action string) bool {
	st := web.StateOf(r)
	all, err := s.accounts.ListMemberships(r.Context(), m.UserID)
	if err != nil {
		s.Fail(w, r, err)
		return false
	}
	why, hidden := account.ResetRefusal(st.Dash.M, m, all)
	if why == "" {
		return true
	}
	s.Security(r, "account_reset_refused", "org", st.Dash.Org.ID, "user", m.UserID, "why", why)
	s.AuditHere(r, action+".denied", "user", strconv.FormatInt(m.UserID, 10), why, false, map[string]any{"email": m.UserEmail})
	switch {
	case hidden:
		s.Fail(w, r, web.ErrNotFoundHere)
	case m.UserID == st.User.User.ID:
		s.renderUsers(w, r, http.StatusForbidden, "", "You cannot reset your own password or two-factor authentication here. Ask another owner of the organization.", usersData{})
	default:
		s.renderUsers(w, r, http.StatusForbidden, "", "Only an owner can reset an admin's password or two-factor authentication.", usersData{})
	}
	return false
}

// resetTwoFactor removes a member's second factor and backup codes and signs
// them out; they enrol again at their next sign-in.
func (s *Handler) resetTwoFactor(w http.ResponseWriter, r *http.Request) error {
	m, ok := s.target(w, r, "2fa.reset")
	if !ok || !s.mayResetAccount(w, r, m, "2fa.reset") {
		return nil
	}
	if err := s.accounts.SetTOTP(r.Context(), m.UserID, "", nil); err != nil {
		return err
	}
	s.accounts.DeleteUserSessions(r.Context(), m.UserID)
	s.AuditHere(r, "2fa.reset", "user", strconv.FormatInt(m.UserID, 10), "two-factor authentication reset for "+m.UserEmail, true, map[string]any{"email": m.UserEmail})
	if m.UserID == web.StateOf(r).User.User.ID {
		s.ClearUserCookie(w)
		s.Redirect(w, r, "/login")
		return nil
	}
	s.renderUsers(w, r, http.StatusOK, "Two-factor authentication reset for "+m.UserEmail+".", "", usersData{})
	return nil
}

func (s *Handler) resetPasswordLink(w http.ResponseWriter, r *http.Request) error {
	st := web.StateOf(r)
	m, ok := s.target(w, r, "password.reset")
	if !ok || !s.mayResetAccount(w, r, m, "password.reset") {
		return nil
	}
	link, err := account.IssueReset(r.Context(), s.accounts, s.clock.Now(), s.cfg.InviteTTL, s.PublicURL(r), st.Dash.Org.ID, m.UserID, m.UserEmail, st.User.User.ID)
	if err != nil {
		return err
	}
	s.AuditHere(r, "password.reset_link", "user", strconv.FormatInt(m.UserID, 10), "password reset link created for "+m.UserEmail, true, nil)
	s.renderUsers(w, r, http.StatusOK, "", "", usersData{Link: link, LinkLabel: "Send this password reset link to " + m.UserEmail + "."})
	return nil
}

// API keys.

type keysData struct {
	Keys   []roomhub.APIKey
	NewKey string
}

func (s *Handler) keysPage(w http.ResponseWriter, r *http.Request) error {
	s.renderKeys(w, r, http.StatusOK, "", "", "")
	return nil
}

func (s *Handler) renderKeys(w http.ResponseWriter, r *http.Request, code int, flash, formErr, newKey string) {
	keys, err := s.accounts.ListAPIKeys(r.Context(), web.StateOf(r).Dash.Org.ID)
	if err != nil {
		s.Fail(w, r, err)
		return
	}
	s.DashPage(w, r, code, ui.PageKeys, "keys", ui.Page{Flash: flash, FormError: formErr, Data: keysData{Keys: keys, NewKey: newKey}})
}

// createKey makes a key and shows it once; only its HMAC is stored.
func (s *Handler) createKey(w http.ResponseWriter, r *http.Request) error {
	st := web.StateOf(r)
	name := strings.TrimSpace(r.PostFormValue("name"))
	if name == "" || len([]rune(name)) > MaxKeyNameLen {
		s.renderKeys(w, r, http.StatusBadRequest, "", "Give the key a name of 1 to "+strconv.Itoa(MaxKeyNameLen)+" characters.", "")
		return nil
	}
	key, prefix, hash := account.NewAPIKey(s.cfg.APIKeySecret)
	k, err := s.accounts.CreateAPIKey(r.Context(), roomhub.APIKey{OrgID: st.Dash.Org.ID, Name: name, Prefix: prefix, Hash: hash,
		CreatedBy: st.User.User.ID, CreatedAt: s.clock.Now()})
	if err != nil {
		return err
	}
	s.AuditHere(r, "apikey.create", "apikey", strconv.FormatInt(k.ID, 10), "key "+name+" created", true, map[string]any{"prefix": prefix})
	w.Header().Set("Cache-Control", "no-store")
	s.renderKeys(w, r, http.StatusOK, "", "", key)
	return nil
}

func (s *Handler) revokeKey(w http.ResponseWriter, r *http.Request) error {
	id, err := web.IDParam(r, "id")
	if err == nil {
		err = s.accounts.RevokeAPIKey(r.Context(), web.StateOf(r).Dash.Org.ID, id, s.clock.Now())
	}
	if err != nil {
		s.NotFoundHere(w, r, "apikey.revoke", "apikey", chi.URLParam(r, "id"), err)
		return nil
	}
	s.AuditHere(r, "apikey.revoke", "apikey", strconv.FormatInt(id, 10), "key revoked", true, nil)
	s.renderKeys(w, r, http.StatusOK, "Key revoked.", "", "")
	return nil
}

// Audit log.

type auditData struct {
	Action, Actor, Result, Since, Until string
	Entries                             []roomhub.AuditEntry
	// Query (the filters, for the CSV link) and Older (the next page, ""
	// at the end) are query strings built by url.Values: typed as URLs so
	// the template keeps their "=" and "&" (as strings it escaped them, and
	// the export ignored the filters).
	Query template.URL
	Older template.URL
}

// auditFilter reads the audit filters from the query string.
func auditFilter(q url.Values) (roomhub.AuditFilter, auditData, error) {
	d := auditData{Action: strings.TrimSpace(q.Get("action")), Actor: strings.TrimSpace(q.Get("actor")),
		Result: q.Get("result"), Since: q.Get("since"), Until: q.Get("until")}
	var f roomhub.AuditFilter
	if len(d.Action) > MaxAuditFilter || len(d.Actor) > MaxAuditFilter {
		return f, d, roomhub.Errorf(roomhub.EINVALID, "Filters are at most %d characters.", MaxAuditFilter)
	}
	f.Action, f.Actor = d.Action, d.Actor
	switch d.Result {
	case "":
	case "success", "failure":
		ok := d.Result == "success"
		f.Success = &ok
	default:
		return f, d, roomhub.Invalid("result", "Result is success, failure or empty.")
	}
	for _, v := range []struct {
		s   string
		dst *time.Time
		add time.Duration
	}{{d.Since, &f.Since, 0}, {d.Until, &f.Until, 24 * time.Hour}} {
		if v.s == "" {
			continue
		}
		t, err := time.Parse("2006-01-02", v.s)
		if err != nil {
			return f, d, roomhub.Errorf(roomhub.EINVALID, "Dates are YYYY-MM-DD.")
		}
		*v.dst = t.Add(v.add)
	}
	if b := q.Get("before"); b != "" {
		n, err := strconv.ParseInt(b, 10, 64)
		if err != nil || n <= 0 {
			return f, d, roomhub.Errorf(roomhub.EINVALID, "Bad page.")
		}
		f.Before = n
	}
	v := url.Values{}
	for k, val := range map[string]string{"action": d.Action, "actor": d.Actor, "result": d.Result, "since": d.Since, "until": d.Until} {
		if val != "" {
			v.Set(k, val)
		}
	}
	d.Query = template.URL(v.Encode())
	return f, d, nil
}

func (s *Handler) auditPage(w http.ResponseWriter, r *http.Request) error {
	f, d, err := auditFilter(r.URL.Query())
	if err != nil {
		s.DashPage(w, r, http.StatusBadRequest, ui.PageAudit, "audit", ui.Page{FormError: roomhub.ErrorMessage(err), Data: d})
		return nil
	}
	f.Limit = AuditPageSize
	d.Entries, err = s.accounts.QueryAudit(r.Context(), web.StateOf(r).Dash.Org.ID, f)
	if err != nil {
		return err
	}
	auditView(r, d.Entries)
	if len(d.Entries) == AuditPageSize {
		v, _ := url.ParseQuery(string(d.Query))
		v.Set("before", strconv.FormatInt(d.Entries[len(d.Entries)-1].ID, 10))
		d.Older = template.URL(v.Encode())
	}
	s.DashPage(w, r, http.StatusOK, ui.PageAudit, "audit", ui.Page{Data: d})
	return nil
}

// auditCSV exports the filtered log, newest first, paging through the store
// up to MaxAuditExport rows. The export itself is audited.
func (s *Handler) auditCSV(w http.ResponseWriter, r *http.Request) error {
	st := web.StateOf(r)
	f, d, err := auditFilter(r.URL.Query())
	if err != nil {
		return err
	}
	s.AuditHere(r, "audit.export", "audit_log", "", "audit log exported as CSV", true, map[string]any{"filters": d.Query})
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="roomhub-audit-`+st.Dash.Org.Slug+`.csv"`)
	w.Header().Set("Cache-Control", "no-store")
	cw := csv.NewWriter(w)
	cw.Write([]string{"id", "time", "actor_id", "actor_name", "action", "object_type", "object_id", "description", "ip", "user_agent", "path", "success", "extra"})
	f.Limit = 1000
	for n := 0; n < MaxAuditExport; {
		rows, err := s.accounts.QueryAudit(r.Context(), st.Dash.Org.ID, f)
		if err != nil {
			s.log.Error("audit export failed", "request_id", st.ID, "err", err)
			break
		}
		auditView(r, rows)
		for _, e := range rows {
			extra, _ := json.Marshal(e.Extra)
			cw.Write([]string{strconv.FormatInt(e.ID, 10), e.At.UTC().Format(time.RFC3339), csvSafe(e.ActorID), csvSafe(e.ActorName), e.Action,
				e.ObjectType, csvSafe(e.ObjectID), csvSafe(e.Description), e.IP, csvSafe(e.UserAgent), csvSafe(e.Path), strconv.FormatBool(e.Success), csvSafe(string(extra))})
		}
		n += len(rows)
		if len(rows) < f.Limit {
			break
		}
		f.Before = rows[len(rows)-1].ID
	}
	cw.Flush()
	return nil
}

// csvSafe defuses spreadsheet formula injection: a cell starting with = + -
// @ (or a tab/CR) is prefixed with a quote, as OWASP advises.
func csvSafe(v string) string {
	if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
		return "'" + v
	}
	return v
}
