package server_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"

	"roomhub"
	"roomhub/account"
	"roomhub/secret"
	"roomhub/store/sqlstore/sqltest"
)

// tenants is two busy organizations, Acme and Globex, each with an owner
// signed in to the dashboard, a viewer, a pending invitation, an API key and
// a participant in a room.
type tenants struct {
	a                *app
	acme, globex     roomhub.Org
	ownerA, ownerB   *admin
	viewerB          roomhub.Membership
	inviteA, inviteB roomhub.UserToken
	keyA, keyB       string // raw API keys
	keyIDA, keyIDB   int64
	partA, partB     *user // participants, one in each org's room "standup"
	uidA, uidB       uint32
}

// newTenants builds the two organizations through the store (the sign-up
// flow has its own tests) and signs both owners in over HTTP. pwHash is a
// precomputed hash of testPassword, so setup costs one Argon2 verification
// per sign-in.
func newTenants(t *testing.T, kind, pwHash string) *tenants {
	a := newAppOn(t, kind)
	tn := &tenants{a: a, acme: a.org("acme"), globex: a.org("globex")}
	tn.ownerA = a.enrolled(tn.acme, "ada@acme.example", roomhub.RoleOwner, pwHash)
	tn.ownerB = a.enrolled(tn.globex, "gus@globex.example", roomhub.RoleOwner, pwHash)
	tn.ownerA.signIn()
	tn.ownerB.signIn()
	vb := a.enrolled(tn.globex, "vic@globex.example", roomhub.RoleViewer, pwHash)
	var err error
	if tn.viewerB, err = a.store.Membership(context.Background(), tn.globex.ID, vb.userID()); err != nil {
		t.Fatal(err)
	}
	tn.keyA, tn.keyIDA = tn.ownerA.createKey("acme")
	tn.keyB, tn.keyIDB = tn.ownerB.createKey("globex")
	tn.inviteA = tn.ownerA.invite("acme", "new@acme.example")
	tn.inviteB = tn.ownerB.invite("globex", "new@globex.example")
	tn.partA, tn.partB = a.browser("/o/acme"), a.browser("/o/globex")
	tn.uidA = tn.partA.enter("standup", "Anna")
	tn.uidB = tn.partB.enter("standup", "Bert")
	return tn
}

// enrolled creates a user with a password and an enrolled second factor
// straight in the store, not signed in.
func (a *app) enrolled(org roomhub.Org, email string, role roomhub.Role, pwHash string) *admin {
	a.t.Helper()
	ctx := context.Background()
	u, err := a.store.CreateUser(ctx, roomhub.User{Email: email, Name: "Person", PasswordHash: pwHash, CreatedAt: a.clk.Now()})
	if err != nil {
		a.t.Fatal(err)
	}
	if err := a.store.AddMembership(ctx, org.ID, u.ID, role); err != nil {
		a.t.Fatal(err)
	}
	e, err := account.NewTOTP("Roomhub", email)
	if err != nil {
		a.t.Fatal(err)
	}
	sealed, err := a.box.Seal(e.Secret, secret.AAD(roomhub.SealedSecret{Table: "users", Column: "totp_secret", ID: u.ID}))
	if err != nil {
		a.t.Fatal(err)
	}
	_, hashes := account.NewBackupCodes()
	if err := a.store.SetTOTP(ctx, u.ID, sealed, hashes); err != nil {
		a.t.Fatal(err)
	}
	return &admin{user: a.visitor(), email: email, password: testPassword, secret: e.Secret}
}

func (ad *admin) userID() int64 {
	u, err := ad.a.store.UserByEmail(context.Background(), ad.email)
	if err != nil {
		ad.a.t.Fatal(err)
	}
	return u.ID
}

func userID(t *testing.T, a *app, email string) int64 {
	u, err := a.store.UserByEmail(context.Background(), email)
	if err != nil {
		t.Fatal(err)
	}
	return u.ID
}

// createKey creates an API key from the dashboard and returns it and its id.
func (ad *admin) createKey(org string) (string, int64) {
	t := ad.a.t
	res, body := ad.form("/dashboard/"+org+"/keys", url.Values{"name": {"tooling"}})
	wantStatus(t, res, body, 200)
	m := reNewKey.FindStringSubmatch(body)
	if m == nil {
		t.Fatal("no key shown")
	}
	o, _ := ad.a.store.OrgBySlug(context.Background(), org)
	keys, _ := ad.a.store.ListAPIKeys(context.Background(), o.ID)
	return m[1], keys[0].ID
}

