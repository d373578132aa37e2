// Package web is what every audience of Roomhub's HTTP layer shares: the
// request's state, the security middleware, participant sessions and their
// CSRF tokens, the one table of rate limits, the mapping of error codes to
// statuses, and rendering (JSON for API and fetch callers, a page or an htmx
// fragment for browsers). The audience packages (participant, auth,
// dashboard, live, apiv1) hold handlers; server assembles them.
package web

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/httprate"

	"roomhub"
	"roomhub/agora"
	"roomhub/clock"
	"roomhub/config"
	"roomhub/ui"
)

// Observer receives what the server measures; the metrics package
// implements it. The zero Deps observe nothing.
type Observer interface {
	Request(route, method string, code int, d time.Duration)
	RateLimited(limit string)
	CSRFFailure()
	TokenMinted(ok bool)
	LoginFailed()
	Lockout()
	CrossOrgAttempt()
}

type noObserver struct{}

func (noObserver) Request(string, string, int, time.Duration) {}
func (noObserver) RateLimited(string)                         {}
func (noObserver) CSRFFailure()                               {}
func (noObserver) TokenMinted(bool)                           {}
func (noObserver) LoginFailed()                               {}
func (noObserver) Lockout()                                   {}
func (noObserver) CrossOrgAttempt()                           {}

// Deps are what the shared layer is built from.
type Deps struct {
	Config config.Config
	// Store keeps participant sessions and audit rows.
	Store roomhub.Store
	// Tokens tells a page whether video is configured for its organization.
	Tokens *agora.Tenants
	UI     *ui.UI
	Log    *slog.Logger
	Clock  clock.Clock
	// LimitCounter makes the counter behind the named rate limit; nil keeps
	// counts in process (one node). A cluster passes a shared one.
	LimitCounter func(name string, window time.Duration) httprate.LimitCounter
	Observer     Observer
}

// Kit is the shared layer every handler of every audience is given: how to
// answer, render, limit, log and audit a request.
type Kit struct {
	cfg      config.Config
	store    roomhub.Store
	tokens   *agora.Tenants
	ui       *ui.UI
	log      *slog.Logger
	clock    clock.Clock
	obs      Observer
	cop      *http.CrossOriginProtection
	counter  func(name string, window time.Duration) httprate.LimitCounter
	limiters map[string]func(http.Handler) http.Handler // by limit name, built with the routes
}

