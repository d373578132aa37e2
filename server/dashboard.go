package server

import (
	"net/http"
	"strconv"

	"github.com/go-chi/chi/v5"

	"roomhub"
	"roomhub/ui"
)

// dashState is the organization a dashboard request manages and the
// signed-in user's membership in it.
type dashState struct {
	org roomhub.Org
	m   roomhub.Membership
}

// withDashOrg resolves /dashboard/{org}/ for the signed-in user. An unknown
// organization and one the user does not belong to answer alike, 404, so
// the dashboard never confirms that another tenant exists; the second case
// is audited in the organization that was probed.
func (s *Server) withDashOrg(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		us := reqState(r).user
		slug := chi.URLParam(r, "org")
		notFound := roomhub.Errorf(roomhub.ENOTFOUND, "Page not found.")
		if roomhub.ValidateOrgSlug(slug) != nil {
			s.fail(w, r, notFound)
			return
		}
		org, err := s.store.OrgBySlug(r.Context(), slug)
		if roomhub.ErrorCode(err) == roomhub.ENOTFOUND {
			s.fail(w, r, notFound)
			return
		}
		if err != nil {
			s.fail(w, r, err)
			return
		}
		m, err := s.accounts.Membership(r.Context(), org.ID, us.user.ID)
		if roomhub.ErrorCode(err) == roomhub.ENOTFOUND {
			s.security(r, "cross_org_attempt", "org", org.ID, "user", us.user.ID)
			s.obs.CrossOrgAttempt()
			s.auditAs(r, org.ID, us.user, "cross_org.denied", "org", org.Slug, "a user who is not a member asked for this organization", false, nil)
			s.fail(w, r, notFound)
			return
		}
		if err != nil {
			s.fail(w, r, err)
			return
		}
		reqState(r).dash = dashState{org: org, m: m}
		next.ServeHTTP(w, r)
	})
}

// requireManage refuses viewers. They get the same 404 as a stranger: the
// action does not exist for them.
func (s *Server) requireManage(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d := reqState(r).dash
		if !d.m.Role.CanManage() {
			s.security(r, "permission_denied", "org", d.org.ID, "role", string(d.m.Role))
			s.auditHere(r, "permission.denied", "route", chi.RouteContext(r.Context()).RoutePattern(), "a viewer tried an action", false, nil)
			s.fail(w, r, roomhub.Errorf(roomhub.ENOTFOUND, "Page not found."))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// dashPage renders a dashboard page, or only its content for htmx.
func (s *Server) dashPage(w http.ResponseWriter, r *http.Request, code int, name, nav string, p ui.Page) {
	st := reqState(r)
	if st.user != nil {
		u := st.user.user
		p.User = &ui.DashUser{ID: u.ID, Email: u.Email, Name: u.Name}
	}
	if st.dash.org.ID != 0 {
		role := st.dash.m.Role
		p.Org = &ui.DashOrg{Slug: st.dash.org.Slug, Name: st.dash.org.Name, Role: string(role),
			CanManage: role.CanManage(), IsOwner: role == roomhub.RoleOwner}
	}
	p.Nav = nav
	p.Fragment = isHTMX(r)
	s.page(w, r, code, name, p)
}

// formError re-renders a form's page with the problem, 400 (or the error's
// status): the page shows it, nothing stored is lost.
func (s *Server) formError(w http.ResponseWriter, r *http.Request, err error, render func(code int, msg string)) {
	code := status(roomhub.ErrorCode(err))
	if code >= 500 {
		s.fail(w, r, err)
		return
	}
	render(code, roomhub.ErrorMessage(err))
}

// auditAs writes an audit row for a dashboard action by user in org.
func (s *Server) auditAs(r *http.Request, orgID int64, u roomhub.User, action, objType, objID, desc string, ok bool, extra map[string]any) {
	st := reqState(r)
	if extra == nil {
		extra = map[string]any{}
	}
	extra["request_id"] = st.id
	actorID, actorName := "", ""
	if u.ID != 0 {
		actorID, actorName = "user:"+strconv.FormatInt(u.ID, 10), u.Email
	}
	err := s.store.AppendAudit(r.Context(), roomhub.AuditEntry{
		OrgID: orgID, At: s.clock.Now(), ActorID: actorID, ActorName: actorName,
		Action: action, ObjectType: objType, ObjectID: objID, Description: desc,
		IP: st.ip.String(), UserAgent: truncate(r.UserAgent(), 512), Path: truncate(r.URL.Path, 500), Success: ok, Extra: extra,
	})
	if err != nil {
		s.log.Error("audit write failed", "request_id", st.id, "action", action, "err", err)
	}
}

// auditHere audits an action in the request's dashboard organization by the
// signed-in user.
func (s *Server) auditHere(r *http.Request, action, objType, objID, desc string, ok bool, extra map[string]any) {
	st := reqState(r)
	var u roomhub.User
	if st.user != nil {
		u = st.user.user
	}
	s.auditAs(r, st.dash.org.ID, u, action, objType, objID, desc, ok, extra)
}

// auditUserOrgs audits an account event (sign-in, 2FA) in every
// organization the user belongs to, so each one's admins see it.
func (s *Server) auditUserOrgs(r *http.Request, u roomhub.User, action, desc string, ok bool, extra map[string]any) {
	ms, err := s.accounts.ListMemberships(r.Context(), u.ID)
	if err != nil {
		s.log.Error("audit: list memberships failed", "err", err)
		return
	}
	for _, m := range ms {
		s.auditAs(r, m.OrgID, u, action, "user", strconv.FormatInt(u.ID, 10), desc, ok, extra)
	}
}