// invite creates an invitation from the dashboard and returns it.
func (ad *admin) invite(org, email string) roomhub.UserToken {
	t := ad.a.t
	res, body := ad.form("/dashboard/"+org+"/invitations", url.Values{"email": {email}, "role": {"viewer"}})
	wantStatus(t, res, body, 200)
	o, _ := ad.a.store.OrgBySlug(context.Background(), org)
	inv, _ := ad.a.store.ListInvitations(context.Background(), o.ID, ad.a.clk.Now())
	for _, i := range inv {
		if i.Email == email {
			return i
		}
	}
	t.Fatalf("invitation for %s not listed", email)
	return roomhub.UserToken{}
}

// api calls the server API with a key.
func (tn *tenants) api(method, path, key string) (int, string) {
	req, _ := http.NewRequest(method, tn.a.srv.URL+path, nil)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		tn.a.t.Fatal(err)
	}
	defer res.Body.Close()
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := res.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return res.StatusCode, b.String()
}

// auditCount counts org's audit rows for action.
func (tn *tenants) auditCount(org roomhub.Org, action string) int {
	rows, err := tn.a.store.QueryAudit(context.Background(), org.ID, roomhub.AuditFilter{Action: action, Limit: 1000})
	if err != nil {
		tn.a.t.Fatal(err)
	}
	n := 0
	for _, r := range rows {
		if r.Action == action {
			n++
		}
	}
	return n
}

// isolationCase proves one route keeps organizations apart: attack is Acme
// reaching for Globex's object (it must get 404, change nothing, and be
// audited), own is Acme using its own object (it must still work).
type isolationCase struct {
	attack, own func(t *testing.T, tn *tenants)
}

// crossOrgDashboard is the case of a dashboard route under /dashboard/{org}:
// Acme's owner asks for it under globex and gets 404, audited in Globex.
func crossOrgDashboard(method, path string, form url.Values, ownStatus int) isolationCase {
	return isolationCase{
		attack: func(t *testing.T, tn *tenants) {
			before := tn.auditCount(tn.globex, "cross_org.denied")
			p := strings.ReplaceAll(path, "{org}", "globex")
			res, body := tn.ownerA.send(method, p, form)
			wantStatus(t, res, body, http.StatusNotFound)
			if strings.Contains(body, "Globex") || strings.Contains(body, "gus@globex") {
				t.Fatalf("the 404 leaks Globex data: %.400s", body)
			}
			if tn.auditCount(tn.globex, "cross_org.denied") != before+1 {
				t.Fatal("the attempt is not audited in Globex")
			}
		},
		own: func(t *testing.T, tn *tenants) {
			p := strings.ReplaceAll(path, "{org}", "acme")
			res, body := tn.ownerA.send(method, p, form)
			wantStatus(t, res, body, ownStatus)
		},
	}
}

// crossOrgObject is the case of a route naming an object by id inside the
// URL's organization: Acme's owner names Globex's object under acme. The
// object is not found in Acme, nothing changes in Globex, and Acme's log
// records the attempt.
func crossOrgObject(path string, form url.Values, theirs, ours func(tn *tenants) int64, unchanged func(t *testing.T, tn *tenants)) isolationCase {
	return isolationCase{
		attack: func(t *testing.T, tn *tenants) {
			p := strings.ReplaceAll(strings.ReplaceAll(path, "{org}", "acme"), "{id}", strconv.FormatInt(theirs(tn), 10))
			res, body := tn.ownerA.form(p, form)
			wantStatus(t, res, body, http.StatusNotFound)
			unchanged(t, tn)
			rows, _ := tn.a.store.QueryAudit(context.Background(), tn.acme.ID, roomhub.AuditFilter{Limit: 5})
			if len(rows) == 0 || !strings.HasSuffix(rows[0].Action, ".denied") || rows[0].Success {
				t.Fatalf("the attempt is not audited in Acme: %+v", rows)
			}
		},
		own: func(t *testing.T, tn *tenants) {
			p := strings.ReplaceAll(strings.ReplaceAll(path, "{org}", "acme"), "{id}", strconv.FormatInt(ours(tn), 10))
			res, body := tn.ownerA.form(p, form)
			wantStatus(t, res, body, http.StatusOK)
		},
	}
}