// New builds the kit. CORS_ALLOWED_ORIGINS must be valid origins.
func New(d Deps) (*Kit, error) {
	s := &Kit{cfg: d.Config, store: d.Store, tokens: d.Tokens, ui: d.UI, log: d.Log, clock: d.Clock, obs: d.Observer, counter: d.LimitCounter}
	if s.obs == nil {
		s.obs = noObserver{}
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.clock == nil {
		s.clock = clock.Real{}
	}
	s.cop = http.NewCrossOriginProtection()
	for _, o := range s.cfg.CORSOrigins {
		if err := s.cop.AddTrustedOrigin(o); err != nil {
			return nil, err
		}
	}
	s.limiters = map[string]func(http.Handler) http.Handler{}
	return s, nil
}

// Config, Log, Clock and Observer are the settings and the instruments
// every handler shares.
func (s *Kit) Config() config.Config { return s.cfg }
func (s *Kit) Log() *slog.Logger     { return s.log }
func (s *Kit) Clock() clock.Clock    { return s.clock }
func (s *Kit) Observer() Observer    { return s.obs }

// Page renders a page with the request's nonce, CSRF token and org.
func (s *Kit) Page(w http.ResponseWriter, r *http.Request, code int, name string, p ui.Page) {
	st := StateOf(r)
	p.Nonce = st.Nonce
	p.CSRFToken = s.PageCSRF(w, r)
	p.Base = st.Base
	p.OrgName = st.Org.Name
	if st.Org.ID != 0 {
		if m, err := s.tokens.For(r.Context(), st.Org.ID); err == nil {
			p.VideoConfigured = m.Configured()
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	if err := s.ui.Render(w, code, name, p); err != nil {
		s.log.Error("render failed", "page", name, "err", err)
		http.Error(w, "An internal error occurred.", http.StatusInternalServerError)
	}
}

// DashPage renders a dashboard page, or only its content for htmx.
func (s *Kit) DashPage(w http.ResponseWriter, r *http.Request, code int, name, nav string, p ui.Page) {
	st := StateOf(r)
	if st.User != nil {
		u := st.User.User
		p.User = &ui.DashUser{ID: u.ID, Email: u.Email, Name: u.Name}
	}
	if st.Dash.Org.ID != 0 {
		role := st.Dash.M.Role
		p.Org = &ui.DashOrg{Slug: st.Dash.Org.Slug, Name: st.Dash.Org.Name, Role: string(role),
			CanManage: role.CanManage(), IsOwner: role == roomhub.RoleOwner}
	}
	p.Nav = nav
	p.Fragment = IsHTMX(r)
	s.Page(w, r, code, name, p)
}

// FormError re-renders a form's page with the problem, 400 (or the error's
// status): the page shows it, nothing stored is lost.
func (s *Kit) FormError(w http.ResponseWriter, r *http.Request, err error, render func(code int, msg string)) {
	code := Status(roomhub.ErrorCode(err))
	if code >= 500 {
		s.Fail(w, r, err)
		return
	}
	render(code, roomhub.ErrorMessage(err))
}

// Redirect sends the browser to path: HX-Redirect for htmx requests (a 302
// would be followed inside the swap), 303 otherwise.
func (s *Kit) Redirect(w http.ResponseWriter, r *http.Request, path string) {
	if IsHTMX(r) {
		w.Header().Set("HX-Redirect", path)
		w.WriteHeader(http.StatusNoContent)
		return
	}
	http.Redirect(w, r, path, http.StatusSeeOther)
}

// IsHTMX reports whether an htmx request asks for a fragment: boosted
// requests navigate and get the full page.
func IsHTMX(r *http.Request) bool {
	return r.Header.Get("HX-Request") == "true" && r.Header.Get("HX-Boosted") != "true"
}

// Truncate cuts s to at most n bytes, for log and audit fields.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// PublicURL is the scheme and host links handed out are built on:
// PUBLIC_URL, or the request's own.
func (s *Kit) PublicURL(r *http.Request) string {
	if s.cfg.PublicURL != "" {
		return s.cfg.PublicURL
	}
	scheme := "http"
	if StateOf(r).HTTPS {
		scheme = "https"
	}
	return (&url.URL{Scheme: scheme, Host: r.Host}).String()
}

// OrgBase is the participant URL prefix of an organization.
func OrgBase(o roomhub.Org) string {
	if o.Slug == roomhub.DefaultOrgSlug {
		return ""
	}
	return "/o/" + url.PathEscape(o.Slug)
}

// AuditAs writes an audit row for a dashboard action by user in org.
func (s *Kit) AuditAs(r *http.Request, orgID int64, u roomhub.User, action, objType, objID, desc string, ok bool, extra map[string]any) {
	st := StateOf(r)
	if extra == nil {
		extra = map[string]any{}
	}
	extra["request_id"] = st.ID
	actorID, actorName := "", ""
	if u.ID != 0 {
		actorID, actorName = "user:"+strconv.FormatInt(u.ID, 10), u.Email
	}
	err := s.store.AppendAudit(r.Context(), roomhub.AuditEntry{
		OrgID: orgID, At: s.clock.Now(), ActorID: actorID, ActorName: actorName,
		Action: action, ObjectType: objType, ObjectID: objID, Description: desc,
		IP: st.IP.String(), UserAgent: Truncate(r.UserAgent(), 512), Path: Truncate(r.URL.Path, 500), Success: ok, Extra: extra,
	})
	if err != nil {
		s.log.Error("audit write failed", "request_id", st.ID, "action", action, "err", err)
	}
}

// AuditHere audits an action in the request's dashboard organization by the
// signed-in user.
func (s *Kit) AuditHere(r *http.Request, action, objType, objID, desc string, ok bool, extra map[string]any) {
	st := StateOf(r)
	var u roomhub.User
	if st.User != nil {
		u = st.User.User
	}
	s.AuditAs(r, st.Dash.Org.ID, u, action, objType, objID, desc, ok, extra)
}

// ErrNotFoundHere is the answer to an object that is not in the request's
// organization, whether it is in another one or nowhere.
var ErrNotFoundHere = roomhub.Errorf(roomhub.ENOTFOUND, "Not found.")

// NotFoundHere answers a lookup of an object by id in the request's
// dashboard organization: ENOTFOUND is logged, audited and answered 404
// whether the object is another organization's or nobody's.
func (s *Kit) NotFoundHere(w http.ResponseWriter, r *http.Request, action, objType, objID string, err error) {
	if roomhub.ErrorCode(err) == roomhub.ENOTFOUND {
		s.Security(r, "object_not_in_org", "org", StateOf(r).Dash.Org.ID, "object", objType+":"+objID)
		s.AuditHere(r, action+".denied", objType, objID, "no such "+objType+" in this organization", false, nil)
		s.Fail(w, r, ErrNotFoundHere)
		return
	}
	s.Fail(w, r, err)
}

// UserSessionCookie names the dashboard sign-in cookie (server/auth sets
// it; a dashboard action that signs its own user out clears it).
const UserSessionCookie = "roomhub_admin"

// ClearUserCookie removes the dashboard sign-in cookie.
func (s *Kit) ClearUserCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: UserSessionCookie, Value: "", Path: "/", HttpOnly: true,
		Secure: !s.cfg.Debug, SameSite: http.SameSiteLaxMode, MaxAge: -1})
}

