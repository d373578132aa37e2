package server_test

import (
	"net/url"
	"strings"
	"testing"

	"roomhub"
)

// TestViewerCannotLiftSecretsFromTheAuditLog replays the attack: a viewer
// reads the audit log (page and CSV) after an owner added a webhook whose
// URL carries the receiver's token and after a guest redeemed a room
// invite link. Neither the query string nor the invite token is there to
// copy; the owner still sees the webhook URL whole.
func TestViewerCannotLiftSecretsFromTheAuditLog(t *testing.T) {
	a := newApp(t, allowLoopback)
	acme := a.org("acme")
	owner := a.signedIn(acme, "ada@acme.example", roomhub.RoleOwner)
	viewer := a.signedIn(acme, "val@acme.example", roomhub.RoleViewer)
	rc := newHookReceiver(t)
	res, body := owner.form("/dashboard/acme/webhooks", url.Values{"url": {rc.srv.URL + "/roomhub?token=receiver-secret-123"},
		"events": {roomhub.EventMemberJoined}})
	wantStatus(t, res, body, 200)

	a.browser("/o/acme").enter("standup", "Ann") // invite links are made for rooms in use
	tok := owner.roomInvite("acme", "standup", 2)
	guest := a.browser("/o/acme")
	guest.tokenWithPass(t, tok)

	_, csvOwner := owner.page("/dashboard/acme/audit.csv")
	if !strings.Contains(csvOwner, "receiver-secret-123") {
		t.Fatalf("the owner's export lacks the webhook URL:\n%s", csvOwner)
	}
	for _, path := range []string{"/dashboard/acme/audit", "/dashboard/acme/audit.csv"} {
		res, body := viewer.page(path)
		wantStatus(t, res, body, 200)
		if strings.Contains(body, "receiver-secret-123") {
			t.Errorf("%s shows a viewer the webhook URL's query string", path)
		}
		if path == "/dashboard/acme/audit.csv" && !strings.Contains(body, "webhook.create") {
			t.Errorf("%s lists no webhook row at all", path)
		}
	}
	for _, who := range []*admin{owner, viewer} {
		_, body := who.page("/dashboard/acme/audit.csv")
		if strings.Contains(body, tok) || strings.Contains(body, url.PathEscape(tok)) {
			t.Errorf("%s's export carries the room invite token", who.email)
		}
		if !strings.Contains(body, "/join/"+roomhub.RedactedToken) {
			t.Errorf("%s's export has no redacted invite path", who.email)
		}
	}
}