// crossOrgAPI is the case of a server API route naming a room: Acme's key
// asks for Globex's room. Both organizations have a room "standup", so the
// name alone must not cross over; Globex has "globex-only", which Acme
// never had.
func crossOrgAPI(method, path string, ownStatus int) isolationCase {
	return isolationCase{
		attack: func(t *testing.T, tn *tenants) {
			tn.partB.enter("globex-only", "Gail")
			p := strings.ReplaceAll(strings.ReplaceAll(path, "{room}", "globex-only"), "{uid}", "1")
			code, body := tn.api(method, p, tn.keyA)
			if code != http.StatusNotFound || strings.Contains(body, "Gail") {
				t.Fatalf("Acme's key on Globex's room: %d %s", code, body)
			}
			if tn.auditCount(tn.acme, strings.TrimSuffix(apiAction(path), "")+".denied") == 0 {
				t.Fatalf("not audited in Acme (%s.denied)", apiAction(path))
			}
			if method == "DELETE" || strings.HasSuffix(path, "/close") {
				// The same room name in Acme holds only Acme's member:
				// Globex's member in its "standup" is untouched.
				p := strings.ReplaceAll(strings.ReplaceAll(path, "{room}", "standup"), "{uid}", strconv.FormatUint(uint64(tn.uidB), 10))
				if code, _ := tn.api(method, p, tn.keyA); method == "DELETE" && code != http.StatusNotFound {
					t.Fatalf("Acme's key kicked by Globex's uid: %d", code)
				}
				if code, body := tn.api("GET", "/api/v1/rooms/standup/members", tn.keyB); code != 200 || !strings.Contains(body, "Bert") {
					t.Fatalf("Globex's member was touched: %d %s", code, body)
				}
			}
		},
		own: func(t *testing.T, tn *tenants) {
			p := strings.ReplaceAll(strings.ReplaceAll(path, "{room}", "standup"), "{uid}", strconv.FormatUint(uint64(tn.uidA), 10))
			code, body := tn.api(method, p, tn.keyA)
			if code != ownStatus {
				t.Fatalf("Acme's key on its own room: %d %s", code, body)
			}
		},
	}
}

func apiAction(path string) string {
	switch {
	case strings.HasSuffix(path, "/members"):
		return "room.members"
	case strings.HasSuffix(path, "/close"):
		return "room.close"
	default:
		return "member.kick"
	}
}

// crossOrgParticipant is the case of a participant route: a session that
// holds Acme's member asks Globex's organization for it.
func crossOrgParticipant(method, path string) isolationCase {
	body := func(tn *tenants, uid uint32) map[string]any {
		return map[string]any{"name": "Anna", "room_name": "standup", "UID": uid}
	}
	return isolationCase{
		attack: func(t *testing.T, tn *tenants) {
			u := &user{a: tn.a, c: tn.partA.c, csrf: tn.partA.csrf, base: "/o/globex"}
			var res *http.Response
			switch method {
			case "GET":
				res, _ = u.get(path + "?room_name=standup&UID=" + strconv.FormatUint(uint64(tn.uidB), 10))
			default:
				res, _ = u.post(path, body(tn, tn.uidA))
			}
			if res.StatusCode != http.StatusNotFound {
				t.Fatalf("Acme's session in Globex: %d", res.StatusCode)
			}
			if rows, _ := tn.a.store.QueryAudit(context.Background(), tn.globex.ID, roomhub.AuditFilter{Limit: 1}); len(rows) == 0 ||
				!strings.HasSuffix(rows[0].Action, ".denied") || rows[0].Success {
				t.Fatalf("the attempt is not audited in Globex: %+v", rows)
			}
			if code, b := tn.api("GET", "/api/v1/rooms/standup/members", tn.keyB); code != 200 || !strings.Contains(b, "Bert") || strings.Contains(b, "Anna") {
				t.Fatalf("Globex's room changed: %s", b)
			}
		},
		own: func(t *testing.T, tn *tenants) {
			var res *http.Response
			switch method {
			case "GET":
				res, _ = tn.partA.get(path + "?room_name=standup&UID=" + strconv.FormatUint(uint64(tn.uidA), 10))
			default:
				res, _ = tn.partA.post(path, body(tn, tn.uidA))
			}
			if res.StatusCode != 200 {
				t.Fatalf("Acme's session in Acme: %d", res.StatusCode)
			}
		},
	}
}

