package auth

import (
	"net/http"
	"strconv"

	"roomhub"
)

// auditUserOrgs audits an account event (sign-in, 2FA) in every
// organization the user belongs to, so each one's admins see it.
func (s *Handler) auditUserOrgs(r *http.Request, u roomhub.User, action, desc string, ok bool, extra map[string]any) {
	ms, err := s.accounts.ListMemberships(r.Context(), u.ID)
	if err != nil {
		s.log.Error("audit: list memberships failed", "err", err)
		return
	}
	for _, m := range ms {
		s.AuditAs(r, m.OrgID, u, action, "user", strconv.FormatInt(u.ID, 10), desc, ok, extra)
	}
}
