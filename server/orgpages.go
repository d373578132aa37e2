package server

import (
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"roomhub"
	"roomhub/account"
	"roomhub/secret"
	"roomhub/ui"
)

// Limits of the dashboard forms.
const (
	MaxKeyNameLen    = 64
	MaxSSODomainLen  = 253
	MaxAuditFilter   = 254 // characters of a text filter
	AuditPageSize    = 50
	MaxAuditExport   = 100000 // rows in one CSV export
	LimitKeyOpsCount = 20
)

// LimitKeyOps bounds API key creations and revocations per user, from the
// seed's "token" scope.
var LimitKeyOps = Limit{Requests: LimitKeyOpsCount, Window: time.Hour}

func (s *Server) dashHome(w http.ResponseWriter, r *http.Request) {
	ms, err := s.accounts.ListMemberships(r.Context(), reqState(r).user.user.ID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.dashPage(w, r, http.StatusOK, ui.PageOrgs, "orgs", ui.Page{Data: ms})
}

func (s *Server) orgHome(w http.ResponseWriter, r *http.Request) {
	s.redirect(w, r, "/dashboard/"+reqState(r).dash.org.Slug+"/live")
}

// id parses a numeric URL parameter; a malformed one is a 404 like any
// object that is not there.
func idParam(r *http.Request, name string) (int64, error) {
	id, err := strconv.ParseInt(chi.URLParam(r, name), 10, 64)
	if err != nil || id <= 0 {
		return 0, roomhub.Errorf(roomhub.ENOTFOUND, "Not found.")
	}
	return id, nil
}

func chiParam(r *http.Request, name string) string { return chi.URLParam(r, name) }

// errNotFoundHere is the answer to an object that is not in the request's
// organization, and to whatever must look exactly like one.
var errNotFoundHere = roomhub.Errorf(roomhub.ENOTFOUND, "Not found.")

// notFoundHere fails with 404 for an object that is not in the request's
// organization, auditing the attempt: it is how a probe for another
// tenant's object looks from here.
func (s *Server) notFoundHere(w http.ResponseWriter, r *http.Request, action, objType, objID string, err error) {
	if roomhub.ErrorCode(err) == roomhub.ENOTFOUND {
		s.security(r, "object_not_in_org", "org", reqState(r).dash.org.ID, "object", objType+":"+objID)
		s.auditHere(r, action+".denied", objType, objID, "no such "+objType+" in this organization", false, nil)
		s.fail(w, r, errNotFoundHere)
		return
	}
	s.fail(w, r, err)
}

// Settings.

type settingsData struct {
	Settings roomhub.OrgSettings
	Video    videoSettings
}

func (s *Server) settingsPage(w http.ResponseWriter, r *http.Request) {
	s.renderSettings(w, r, http.StatusOK, "", "")
}

func (s *Server) renderSettings(w http.ResponseWriter, r *http.Request, code int, flash, formErr string) {
	set, err := s.accounts.OrgSettings(r.Context(), reqState(r).dash.org.ID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	vs, err := s.readVideoSettings(r.Context(), reqState(r).dash.org)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.dashPage(w, r, code, ui.PageSettings, "settings", ui.Page{Flash: flash, FormError: formErr, Data: settingsData{Settings: set, Video: vs}})
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
func (s *Server) saveAgora(w http.ResponseWriter, r *http.Request) {
	org := reqState(r).dash.org
	appID := strings.TrimSpace(r.PostFormValue("app_id"))
	cert := strings.TrimSpace(r.PostFormValue("certificate"))
	set, err := s.accounts.OrgSettings(r.Context(), org.ID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	action := "credentials.update"
	switch {
	case appID == "" && cert == "":
		set.AgoraAppID, set.AgoraCertificate = "", ""
		action = "credentials.clear"
	case !agoraHex(appID):
		s.renderSettings(w, r, http.StatusBadRequest, "", "The App ID is 32 hexadecimal characters, as shown in the Agora console.")
		return
	case cert == "" && set.AgoraCertificate == "":
		s.renderSettings(w, r, http.StatusBadRequest, "", "Enter the App certificate too.")
		return
	case cert != "" && !agoraHex(cert):
		s.renderSettings(w, r, http.StatusBadRequest, "", "The App certificate is 32 hexadecimal characters, as shown in the Agora console.")
		return
	default:
		set.AgoraAppID = strings.ToLower(appID)
		if cert != "" {
			sealed, err := s.box.Seal(strings.ToLower(cert), agoraAAD(org.ID))
			if err != nil {
				s.fail(w, r, err)
				return
			}
			set.AgoraCertificate = sealed
		}
	}
	set.OrgID, set.UpdatedAt = org.ID, s.clock.Now()
	if err := s.accounts.SaveOrgSettings(r.Context(), set); err != nil {
		s.fail(w, r, err)
		return
	}
	s.auditHere(r, action, "org", org.Slug, "Agora credentials changed", true, map[string]any{"app_id": set.AgoraAppID, "certificate_changed": cert != ""})
	s.renderSettings(w, r, http.StatusOK, "Video credentials saved.", "")
}

// agoraAAD binds a sealed Agora certificate to its organization's row.
func agoraAAD(orgID int64) string {
	return secret.AAD(roomhub.SealedSecret{Table: "org_settings", Column: "agora_certificate", ID: orgID})
}

// saveSSO sets the organization's SSO email domain and whether first-time
// SSO users join it. A changed domain loses its verification: only an
// operator verifies one (roomhub org verify-domain), so an organization
// cannot claim someone else's domain and capture its users.
func (s *Server) saveSSO(w http.ResponseWriter, r *http.Request) {
	org := reqState(r).dash.org
	domain := strings.ToLower(strings.TrimSpace(r.PostFormValue("sso_domain")))
	if domain != "" && !validDomain(domain) {
		s.renderSettings(w, r, http.StatusBadRequest, "", "Enter a domain name like example.com.")
		return
	}
	set, err := s.accounts.OrgSettings(r.Context(), org.ID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if domain != set.SSODomain {
		set.SSODomainVerified = false
	}
	set.OrgID, set.SSODomain, set.SSOAutoProvision, set.UpdatedAt = org.ID, domain, r.PostFormValue("auto_provision") == "1", s.clock.Now()
	if err := s.accounts.SaveOrgSettings(r.Context(), set); err != nil {
		s.fail(w, r, err)
		return
	}
	s.auditHere(r, "settings.sso", "org", org.Slug, "sign-on settings changed", true, map[string]any{"domain": domain, "auto_provision": set.SSOAutoProvision})
	s.renderSettings(w, r, http.StatusOK, "Sign-on settings saved.", "")
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

func (s *Server) usersPage(w http.ResponseWriter, r *http.Request) {
	s.renderUsers(w, r, http.StatusOK, "", "", usersData{})
}

func (s *Server) renderUsers(w http.ResponseWriter, r *http.Request, code int, flash, formErr string, d usersData) {
	org := reqState(r).dash.org
	var err error
	if d.Users, err = s.accounts.ListOrgUsers(r.Context(), org.ID); err != nil {
		s.fail(w, r, err)
		return
	}
	if d.Invitations, err = s.accounts.ListInvitations(r.Context(), org.ID, s.clock.Now()); err != nil {
		s.fail(w, r, err)
		return
	}
	s.dashPage(w, r, code, ui.PageUsers, "users", ui.Page{Flash: flash, FormError: formErr, Data: d})
}

// mayAssign reports whether the acting member may give role (only owners
// make owners).
func mayAssign(actor roomhub.Role, role roomhub.Role) bool {
	return role.Valid() && (role != roomhub.RoleOwner || actor == roomhub.RoleOwner)
}

func (s *Server) createInvitation(w http.ResponseWriter, r *http.Request) {
	st := reqState(r)
	email, err := account.NormalizeEmail(r.PostFormValue("email"))
	if err != nil {
		s.renderUsers(w, r, http.StatusBadRequest, "", roomhub.ErrorMessage(err), usersData{})
		return
	}
	role := roomhub.Role(r.PostFormValue("role"))
	if !mayAssign(st.dash.m.Role, role) {
		s.auditHere(r, "invitation.create.denied", "invitation", email, "role "+truncate(string(role), 20)+" may not be given by "+string(st.dash.m.Role), false, nil)
		s.renderUsers(w, r, http.StatusBadRequest, "", "Choose a role you are allowed to give.", usersData{})
		return
	}
	if u, err := s.accounts.UserByEmail(r.Context(), email); err == nil {
		if _, err := s.accounts.Membership(r.Context(), st.dash.org.ID, u.ID); err == nil {
			s.renderUsers(w, r, http.StatusConflict, "", email+" is already a member.", usersData{})
			return
		}
	}
	link, err := IssueInvitation(r.Context(), s.accounts, s.clock.Now(), s.cfg.InviteTTL, s.publicURL(r), st.dash.org.ID, email, role, st.user.user.ID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.auditHere(r, "invitation.create", "invitation", email, "invited as "+string(role), true, map[string]any{"role": string(role)})
	s.renderUsers(w, r, http.StatusOK, "", "", usersData{Link: link, LinkLabel: "Send this invitation link to " + email + "."})
}

func (s *Server) revokeInvitation(w http.ResponseWriter, r *http.Request) {
	id, err := idParam(r, "id")
	if err == nil {
		err = s.accounts.RevokeInvitation(r.Context(), reqState(r).dash.org.ID, id)
	}
	if err != nil {
		s.notFoundHere(w, r, "invitation.revoke", "invitation", chi.URLParam(r, "id"), err)
		return
	}
	s.auditHere(r, "invitation.revoke", "invitation", strconv.FormatInt(id, 10), "invitation revoked", true, nil)
	s.renderUsers(w, r, http.StatusOK, "Invitation revoked.", "", usersData{})
}

// target loads the membership a user action is about, in this organization
// only, and checks the actor may act on it: admins cannot touch owners.
func (s *Server) target(w http.ResponseWriter, r *http.Request, action string) (roomhub.Membership, bool) {
	st := reqState(r)
	id, err := idParam(r, "id")
	var m roomhub.Membership
	if err == nil {
		m, err = s.accounts.Membership(r.Context(), st.dash.org.ID, id)
	}
	if err != nil {
		s.notFoundHere(w, r, action, "user", chi.URLParam(r, "id"), err)
		return m, false
	}
	if m.Role == roomhub.RoleOwner && st.dash.m.Role != roomhub.RoleOwner {
		s.auditHere(r, action+".denied", "user", strconv.FormatInt(id, 10), "only an owner may change an owner", false, nil)
		s.renderUsers(w, r, http.StatusForbidden, "", "Only an owner can change an owner.", usersData{})
		return m, false
	}
	return m, true
}

// revokeIssued spends the invitations and reset links m issued in this
// organization: a link outlives neither its issuer's role nor membership.
// (The link pages also check the issuer again when a link is used.)
func (s *Server) revokeIssued(r *http.Request, m roomhub.Membership) {
	n, err := s.accounts.RevokeTokensIssuedBy(r.Context(), reqState(r).dash.org.ID, m.UserID)
	if err != nil {
		s.log.Error("links of a demoted user not revoked", "user", m.UserID, "err", err)
		return
	}
	if n > 0 {
		s.auditHere(r, "invitation.revoke", "user", strconv.FormatInt(m.UserID, 10),
			strconv.Itoa(n)+" unused links issued by "+m.UserEmail+" revoked with their role", true, map[string]any{"count": n})
	}
}

// ownerChangeFailed answers a role change or removal the store refused. The
// store checks "not the last owner" in the same transaction as the change
// (two owners stepping down at once cannot both succeed), and refuses with
// roomhub.ErrLastOwner: a 409 on the users page, audited.
func (s *Server) ownerChangeFailed(w http.ResponseWriter, r *http.Request, m roomhub.Membership, err error) {
	if errors.Is(err, roomhub.ErrLastOwner) {
		s.auditHere(r, "owner.last.denied", "user", strconv.FormatInt(m.UserID, 10), "the last owner cannot be demoted or removed", false, map[string]any{"email": m.UserEmail})
	}
	s.formError(w, r, err, func(code int, msg string) { s.renderUsers(w, r, code, "", msg, usersData{}) })
}

// setRole changes a member's role. The member is signed out everywhere: a
// session never carries privileges across a change of them.
func (s *Server) setRole(w http.ResponseWriter, r *http.Request) {
	st := reqState(r)
	m, ok := s.target(w, r, "permission.change")
	if !ok {
		return
	}
	role := roomhub.Role(r.PostFormValue("role"))
	if !mayAssign(st.dash.m.Role, role) {
		s.auditHere(r, "permission.change.denied", "user", strconv.FormatInt(m.UserID, 10), "role "+truncate(string(role), 20)+" may not be given by "+string(st.dash.m.Role), false, nil)
		s.renderUsers(w, r, http.StatusBadRequest, "", "Choose a role you are allowed to give.", usersData{})
		return
	}
	if role == m.Role {
		s.renderUsers(w, r, http.StatusOK, "Nothing changed.", "", usersData{})
		return
	}
	if err := s.accounts.SetRole(r.Context(), st.dash.org.ID, m.UserID, role); err != nil {
		s.ownerChangeFailed(w, r, m, err)
		return
	}
	s.accounts.DeleteUserSessions(r.Context(), m.UserID)
	if !role.CanManage() {
		s.revokeIssued(r, m)
	}
	s.auditHere(r, "permission.change", "user", strconv.FormatInt(m.UserID, 10), string(m.Role)+" → "+string(role), true,
		map[string]any{"from": string(m.Role), "to": string(role), "email": m.UserEmail})
	if m.UserID == st.user.user.ID {
		s.clearUserCookie(w)
		s.redirect(w, r, "/login")
		return
	}
	s.renderUsers(w, r, http.StatusOK, "Role changed; "+m.UserEmail+" must sign in again.", "", usersData{})
}

// removeUser ends a membership in this organization, and nothing else: the
// account, its password, second factor and other memberships stay. Its
// sessions are ended only when it has no organization left; otherwise every
// dashboard request (and each live stream, within LiveSessionCheck) checks
// the membership, so signing the person out of their other organizations
// would be an account-wide act this organization may not do.
func (s *Server) removeUser(w http.ResponseWriter, r *http.Request) {
	st := reqState(r)
	m, ok := s.target(w, r, "user.remove")
	if !ok {
		return
	}
	if err := s.accounts.RemoveMembership(r.Context(), st.dash.org.ID, m.UserID); err != nil {
		s.ownerChangeFailed(w, r, m, err)
		return
	}
	if rest, err := s.accounts.ListMemberships(r.Context(), m.UserID); err != nil {
		s.log.Error("memberships of a removed user not listed; sessions kept", "user", m.UserID, "err", err)
	} else if len(rest) == 0 {
		s.accounts.DeleteUserSessions(r.Context(), m.UserID)
	}
	s.revokeIssued(r, m)
	s.auditHere(r, "user.remove", "user", strconv.FormatInt(m.UserID, 10), m.UserEmail+" removed from the organization", true, map[string]any{"email": m.UserEmail})
	if m.UserID == st.user.user.ID {
		s.clearUserCookie(w)
		s.redirect(w, r, "/login")
		return
	}
	s.renderUsers(w, r, http.StatusOK, m.UserEmail+" was removed.", "", usersData{})
}

// resetRefusal is the rule for the actions that change a whole account,
// not a membership: resetting its second factor, or making a password
// reset link (shown to whoever makes it), hands the account to whoever
// holds the link. actor and target are memberships of one organization and
// all is every membership of target's account. It returns "" when actor
// may reset target, else why not; hidden marks the refusal that is
// answered like a user who is not there (404).
//   - Nobody resets their own account this way: a stolen session would
//     otherwise become a password and a second factor of the thief's.
//   - Only owners and admins reset, and an admin only viewers: owners act
//     on admins and owners.
//   - Only an account that belongs to this organization alone: otherwise
//     an admin of one organization could take over an owner of another.
func resetRefusal(actor, target roomhub.Membership, all []roomhub.Membership) (why string, hidden bool) {
	switch {
	case actor.UserID == target.UserID:
		return "nobody resets their own account from the users page", false
	case !actor.Role.CanManage():
		return "only owners and admins reset accounts", false
	case actor.Role != roomhub.RoleOwner && target.Role != roomhub.RoleViewer:
		return "an admin may reset only viewers", false
	}
	for _, other := range all {
		if other.OrgID != target.OrgID {
			return "the account belongs to another organization too", true
		}
	}
	return "", false
}

// mayResetAccount applies resetRefusal to the request. A refusal is
// audited; an account shared with another organization gets the very 404 a
// user who is not in this organization gets (target), so the answer says
// nothing about other organizations.
func (s *Server) mayResetAccount(w http.ResponseWriter, r *http.Request, m roomhub.Membership, action string) bool {
	st := reqState(r)
	all, err := s.accounts.ListMemberships(r.Context(), m.UserID)
	if err != nil {
		s.fail(w, r, err)
		return false
	}
	why, hidden := resetRefusal(st.dash.m, m, all)
	if why == "" {
		return true
	}
	s.security(r, "account_reset_refused", "org", st.dash.org.ID, "user", m.UserID, "why", why)
	s.auditHere(r, action+".denied", "user", strconv.FormatInt(m.UserID, 10), why, false, map[string]any{"email": m.UserEmail})
	switch {
	case hidden:
		s.fail(w, r, errNotFoundHere)
	case m.UserID == st.user.user.ID:
		s.renderUsers(w, r, http.StatusForbidden, "", "You cannot reset your own password or two-factor authentication here. Ask another owner of the organization.", usersData{})
	default:
		s.renderUsers(w, r, http.StatusForbidden, "", "Only an owner can reset an admin's password or two-factor authentication.", usersData{})
	}
	return false
}

// resetTwoFactor removes a member's second factor and backup codes and signs
// them out; they enrol again at their next sign-in.
func (s *Server) resetTwoFactor(w http.ResponseWriter, r *http.Request) {
	m, ok := s.target(w, r, "2fa.reset")
	if !ok || !s.mayResetAccount(w, r, m, "2fa.reset") {
		return
	}
	if err := s.accounts.SetTOTP(r.Context(), m.UserID, "", nil); err != nil {
		s.fail(w, r, err)
		return
	}
	s.accounts.DeleteUserSessions(r.Context(), m.UserID)
	s.auditHere(r, "2fa.reset", "user", strconv.FormatInt(m.UserID, 10), "two-factor authentication reset for "+m.UserEmail, true, map[string]any{"email": m.UserEmail})
	if m.UserID == reqState(r).user.user.ID {
		s.clearUserCookie(w)
		s.redirect(w, r, "/login")
		return
	}
	s.renderUsers(w, r, http.StatusOK, "Two-factor authentication reset for "+m.UserEmail+".", "", usersData{})
}

func (s *Server) resetPasswordLink(w http.ResponseWriter, r *http.Request) {
	st := reqState(r)
	m, ok := s.target(w, r, "password.reset")
	if !ok || !s.mayResetAccount(w, r, m, "password.reset") {
		return
	}
	link, err := IssueReset(r.Context(), s.accounts, s.clock.Now(), s.cfg.InviteTTL, s.publicURL(r), st.dash.org.ID, m.UserID, m.UserEmail, st.user.user.ID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.auditHere(r, "password.reset_link", "user", strconv.FormatInt(m.UserID, 10), "password reset link created for "+m.UserEmail, true, nil)
	s.renderUsers(w, r, http.StatusOK, "", "", usersData{Link: link, LinkLabel: "Send this password reset link to " + m.UserEmail + "."})
}

// API keys.

type keysData struct {
	Keys   []roomhub.APIKey
	NewKey string
}

func (s *Server) keysPage(w http.ResponseWriter, r *http.Request) {
	s.renderKeys(w, r, http.StatusOK, "", "", "")
}

func (s *Server) renderKeys(w http.ResponseWriter, r *http.Request, code int, flash, formErr, newKey string) {
	keys, err := s.accounts.ListAPIKeys(r.Context(), reqState(r).dash.org.ID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.dashPage(w, r, code, ui.PageKeys, "keys", ui.Page{Flash: flash, FormError: formErr, Data: keysData{Keys: keys, NewKey: newKey}})
}

// createKey makes a key and shows it once; only its HMAC is stored.
func (s *Server) createKey(w http.ResponseWriter, r *http.Request) {
	st := reqState(r)
	name := strings.TrimSpace(r.PostFormValue("name"))
	if name == "" || len([]rune(name)) > MaxKeyNameLen {
		s.renderKeys(w, r, http.StatusBadRequest, "", "Give the key a name of 1 to "+strconv.Itoa(MaxKeyNameLen)+" characters.", "")
		return
	}
	key, prefix, hash := account.NewAPIKey(s.cfg.APIKeySecret)
	k, err := s.accounts.CreateAPIKey(r.Context(), roomhub.APIKey{OrgID: st.dash.org.ID, Name: name, Prefix: prefix, Hash: hash,
		CreatedBy: st.user.user.ID, CreatedAt: s.clock.Now()})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.auditHere(r, "apikey.create", "apikey", strconv.FormatInt(k.ID, 10), "key "+name+" created", true, map[string]any{"prefix": prefix})
	w.Header().Set("Cache-Control", "no-store")
	s.renderKeys(w, r, http.StatusOK, "", "", key)
}

func (s *Server) revokeKey(w http.ResponseWriter, r *http.Request) {
	id, err := idParam(r, "id")
	if err == nil {
		err = s.accounts.RevokeAPIKey(r.Context(), reqState(r).dash.org.ID, id, s.clock.Now())
	}
	if err != nil {
		s.notFoundHere(w, r, "apikey.revoke", "apikey", chi.URLParam(r, "id"), err)
		return
	}
	s.auditHere(r, "apikey.revoke", "apikey", strconv.FormatInt(id, 10), "key revoked", true, nil)
	s.renderKeys(w, r, http.StatusOK, "Key revoked.", "", "")
}

// Audit log.

type auditData struct {
	Action, Actor, Result, Since, Until string
	Entries                             []roomhub.AuditEntry
	Query                               string // the filters, for the CSV link
	Older                               string // query of the next page, "" at the end
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
	d.Query = v.Encode()
	return f, d, nil
}

func (s *Server) auditPage(w http.ResponseWriter, r *http.Request) {
	f, d, err := auditFilter(r.URL.Query())
	if err != nil {
		s.dashPage(w, r, http.StatusBadRequest, ui.PageAudit, "audit", ui.Page{FormError: roomhub.ErrorMessage(err), Data: d})
		return
	}
	f.Limit = AuditPageSize
	d.Entries, err = s.accounts.QueryAudit(r.Context(), reqState(r).dash.org.ID, f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	auditView(r, d.Entries)
	if len(d.Entries) == AuditPageSize {
		v, _ := url.ParseQuery(d.Query)
		v.Set("before", strconv.FormatInt(d.Entries[len(d.Entries)-1].ID, 10))
		d.Older = v.Encode()
	}
	s.dashPage(w, r, http.StatusOK, ui.PageAudit, "audit", ui.Page{Data: d})
}

// auditCSV exports the filtered log, newest first, paging through the store
// up to MaxAuditExport rows. The export itself is audited.
func (s *Server) auditCSV(w http.ResponseWriter, r *http.Request) {
	st := reqState(r)
	f, d, err := auditFilter(r.URL.Query())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.auditHere(r, "audit.export", "audit_log", "", "audit log exported as CSV", true, map[string]any{"filters": d.Query})
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="roomhub-audit-`+st.dash.org.Slug+`.csv"`)
	w.Header().Set("Cache-Control", "no-store")
	cw := csv.NewWriter(w)
	cw.Write([]string{"id", "time", "actor_id", "actor_name", "action", "object_type", "object_id", "description", "ip", "user_agent", "path", "success", "extra"})
	f.Limit = 1000
	for n := 0; n < MaxAuditExport; {
		rows, err := s.accounts.QueryAudit(r.Context(), st.dash.org.ID, f)
		if err != nil {
			s.log.Error("audit export failed", "request_id", st.id, "err", err)
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
}

// csvSafe defuses spreadsheet formula injection: a cell starting with = + -
// @ (or a tab/CR) is prefixed with a quote, as OWASP advises.
func csvSafe(v string) string {
	if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
		return "'" + v
	}
	return v
}
