package dashboard

import (
	"net/http"

	"roomhub"
	"roomhub/server/web"
)

// auditView is how the request's member may read audit rows: one-time
// tokens never show in paths, and viewers (who may not manage webhooks)
// do not see URL query strings, as on the Webhooks page.
func auditView(r *http.Request, es []roomhub.AuditEntry) {
	manage := web.StateOf(r).Dash.M.Role.CanManage()
	for i := range es {
		if manage {
			es[i].Path = roomhub.RedactPath(es[i].Path)
		} else {
			es[i] = roomhub.HideAuditSecrets(es[i])
		}
	}
}
