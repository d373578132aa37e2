package server_test

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"

	"roomhub"
	"roomhub/server/web"
)

func participantCookie(u *user) string {
	base, _ := url.Parse(u.a.srv.URL)
	for _, c := range u.c.Jar.Cookies(base) {
		if c.Name == web.SessionCookie {
			return c.Value
		}
	}
	return ""
}

func plant(u *user, name, value string) {
	base, _ := url.Parse(u.a.srv.URL)
	u.c.Jar.SetCookies(base, []*http.Cookie{{Name: name, Value: value, Path: "/"}})
}

// TestClientChosenSessionIdsAreNotAdopted: a well-formed roomhub_session the
// server never issued (any length the server ever used) is replaced by a
// fresh server-issued id, so an attacker who planted it owns nothing the
// victim does afterwards.
func TestClientChosenSessionIdsAreNotAdopted(t *testing.T) {
	a := newApp(t)
	for _, size := range []int{32, 48} {
		t.Run(fmt.Sprint(size, " bytes"), func(t *testing.T) {
			b := make([]byte, size)
			rand.Read(b)
			planted := base64.RawURLEncoding.EncodeToString(b)
			jar, _ := cookiejar.New(nil)
			victim := &user{a: a, c: &http.Client{Jar: jar}}
			plant(victim, web.SessionCookie, planted)
			res, body := victim.do("GET", "/", nil, map[string]string{"Accept": "text/html"})
			wantStatus(t, res, body, 200)
			if got := participantCookie(victim); got == planted || got == "" {
				t.Fatalf("the planted session id was kept (cookie %q)", got)
			}
			uid := victim.enter("standup", "Vic")

			// The attacker, holding the planted id and the token the
			// lobby gives for it, cannot touch the victim's member.
			attacker := &user{a: a, c: &http.Client{Jar: must(cookiejar.New(nil))}}
			plant(attacker, web.SessionCookie, planted)
			_, page := attacker.do("GET", "/", nil, map[string]string{"Accept": "text/html"})
			attacker.csrf = csrfMeta.FindStringSubmatch(page)[1]
			res, m := attacker.post("/delete_member/", map[string]any{"name": "Vic", "room_name": "standup", "UID": uid})
			if res.StatusCode == 200 {
				t.Fatalf("the planted session deleted the victim's member: %v", m)
			}
			if mem, err := a.store.GetMember(t.Context(), 1, "standup", uid); err != nil || mem.Name != "Vic" {
				t.Fatalf("victim's member after the attack: %+v %v", mem, err)
			}
		})
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestDashboardCSRFBoundToDashboardSession: an attacker who knows a
// participant cookie and its CSRF token (from the lobby) plants the cookie
// in a signed-in owner's browser; the token does not let a forged form
// act on the dashboard.
func TestDashboardCSRFBoundToDashboardSession(t *testing.T) {
	a := newApp(t)
	acme := a.org("acme")
	owner := a.signedIn(acme, "ada@acme.example", roomhub.RoleOwner)
	attacker := a.browser("")
	planted, known := participantCookie(attacker), attacker.csrf
	plant(owner.user, web.SessionCookie, planted)
	res, body := owner.do("POST", "/dashboard/acme/keys", strings.NewReader(url.Values{"name": {"exfil"}, "csrf_token": {known}}.Encode()),
		map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Origin": a.srv.URL})
	if res.StatusCode != http.StatusForbidden || !strings.Contains(body, "CSRF") {
		t.Fatalf("a token bound to the participant cookie acted on the dashboard: %d %.300s", res.StatusCode, body)
	}
	// The owner's own page token still works.
	owner.refreshCSRF("/dashboard/acme/keys")
	res, body = owner.form("/dashboard/acme/keys", url.Values{"name": {"mine"}})
	wantStatus(t, res, body, 200)
}
