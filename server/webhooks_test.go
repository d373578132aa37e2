package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"roomhub"
	"roomhub/config"
	"roomhub/server/web"
	"roomhub/store/sqlstore/sqltest"
	"roomhub/webhook"
)

var reNewWebhookSecret = regexp.MustCompile(`<code id="new-webhook-secret">(whsec_[^<]+)</code>`)

// hookReceiver is an organization's webhook endpoint: it verifies every
// request with a webhook.Verifier once it knows the secret, and keeps the
// events it accepted.
type hookReceiver struct {
	srv      *httptest.Server
	mu       sync.Mutex
	verifier *webhook.Verifier
	events   []roomhub.WebhookEvent
	refused  []error
}

func newHookReceiver(t *testing.T) *hookReceiver {
	h := &hookReceiver{}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		v := h.verifier
		h.mu.Unlock()
		if v == nil {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		body, err := v.VerifyRequest(r)
		h.mu.Lock()
		defer h.mu.Unlock()
		if err != nil {
			h.refused = append(h.refused, err)
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var ev roomhub.WebhookEvent
		json.Unmarshal(body, &ev)
		h.events = append(h.events, ev)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hookReceiver) trust(secret string) {
	h.mu.Lock()
	h.verifier = webhook.NewVerifier(secret)
	h.mu.Unlock()
}

// wait returns the accepted events once want(events) holds, or fails.
func (h *hookReceiver) wait(t *testing.T, what string, want func([]roomhub.WebhookEvent) bool) []roomhub.WebhookEvent {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		h.mu.Lock()
		evs := append([]roomhub.WebhookEvent(nil), h.events...)
		refused := append([]error(nil), h.refused...)
		h.mu.Unlock()
		if len(refused) > 0 {
			t.Fatalf("the receiver refused deliveries: %v", refused)
		}
		if want(evs) {
			return evs
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: the receiver got %+v", what, evs)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func allowLoopback(c *config.Config) {
	c.WebhookAllowNets = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
}

// startWorker runs a delivery worker over the app's store, as serve does.
func (a *app) startWorker(t *testing.T) {
	w := webhook.NewWorker(a.store, a.box, webhook.Policy{Allow: a.cfg.WebhookAllowNets}, nil)
	w.Poll = 10 * time.Millisecond
	w.Start(context.Background())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		w.Stop(ctx)
	})
}

// TestWebhooksDashboard: an owner adds an endpoint (the secret is shown
// once and stored sealed), room activity and the test button reach the
// receiver once each with valid signatures, and the log shows the attempts.
func TestWebhooksDashboard(t *testing.T) {
	for _, kind := range sqltest.Kinds() {
		t.Run(kind, func(t *testing.T) {
			a := newAppOn(t, kind, allowLoopback)
			acme := a.org("acme")
			owner := a.signUp(acme, "ada@acme.example", roomhub.RoleOwner)
			rc := newHookReceiver(t)
			hookURL := rc.srv.URL + "/roomhub?token=abc"

			res, body := owner.page("/dashboard/acme/webhooks")
			wantStatus(t, res, body, 200)
			if !strings.Contains(body, "No endpoints yet.") || !strings.Contains(body, "Add endpoint") || !strings.Contains(body, `href="/dashboard/acme/webhooks" aria-current="page"`) {
				t.Fatalf("empty page: %.1500s", body)
			}
			res, body = owner.form("/dashboard/acme/webhooks", url.Values{"url": {hookURL}, "description": {"Attendance"},
				"events": {roomhub.EventRoomStarted, roomhub.EventMemberJoined, roomhub.EventMemberLeft}})
			wantStatus(t, res, body, 200)
			m := reNewWebhookSecret.FindStringSubmatch(body)
			if m == nil {
				t.Fatalf("the secret is not shown: %.1500s", body)
			}
			clear := html.UnescapeString(m[1]) // html/template writes + as &#43;
			if res.Header.Get("Cache-Control") != "no-store" {
				t.Fatal("the page showing the secret may be cached")
			}
			if _, again := owner.page("/dashboard/acme/webhooks"); strings.Contains(again, clear) || !strings.Contains(again, hookURL) {
				t.Fatal("the secret is shown again, or the endpoint is not listed")
			}
			eps, err := a.store.ListWebhookEndpoints(context.Background(), acme.ID)
			if err != nil || len(eps) != 1 {
				t.Fatal(eps, err)
			}
			ep := eps[0]
			if ep.Secret == clear || strings.Contains(ep.Secret, clear) {
				t.Fatal("the secret is stored in clear")
			}
			if opened, err := a.box.Open(ep.Secret, webhook.SecretAAD(ep.ID)); err != nil || opened != clear {
				t.Fatalf("the sealed secret does not open to the one shown: %v", err)
			}
			if ep.Description != "Attendance" || strings.Join(ep.Events, ",") != "room_started,member_joined,member_left" || ep.CreatedBy != "ada@acme.example" {
				t.Fatalf("stored %+v", ep)
			}
			if !a.audited(acme, "webhook.create", true) {
				t.Fatal("the creation is not audited")
			}

			rc.trust(clear)
			a.startWorker(t)

			// A participant joins and leaves: room_started, member_joined,
			// member_left, each once (room_finished is not subscribed).
			p := a.browser("/o/acme")
			uid := p.enter("standup", "Anna")
			if res, m := p.post("/delete_member/", map[string]any{"name": "Anna", "room_name": "standup", "UID": uid}); res.StatusCode != 200 {
				t.Fatalf("delete_member: %d %v", res.StatusCode, m)
			}
			evs := rc.wait(t, "room activity", func(evs []roomhub.WebhookEvent) bool { return len(evs) >= 3 })
			time.Sleep(100 * time.Millisecond) // a duplicate would arrive now
			evs = rc.wait(t, "room activity", func([]roomhub.WebhookEvent) bool { return true })
			types := map[string]int{}
			for _, ev := range evs {
				types[ev.Type]++
				data, _ := ev.Data.(map[string]any)
				if ev.Org != "acme" || !strings.HasPrefix(ev.ID, "evt_") || data["room"] != "standup" || ev.CreatedAt == 0 {
					t.Fatalf("event %+v", ev)
				}
				if ev.Type == roomhub.EventMemberLeft && (data["name"] != "Anna" || data["reason"] == nil || data["uid"] != float64(uid)) {
					t.Fatalf("member_left %+v", ev)
				}
			}
			if fmt.Sprint(types) != "map[member_joined:1 member_left:1 room_started:1]" {
				t.Fatalf("events received: %v", types)
			}

			// The test button queues one test event for this endpoint.
			id := strconv.FormatInt(ep.ID, 10)
			res, body = owner.form("/dashboard/acme/webhooks/"+id+"/test", nil)
			wantStatus(t, res, body, 200)
			if !strings.Contains(body, "Test event evt_") {
				t.Fatalf("no confirmation: %.1000s", body)
			}
			evs = rc.wait(t, "the test event", func(evs []roomhub.WebhookEvent) bool { return len(evs) == 4 })
			test := evs[3]
			if data, _ := test.Data.(map[string]any); test.Type != roomhub.EventTest || test.Org != "acme" || !strings.Contains(fmt.Sprint(data["message"]), "test event") {
				t.Fatalf("test event %+v", test)
			}
			if !a.audited(acme, "webhook.test", true) {
				t.Fatal("the test is not audited")
			}

			// The delivery log: every delivery delivered after one attempt.
			deadline := time.Now().Add(5 * time.Second)
			for {
				ds, _ := a.store.ListWebhookDeliveries(context.Background(), acme.ID, roomhub.WebhookDeliveryFilter{})
				if len(ds) == 4 && ds[0].Status == roomhub.DeliveryDelivered {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("deliveries %+v", ds)
				}
				time.Sleep(10 * time.Millisecond)
			}
			res, body = owner.page("/dashboard/acme/webhooks?endpoint=" + id)
			wantStatus(t, res, body, 200)
			for _, want := range []string{test.ID, `class="delivery-delivered"`, `<td class="attempts">1</td>`, "member_left", "200", "&#34;message&#34;"} {
				if !strings.Contains(body, want) {
					t.Fatalf("the delivery log lacks %q: %.3000s", want, body)
				}
			}

			// Delete: gone, audited, no longer called.
			res, body = owner.form("/dashboard/acme/webhooks/"+id+"/delete", nil)
			wantStatus(t, res, body, 200)
			if eps, _ := a.store.ListWebhookEndpoints(context.Background(), acme.ID); len(eps) != 0 || !a.audited(acme, "webhook.delete", true) {
				t.Fatalf("after delete: %+v", eps)
			}
			res, body = owner.form("/dashboard/acme/webhooks/"+id+"/test", nil)
			wantStatus(t, res, body, http.StatusNotFound)
		})
	}
}

// TestWebhooksRefuseBadInput: every refusal is a 4xx with a sentence the
// admin understands, and stores nothing.
func TestWebhooksRefuseBadInput(t *testing.T) {
	a := newApp(t) // no allow-list: the SSRF rules apply in full
	acme := a.org("acme")
	owner := a.signUp(acme, "ada@acme.example", roomhub.RoleOwner)
	ok := url.Values{"events": {roomhub.EventMemberJoined}}
	with := func(k, v string) url.Values {
		f := url.Values{}
		for key, vals := range ok {
			f[key] = vals
		}
		f.Set("url", "https://93.184.216.34/hook")
		f.Set(k, v)
		return f
	}
	for _, tc := range []struct {
		form url.Values
		code int
		msg  string
	}{
		{with("url", "http://127.0.0.1:9/hook"), 400, "private or reserved address"},
		{with("url", "https://localhost/hook"), 400, "private or reserved address"},
		{with("url", "https://10.0.0.8/hook"), 400, "private or reserved address"},
		{with("url", "https://169.254.169.254/latest/meta-data/"), 400, "private or reserved address"},
		{with("url", "https://[::1]/hook"), 400, "private or reserved address"},
		{with("url", "https://0.0.0.0/hook"), 400, "private or reserved address"},
		{with("url", "http://93.184.216.34/hook"), 400, "must start with https://"},
		{with("url", "https://user:pw@93.184.216.34/hook"), 400, "user name or password"},
		{with("url", "not a url"), 400, "spaces"},
		{with("url", ""), 400, "Enter the URL"},
		{with("url", "https://93.184.216.34/"+strings.Repeat("a", roomhub.MaxWebhookURLLen)), 400, "longer than"},
		{with("description", strings.Repeat("d", roomhub.MaxWebhookDescriptionLen+1)), 400, "description is at most"},
		{with("description", "two\nlines"), 400, "one line"},
		{with("events", "room_exploded"), 400, "Choose events from the list"},
		{url.Values{"url": {"https://93.184.216.34/hook"}}, 400, "at least one event"},
	} {
		res, body := owner.form("/dashboard/acme/webhooks", tc.form)
		if res.StatusCode != tc.code || !strings.Contains(body, tc.msg) {
			t.Errorf("%v: %d, want %d with %q; body: %.300s", tc.form, res.StatusCode, tc.code, tc.msg, extractError(body))
		}
	}
	if eps, _ := a.store.ListWebhookEndpoints(context.Background(), acme.ID); len(eps) != 0 {
		t.Fatalf("refused forms stored %+v", eps)
	}
	if !a.audited(acme, "webhook.create.denied", false) {
		t.Fatal("refused URLs are not audited")
	}
	for i := range roomhub.MaxWebhookEndpoints {
		res, body := owner.form("/dashboard/acme/webhooks", with("url", fmt.Sprintf("https://93.184.216.34/hook/%d", i)))
		wantStatus(t, res, body, 200)
	}
	res, body := owner.page("/dashboard/acme/webhooks")
	if !strings.Contains(body, "at most 10 endpoints") || strings.Contains(body, "Add endpoint") {
		t.Fatalf("full page: %.300s", extractError(body))
	}
	res, body = owner.form("/dashboard/acme/webhooks", with("url", "https://93.184.216.34/one-too-many"))
	if res.StatusCode != http.StatusConflict || !strings.Contains(body, "at most 10 webhook endpoints") {
		t.Fatalf("11th endpoint: %d %.300s", res.StatusCode, extractError(body))
	}
	for _, p := range []string{"/dashboard/acme/webhooks?endpoint=x", "/dashboard/acme/webhooks?before=-1"} {
		if res, body := owner.page(p); res.StatusCode != 400 {
			t.Errorf("%s: %d %.200s", p, res.StatusCode, body)
		}
	}
	for _, p := range []string{"/dashboard/acme/webhooks/x/test", "/dashboard/acme/webhooks/0/delete", "/dashboard/acme/webhooks/999999/test"} {
		if res, body := owner.form(p, nil); res.StatusCode != 404 {
			t.Errorf("%s: %d %.200s", p, res.StatusCode, body)
		}
	}
}

// extractError is the page's form error, for messages.
func extractError(body string) string {
	if i := strings.Index(body, `class="form-error"`); i >= 0 {
		return body[i:min(len(body), i+300)]
	}
	return body
}

// TestWebhooksViewerReadsOnly: a viewer sees the endpoints and the log,
// no buttons, and every action answers 404, audited.
func TestWebhooksViewerReadsOnly(t *testing.T) {
	a := newApp(t, allowLoopback)
	acme := a.org("acme")
	owner := a.signUp(acme, "ada@acme.example", roomhub.RoleOwner)
	viewer := a.signUp(acme, "vic@acme.example", roomhub.RoleViewer)
	res, body := owner.form("/dashboard/acme/webhooks", url.Values{"url": {"http://127.0.0.1:9/hook?token=s3cret"}, "events": {roomhub.EventMemberJoined}})
	wantStatus(t, res, body, 200)
	eps, _ := a.store.ListWebhookEndpoints(context.Background(), acme.ID)
	id := strconv.FormatInt(eps[0].ID, 10)
	if err := a.store.EnqueueWebhook(context.Background(), acme.ID, "evt_seen", roomhub.EventMemberJoined, []byte(`{"id":"evt_seen"}`), time.Now()); err != nil {
		t.Fatal(err)
	}

	res, body = viewer.page("/dashboard/acme/webhooks")
	wantStatus(t, res, body, 200)
	if !strings.Contains(body, "http://127.0.0.1:9/hook?…") || strings.Contains(body, "s3cret") || !strings.Contains(body, "evt_seen") {
		t.Fatalf("the viewer's page: %.2000s", body)
	}
	for _, button := range []string{"Add endpoint", "Send test event", "Delete", `action="/dashboard/acme/webhooks`} {
		if strings.Contains(body, button) {
			t.Fatalf("the viewer sees %q", button)
		}
	}
	for _, p := range []string{"/dashboard/acme/webhooks", "/dashboard/acme/webhooks/" + id + "/delete", "/dashboard/acme/webhooks/" + id + "/test"} {
		res, body := viewer.form(p, url.Values{"url": {"http://127.0.0.1:9/x"}, "events": {roomhub.EventMemberJoined}})
		wantStatus(t, res, body, http.StatusNotFound)
	}
	if eps, _ := a.store.ListWebhookEndpoints(context.Background(), acme.ID); len(eps) != 1 {
		t.Fatalf("the viewer changed the endpoints: %+v", eps)
	}
	if ds, _ := a.store.ListWebhookDeliveries(context.Background(), acme.ID, roomhub.WebhookDeliveryFilter{}); len(ds) != 1 {
		t.Fatalf("the viewer queued a test event: %+v", ds)
	}
	if !a.audited(acme, "permission.denied", false) {
		t.Fatal("the viewer's attempts are not audited")
	}
}

// webhookIsolationCases are the tenant-isolation cases of the webhook
// routes (TestTenantIsolation): Acme's owner reaches for Globex's endpoint
// by id and gets 404, audited; Globex's endpoint is untouched.
func webhookIsolationCases() map[string]isolationCase {
	endpointOf := func(t *testing.T, tn *tenants, org roomhub.Org) int64 {
		clear := webhook.NewSecret()
		e, err := tn.a.store.CreateWebhookEndpoint(context.Background(), roomhub.WebhookEndpoint{OrgID: org.ID, URL: "https://93.184.216.34/" + org.Slug,
			Events: []string{roomhub.EventMemberJoined}}, func(id int64) (string, error) { return tn.a.box.Seal(clear, webhook.SecretAAD(id)) })
		if err != nil {
			t.Fatal(err)
		}
		return e.ID
	}
	globexs := func(tn *tenants) int64 {
		if eps, _ := tn.a.store.ListWebhookEndpoints(context.Background(), tn.globex.ID); len(eps) > 0 {
			return eps[0].ID
		}
		return endpointOf(tn.a.t, tn, tn.globex)
	}
	acmes := func(tn *tenants) int64 { return endpointOf(tn.a.t, tn, tn.acme) }
	globexUntouched := func(t *testing.T, tn *tenants) {
		eps, _ := tn.a.store.ListWebhookEndpoints(context.Background(), tn.globex.ID)
		ds, _ := tn.a.store.ListWebhookDeliveries(context.Background(), tn.globex.ID, roomhub.WebhookDeliveryFilter{})
		for _, d := range ds {
			if d.Type == roomhub.EventTest {
				t.Fatalf("Acme queued a test event for Globex's endpoint: %+v", d)
			}
		}
		if len(eps) != 1 {
			t.Fatalf("Globex's endpoint changed: %+v", eps)
		}
	}
	return map[string]isolationCase{
		"GET /dashboard/{org}/webhooks": {
			attack: func(t *testing.T, tn *tenants) {
				id := strconv.FormatInt(globexs(tn), 10)
				crossOrgDashboard("GET", "/dashboard/{org}/webhooks", nil, 200).attack(t, tn)
				// Globex's endpoint as the log filter under acme: 404, audited.
				res, body := tn.ownerA.page("/dashboard/acme/webhooks?endpoint=" + id)
				wantStatus(t, res, body, http.StatusNotFound)
				if tn.auditCount(tn.acme, "webhook.read.denied") != 1 {
					t.Fatal("the probe is not audited in Acme")
				}
			},
			own: crossOrgDashboard("GET", "/dashboard/{org}/webhooks", nil, 200).own,
		},
		"POST /dashboard/{org}/webhooks": crossOrgDashboard("POST", "/dashboard/{org}/webhooks",
			url.Values{"url": {"https://93.184.216.34/hook"}, "events": {roomhub.EventMemberJoined}}, 200),
		"POST /dashboard/{org}/webhooks/{id}/delete": crossOrgObject("/dashboard/{org}/webhooks/{id}/delete", nil, globexs, acmes, globexUntouched),
		"POST /dashboard/{org}/webhooks/{id}/test":   crossOrgObject("/dashboard/{org}/webhooks/{id}/test", nil, globexs, acmes, globexUntouched),
	}
}

// TestWebhookLimitDocumented: both documents state LimitWebhookOps.
func TestWebhookLimitDocumented(t *testing.T) {
	if web.LimitWebhookOps.Window != time.Hour {
		t.Fatal("the documents say per hour")
	}
	for _, doc := range []string{"../docs/api.md", "../docs/webhooks.md"} {
		b, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("%d per hour", web.LimitWebhookOps.Requests); !strings.Contains(strings.Join(strings.Fields(string(b)), " "), want) {
			t.Errorf("%s does not say %q", doc, want)
		}
	}
}