// noTenantObject is the case of a route that names no organization's
// object: it is still checked, to say why.
func noTenantObject(why string, check func(t *testing.T, tn *tenants)) isolationCase {
	return isolationCase{attack: check, own: func(t *testing.T, tn *tenants) { t.Log(why) }}
}

func isolationCases() map[string]isolationCase {
	keyOf := func(b bool) func(tn *tenants) int64 {
		return func(tn *tenants) int64 {
			if b {
				return tn.keyIDB
			}
			return tn.keyIDA
		}
	}
	keyBActive := func(t *testing.T, tn *tenants) {
		if code, _ := tn.api("GET", "/api/v1/rooms", tn.keyB); code != 200 {
			t.Fatalf("Globex's key stopped working: %d", code)
		}
	}
	inviteOf := func(b bool) func(tn *tenants) int64 {
		return func(tn *tenants) int64 {
			if b {
				return tn.inviteB.ID
			}
			return tn.inviteA.ID
		}
	}
	inviteBPending := func(t *testing.T, tn *tenants) {
		inv, _ := tn.a.store.ListInvitations(context.Background(), tn.globex.ID, tn.a.clk.Now())
		if len(inv) != 1 {
			t.Fatalf("Globex's invitation changed: %+v", inv)
		}
	}
	viewerB := func(tn *tenants) int64 { return tn.viewerB.UserID }
	viewerA := func(tn *tenants) int64 {
		u, err := tn.a.store.CreateUser(context.Background(), roomhub.User{Email: "val@acme.example", Name: "Val", CreatedAt: tn.a.clk.Now()})
		if err != nil {
			tn.a.t.Fatal(err)
		}
		if err := tn.a.store.AddMembership(context.Background(), tn.acme.ID, u.ID, roomhub.RoleViewer); err != nil {
			tn.a.t.Fatal(err)
		}
		return u.ID
	}
	viewerBUnchanged := func(t *testing.T, tn *tenants) {
		m, err := tn.a.store.Membership(context.Background(), tn.globex.ID, tn.viewerB.UserID)
		if err != nil || m.Role != roomhub.RoleViewer {
			t.Fatalf("Globex's viewer changed: %+v %v", m, err)
		}
		u, _ := tn.a.store.UserByID(context.Background(), tn.viewerB.UserID)
		if !u.Enrolled() {
			t.Fatal("Globex's viewer lost their second factor")
		}
	}
	public := func(path string) func(t *testing.T, tn *tenants) {
		return func(t *testing.T, tn *tenants) {
			res, body := tn.ownerA.page(path)
			if res.StatusCode >= 500 || strings.Contains(body, "Globex") || strings.Contains(body, "gus@globex") {
				t.Fatalf("%s: %d, or it shows Globex data", path, res.StatusCode)
			}
		}
	}
	token := func(kind string) func(t *testing.T, tn *tenants) {
		return func(t *testing.T, tn *tenants) {
			// The token is the capability; a forged or spent one is 404.
			res, _ := tn.ownerA.page("/" + kind + "/" + strings.Repeat("A", 43))
			if res.StatusCode != http.StatusNotFound {
				t.Fatalf("forged %s token: %d", kind, res.StatusCode)
			}
		}
	}
	c := map[string]isolationCase{
		"GET /healthz":                      noTenantObject("a probe", public("/healthz")),
		"GET /readyz":                       noTenantObject("a probe", public("/readyz")),
		"ANY /static":                       noTenantObject("embedded assets", public("/static/css/roomhub.css")),
		"GET /login":                        noTenantObject("the sign-in form", public("/login")),
		"POST /login":                       noTenantObject("credentials name a user, not an organization; lockout tests cover it", public("/login")),
		"GET /login/2fa":                    noTenantObject("acts on the session's own user", public("/login/2fa")),
		"POST /login/2fa":                   noTenantObject("acts on the session's own user", public("/login/2fa")),
		"GET /2fa/enrol":                    noTenantObject("acts on the session's own user", public("/2fa/enrol")),
		"POST /2fa/enrol":                   noTenantObject("acts on the session's own user; the form is sealed to the session", public("/2fa/enrol")),
		"POST /logout":                      noTenantObject("ends the session's own session", public("/login")),
		"POST /logout/all":                  noTenantObject("ends the session's own user's sessions", public("/login")),
		"GET /auth/sso/{provider}":          noTenantObject("SSO provisioning is tested with the OIDC provider", public("/auth/sso/nope")),
		"GET /auth/sso/{provider}/callback": noTenantObject("SSO provisioning is tested with the OIDC provider", public("/auth/sso/nope/callback")),
		"GET /invite/{token}":               noTenantObject("the unguessable token is the capability", token("invite")),
		"POST /invite/{token}":              noTenantObject("the unguessable token is the capability", token("invite")),
		"GET /reset/{token}":                noTenantObject("the unguessable token is the capability", token("reset")),
		"POST /reset/{token}":               noTenantObject("the unguessable token is the capability", token("reset")),
		"GET /dashboard/": noTenantObject("lists only the user's own memberships", func(t *testing.T, tn *tenants) {
			_, body := tn.ownerA.page("/dashboard/")
			if strings.Contains(body, "Globex") || !strings.Contains(body, "Acme") {
				t.Fatalf("the organization list crosses over: %.600s", body)
			}
		}),
		"GET /dashboard/{org}/":          crossOrgDashboard("GET", "/dashboard/{org}/", nil, http.StatusSeeOther),
		"GET /dashboard/{org}/settings":  crossOrgDashboard("GET", "/dashboard/{org}/settings", nil, 200),
		"GET /dashboard/{org}/users":     crossOrgDashboard("GET", "/dashboard/{org}/users", nil, 200),
		"GET /dashboard/{org}/keys":      crossOrgDashboard("GET", "/dashboard/{org}/keys", nil, 200),
		"GET /dashboard/{org}/audit":     crossOrgDashboard("GET", "/dashboard/{org}/audit", nil, 200),
		"GET /dashboard/{org}/audit.csv": crossOrgDashboard("GET", "/dashboard/{org}/audit.csv", nil, 200),
		"POST /dashboard/{org}/settings/agora": crossOrgDashboard("POST", "/dashboard/{org}/settings/agora",
			url.Values{"app_id": {strings.Repeat("ab", 16)}, "certificate": {strings.Repeat("cd", 16)}}, 200),
		"POST /dashboard/{org}/settings/sso":              crossOrgDashboard("POST", "/dashboard/{org}/settings/sso", url.Values{"sso_domain": {"acme.example"}}, 200),
		"POST /dashboard/{org}/invitations":               crossOrgDashboard("POST", "/dashboard/{org}/invitations", url.Values{"email": {"z@acme.example"}, "role": {"viewer"}}, 200),
		"POST /dashboard/{org}/keys":                      crossOrgDashboard("POST", "/dashboard/{org}/keys", url.Values{"name": {"k"}}, 200),
		"POST /dashboard/{org}/keys/{id}/revoke":          crossOrgObject("/dashboard/{org}/keys/{id}/revoke", nil, keyOf(true), keyOf(false), keyBActive),
		"POST /dashboard/{org}/invitations/{id}/revoke":   crossOrgObject("/dashboard/{org}/invitations/{id}/revoke", nil, inviteOf(true), inviteOf(false), inviteBPending),
		"POST /dashboard/{org}/users/{id}/role":           crossOrgObject("/dashboard/{org}/users/{id}/role", url.Values{"role": {"admin"}}, viewerB, viewerA, viewerBUnchanged),
		"POST /dashboard/{org}/users/{id}/remove":         crossOrgObject("/dashboard/{org}/users/{id}/remove", nil, viewerB, viewerA, viewerBUnchanged),
		"POST /dashboard/{org}/users/{id}/reset-2fa":      crossOrgObject("/dashboard/{org}/users/{id}/reset-2fa", nil, viewerB, viewerA, viewerBUnchanged),
		"POST /dashboard/{org}/users/{id}/reset-password": crossOrgObject("/dashboard/{org}/users/{id}/reset-password", nil, viewerB, viewerA, viewerBUnchanged),
		"GET /api/v1/rooms": {
			attack: func(t *testing.T, tn *tenants) {
				tn.partB.enter("globex-only", "Gail")
				code, body := tn.api("GET", "/api/v1/rooms", tn.keyA)
				if code != 200 || strings.Contains(body, "globex-only") {
					t.Fatalf("Acme's room list shows Globex's room: %s", body)
				}
			},
			own: func(t *testing.T, tn *tenants) {
				if code, body := tn.api("GET", "/api/v1/rooms", tn.keyA); code != 200 || !strings.Contains(body, `"standup"`) {
					t.Fatalf("Acme's own rooms: %d %s", code, body)
				}
			},
		},
		"GET /api/v1/rooms/{room}/members":          crossOrgAPI("GET", "/api/v1/rooms/{room}/members", 200),
		"DELETE /api/v1/rooms/{room}/members/{uid}": crossOrgAPI("DELETE", "/api/v1/rooms/{room}/members/{uid}", 200),
		"POST /api/v1/rooms/{room}/close":           crossOrgAPI("POST", "/api/v1/rooms/{room}/close", 200),
		"GET /":                                     noTenantObject("the lobby is public and shows only its own organization", public("/o/acme/")),
		"GET /room/":                                noTenantObject("the room page holds no data; the WebSocket case covers the roster", public("/o/acme/room/")),
		"GET /get_token/": noTenantObject("issues a uid in the URL's organization to this session only; a grant never crosses (create/delete/ws cases)", func(t *testing.T, tn *tenants) {
			u := &user{a: tn.a, c: tn.partA.c, csrf: tn.partA.csrf, base: "/o/globex"}
			res, m := u.get("/get_token/?channel=standup")
			if res.StatusCode != 200 || m["channel"] == "standup" {
				t.Fatalf("Globex's token for a shared room name uses Acme's channel or fails: %d %v", res.StatusCode, m)
			}
		}),
		"POST /create_member/": crossOrgParticipant("POST", "/create_member/"),
		"GET /get_member/":     crossOrgParticipant("GET", "/get_member/"),
		"POST /delete_member/": crossOrgParticipant("POST", "/delete_member/"),
		"GET /ws/{room}": {
			attack: func(t *testing.T, tn *tenants) {
				u := &user{a: tn.a, c: tn.partA.c, csrf: tn.partA.csrf, base: "/o/globex"}
				_, res, err := u.socket("standup", tn.a.srv.URL)
				if err == nil || res == nil || res.StatusCode != http.StatusNotFound {
					t.Fatalf("Acme's session opened Globex's room socket: %v %v", err, res)
				}
				if tn.auditCount(tn.globex, "websocket.denied") != 1 {
					t.Fatal("the attempt is not audited in Globex")
				}
			},
			own: func(t *testing.T, tn *tenants) {
				ws, _, err := tn.partA.socket("standup", tn.a.srv.URL)
				if err != nil {
					t.Fatal(err)
				}
				snap := readFrame(t, ws)
				if b := snap["members"]; b == nil || strings.Contains(strings.ToLower(fmt.Sprint(b)), "bert") {
					t.Fatalf("Acme's roster: %v", snap)
				}
			},
		},
	}
	for k, v := range liveIsolationCases() {
		c[k] = v
	}
	for k, v := range webhookIsolationCases() {
		c[k] = v
	}
	for k, v := range videoIsolationCases() {
		c[k] = v
	}
	return c
}

