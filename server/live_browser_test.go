package server_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"roomhub/server/web"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/coder/websocket"

	"roomhub"
)

// LiveUpdateWithin is how soon the live page must show a change.
const LiveUpdateWithin = time.Second

// signedInTab opens a tab carrying ad's dashboard session cookie.
func signedInTab(t *testing.T, a *app, ad *admin) context.Context {
	t.Helper()
	ctx, _ := tab(t, chromium(t))
	u, _ := url.Parse(a.srv.URL)
	var cookie *http.Cookie
	for _, c := range ad.c.Jar.Cookies(u) {
		if c.Name == web.UserSessionCookie {
			cookie = c
		}
	}
	if cookie == nil {
		t.Fatal("the admin has no dashboard session")
	}
	step(t, ctx, "carry the dashboard session", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, network.SetCookie, network.SetCookieParams{Name: cookie.Name, Value: cookie.Value, URL: a.srv.URL + "/", HTTPOnly: new(true)})
		return err
	}))
	return ctx
}

// waitPage waits until expr is true in the tab, for at most within.
func waitPage(t *testing.T, ctx context.Context, what, expr string, within time.Duration) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, within+browserTimeout)
	defer cancel()
	if _, err := chromedp.Run(c, chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingTimeout(within), chromedp.WithPollingInterval(20*time.Millisecond))); err != nil {
		t.Fatalf("%s: not shown within %v: %v", what, within, err)
	}
}

func roster(room string) string {
	return fmt.Sprintf(`Array.from(document.querySelectorAll("#room-%s .roster li .member-name")).map(e => e.textContent).sort().join(",")`, room)
}

// TestBrowserLiveRooms: an owner watches the live rooms page in Chromium
// while real WebSocket participants come and go: every join and leave shows
// within a second, three rooms in use are photographed for the docs, a kick
// from the page removes the member from every other participant's roster,
// and the page fits a phone.
func TestBrowserLiveRooms(t *testing.T) {
	a := newApp(t)
	acme := a.org("acme")
	owner := a.signedIn(acme, "ada@acme.example", roomhub.RoleOwner)
	ctx := signedInTab(t, a, owner)
	step(t, ctx, "open the live rooms page",
		chromedp.EmulateViewport(1200, 800),
		chromedp.Navigate(a.srv.URL+"/dashboard/acme/live"),
		chromedp.WaitVisible("#live-title"),
	)
	// Wait for the page's EventSource (kept by htmx-ext-sse in the
	// element's htmx data) to be open.
	waitPage(t, ctx, "the stream connects", `(() => { const d = document.querySelector("[sse-connect]")["htmx-internal-data"];
		return !!(d && d.sseEventSource && d.sseEventSource.readyState === 1); })()`, 5*time.Second)

	ann, bob := a.browser("/o/acme"), a.browser("/o/acme")
	ann.enter("standup", "Ann")
	annWS, _, err := ann.socket("standup", a.srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	readFrame(t, annWS)
	waitPage(t, ctx, "Ann's join", roster("standup")+` === "Ann"`, LiveUpdateWithin)

	bobUID := bob.enter("standup", "Bob")
	bobWS, _, err := bob.socket("standup", a.srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	readFrame(t, bobWS)
	readFrame(t, annWS) // Bob's join
	waitPage(t, ctx, "Bob's join", roster("standup")+` === "Ann,Bob"`, LiveUpdateWithin)

	cat, dan, eve := a.browser("/o/acme"), a.browser("/o/acme"), a.browser("/o/acme")
	cat.enter("design-review", "Cat")
	danUID := dan.enter("retro", "Dan")
	eve.enter("retro", "Eve")
	waitPage(t, ctx, "three rooms", `document.querySelectorAll("#rooms .room-card").length === 3 && `+roster("retro")+` === "Dan,Eve"`, LiveUpdateWithin)
	if dir := os.Getenv("ROOMHUB_SCREENSHOTS"); dir != "" {
		c, cancel := context.WithTimeout(ctx, browserTimeout)
		png, err := chromedp.Run(c, chromedp.FullScreenshot(100))
		cancel()
		if err != nil {
			t.Fatalf("photograph the page: %v", err)
		}
		if err := os.WriteFile(filepath.Join(dir, "live-rooms.png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// Dan leaves through the lobby's delete_member: his row goes.
	if res, _ := dan.post("/delete_member/", map[string]any{"name": "Dan", "room_name": "retro", "UID": danUID}); res.StatusCode != 200 {
		t.Fatalf("delete_member: %d", res.StatusCode)
	}
	waitPage(t, ctx, "Dan's leave", roster("retro")+` === "Eve"`, LiveUpdateWithin)

	// Kick Bob from the page.
	step(t, ctx, "kick Bob",
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := chromedp.Evaluate[bool](`(window.confirm = () => true, true)`)(ctx, tg)
			return err
		}),
		chromedp.Click(fmt.Sprintf(`#room-standup li[data-uid="%d"] button`, bobUID)),
	)
	waitPage(t, ctx, "the kick", roster("standup")+` === "Ann"`, LiveUpdateWithin)
	if f := readFrame(t, annWS); f["type"] != "leave" || f["reason"] != "kicked" || fmt.Sprint(f["uid"]) != fmt.Sprint(float64(bobUID)) {
		t.Fatalf("Ann's roster update: %v", f)
	}
	c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for {
		if _, _, err := bobWS.Read(c); err != nil {
			if websocket.CloseStatus(err) != 4001 {
				t.Fatalf("Bob's socket: %v", err)
			}
			break
		}
	}

	// Kicking someone who already left says so on the page.
	step(t, ctx, "kick Eve after she left",
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			// Eve leaves between the page showing her and the click.
			_, err := chromedp.Evaluate[bool](`(() => { const b = document.querySelector('#room-retro li button'); window.__kick = b; return true; })()`)(ctx, tg)
			return err
		}),
	)
	if res, _ := eve.post("/delete_member/", map[string]any{"name": "Eve", "room_name": "retro", "UID": mustUID(t, a, acme.ID, "retro")}); res.StatusCode != 200 {
		t.Fatalf("Eve's leave: %d", res.StatusCode)
	}
	step(t, ctx, "click the stale kick button",
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := chromedp.Evaluate[bool](`(window.__kick.click(), true)`)(ctx, tg)
			return err
		}),
	)
	waitPage(t, ctx, "the error shown", `!document.getElementById("live-error").hidden && document.getElementById("live-error").textContent.includes("no longer there")`, LiveUpdateWithin)

	// The last one out: the room's card goes.
	cat.post("/delete_member/", map[string]any{"name": "Cat", "room_name": "design-review", "UID": mustUID(t, a, acme.ID, "design-review")})
	waitPage(t, ctx, "an empty room removed", `document.getElementById("room-design-review") === null && document.getElementById("room-retro") === null && document.querySelectorAll("#rooms .room-card").length === 1`, LiveUpdateWithin)

	// On a phone the page fits the width: nothing scrolls sideways.
	step(t, ctx, "a phone-sized viewport", chromedp.EmulateViewport(390, 844))
	if w := evalIn[bool](t, ctx, `document.documentElement.scrollWidth <= window.innerWidth`); !w {
		t.Fatal("the live page scrolls sideways on a phone")
	}
}

// mustUID returns the uid of the only member of room.
func mustUID(t *testing.T, a *app, org int64, room string) uint32 {
	t.Helper()
	ms, err := a.store.ListMembers(context.Background(), org, room)
	if err != nil || len(ms) != 1 {
		t.Fatalf("members of %s: %v %v", room, ms, err)
	}
	return ms[0].UID
}