// Memberships finds a user's membership in an organization.
type Memberships interface {
	Membership(ctx context.Context, orgID, userID int64) (roomhub.Membership, error)
}

// DashOrg resolves /dashboard/{org}/ for the signed-in user. An unknown
// organization and one the user does not belong to answer alike, 404, so
// the dashboard never confirms that another tenant exists; the second case
// is audited in the organization that was probed.
func (s *Kit) DashOrg(ms Memberships) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			us := StateOf(r).User
			slug := chi.URLParam(r, "org")
			notFound := roomhub.Errorf(roomhub.ENOTFOUND, "Page not found.")
			if roomhub.ValidateOrgSlug(slug) != nil {
				s.Fail(w, r, notFound)
				return
			}
			org, err := s.store.OrgBySlug(r.Context(), slug)
			if roomhub.ErrorCode(err) == roomhub.ENOTFOUND {
				s.Fail(w, r, notFound)
				return
			}
			if err != nil {
				s.Fail(w, r, err)
				return
			}
			m, err := ms.Membership(r.Context(), org.ID, us.User.ID)
			if roomhub.ErrorCode(err) == roomhub.ENOTFOUND {
				s.Security(r, "cross_org_attempt", "org", org.ID, "user", us.User.ID)
				s.obs.CrossOrgAttempt()
				s.AuditAs(r, org.ID, us.User, "cross_org.denied", "org", org.Slug, "a user who is not a member asked for this organization", false, nil)
				s.Fail(w, r, notFound)
				return
			}
			if err != nil {
				s.Fail(w, r, err)
				return
			}
			StateOf(r).Dash = Dash{Org: org, M: m}
			next.ServeHTTP(w, r)
		})
	}
}

// RequireManage refuses viewers. They get the same 404 as a stranger: the
// action does not exist for them.
func (s *Kit) RequireManage(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d := StateOf(r).Dash
		if !d.M.Role.CanManage() {
			s.Security(r, "permission_denied", "org", d.Org.ID, "role", string(d.M.Role))
			s.AuditHere(r, "permission.denied", "route", chi.RouteContext(r.Context()).RoutePattern(), "a viewer tried an action", false, nil)
			s.Fail(w, r, roomhub.Errorf(roomhub.ENOTFOUND, "Page not found."))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// IDParam parses a numeric URL parameter; a malformed one is a 404 like any
// object that is not there.
func IDParam(r *http.Request, name string) (int64, error) {
	id, err := strconv.ParseInt(chi.URLParam(r, name), 10, 64)
	if err != nil || id <= 0 {
		return 0, roomhub.Errorf(roomhub.ENOTFOUND, "Not found.")
	}
	return id, nil
}