// TestTenantIsolation walks every route the server serves and runs its
// isolation case, on each store. A route without a case fails the suite, so
// a new route cannot ship without one.
//
// Each case runs against a fresh pair of organizations, so a case that
// kicks, closes or revokes cannot hide a leak from the next one.
func TestTenantIsolation(t *testing.T) {
	cases := isolationCases()
	pwHash, err := account.HashPassword(testPassword)
	if err != nil {
		t.Fatal(err)
	}
	for _, kind := range sqltest.Kinds() {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			routes := newApp(t).router
			seen := map[string]bool{}
			err := chi.Walk(routes, func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
				route = strings.TrimPrefix(strings.ReplaceAll(route, "/*", ""), "/o/{org}")
				if route == "" {
					route = "/"
				}
				name := method + " " + route
				if route == "/static" {
					name = "ANY /static" // one handler for every method
				}
				if seen[name] {
					return nil // the participant routes are mounted twice
				}
				seen[name] = true
				c, ok := cases[name]
				if !ok {
					t.Errorf("route %s has no tenant-isolation case", name)
					return nil
				}
				t.Run(strings.ReplaceAll(name, "/", "_"), func(t *testing.T) {
					tn := newTenants(t, kind, pwHash)
					c.attack(t, tn)
					c.own(t, tn)
				})
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			for name := range cases {
				if !seen[name] {
					t.Errorf("case %s names no route", name)
				}
			}
		})
	}
}
