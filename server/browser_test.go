package server_test

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// browserTimeout bounds each step a person would wait for.
const browserTimeout = 10 * time.Second

// chromium starts one headless Chromium for a test. The tests need it: make
// test installs it, and its absence is a failure, never a skip.
func chromium(t *testing.T) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("chromium is not installed; run `make test-deps` (Debian package chromium)")
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		chromedp.Flag("use-fake-device-for-media-stream", true),
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	browser, cancelBrowser := chromedp.NewContext(alloc)
	if err := chromedp.Do(browser); err != nil { // starts the browser
		t.Fatalf("start chromium: %v", err)
	}
	t.Cleanup(func() { cancelBrowser(); cancelAlloc() })
	return browser
}

// tab opens a tab in a browser context of its own: its own cookies, as a
// second person on another computer.
func tab(t *testing.T, browser context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	// The page's console errors and uncaught exceptions go to the test log.
	err := chromedp.Listen(ctx, func(ev any) {
		switch e := ev.(type) {
		case *runtime.EventExceptionThrown:
			d := e.ExceptionDetails
			desc := d.Text
			if d.Exception != nil {
				desc += " " + d.Exception.Description
			}
			t.Logf("page exception: %s at %s:%d", desc, d.URL, d.LineNumber)
		case *runtime.EventConsoleAPICalled:
			if e.Type == "error" || e.Type == "warning" {
				var parts []string
				for _, a := range e.Args {
					parts = append(parts, string(a.Value)+a.Description)
				}
				t.Logf("page console %s: %s", e.Type, strings.Join(parts, " "))
			}
		}
	})
	if err != nil {
		t.Fatalf("open tab: %v", err)
	}
	return ctx, cancel
}

func step(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, browserTimeout)
	defer cancel()
	if err := chromedp.Do(c, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// rosterNames reads the names shown in a tab's roster.
const rosterNames = `Array.from(document.querySelectorAll("#roster li[data-uid]")).map(li => li.textContent).join("|")`

// waitRoster waits until the tab's roster shows exactly names (any order).
func waitRoster(t *testing.T, ctx context.Context, names ...string) {
	t.Helper()
	var checks []string
	for _, n := range names {
		checks = append(checks, fmt.Sprintf("(%s).includes(%q)", rosterNames, n))
	}
	expr := fmt.Sprintf("document.querySelectorAll('#roster li[data-uid]').length === %d && %s", len(names), strings.Join(checks, " && "))
	c, cancel := context.WithTimeout(ctx, browserTimeout)
	defer cancel()
	if _, err := chromedp.Run(c, chromedp.Poll[bool](expr, chromedp.WithPollingInterval(20*time.Millisecond))); err != nil {
		dctx, dcancel := context.WithTimeout(ctx, 2*time.Second)
		defer dcancel()
		got, _ := chromedp.Run(dctx, chromedp.Evaluate[string](`location.href + " :: " + document.body.innerText`))
		t.Fatalf("roster does not show exactly %v: %v\npage: %s", names, err, got)
	}
}

func joinFromLobby(t *testing.T, ctx context.Context, base, room, name string) {
	t.Helper()
	step(t, ctx, name+" joins from the lobby",
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible("#room"),
		chromedp.SendKeys("#room", room),
		chromedp.SendKeys("#name", name),
		chromedp.Click("#join"),
		chromedp.WaitVisible("#roster"),
	)
}

func TestBrowserTwoPeopleSeeEachOther(t *testing.T) {
	a := newApp(t)
	browser := chromium(t)
	ada, _ := tab(t, browser)
	bob, closeBob := tab(t, browser)

	joinFromLobby(t, ada, a.srv.URL, "standup", "Ada Lovelace")
	waitRoster(t, ada, "Ada Lovelace")
	step(t, ada, "video status", chromedp.Poll[chromedp.Void](`document.getElementById("video-status").textContent.includes("not configured")`))

	// Bob's markup is refused by the lobby's validation, as by the server.
	step(t, bob, "Bob types a name with markup",
		chromedp.Navigate(a.srv.URL+"/"),
		chromedp.WaitVisible("#room"),
		chromedp.SendKeys("#room", "standup"),
		chromedp.SendKeys("#name", "Bob <b>Builder</b>"),
		chromedp.Click("#join"),
		chromedp.Poll[chromedp.Void](`!document.getElementById("name-error").hidden`),
	)
	step(t, bob, "fix the name",
		chromedp.Evaluate[chromedp.Void](`document.getElementById("name").value = ""`),
		chromedp.SendKeys("#name", "Bob   Builder"),
		chromedp.Click("#join"),
		chromedp.WaitVisible("#roster"),
	)
	waitRoster(t, bob, "Ada Lovelace", "Bob Builder")
	waitRoster(t, ada, "Ada Lovelace", "Bob Builder")

	// Bob raises his hand; Ada sees it.
	step(t, bob, "raise hand", chromedp.WaitEnabled("#raise-hand"), chromedp.Click("#raise-hand"))
	step(t, ada, "Ada sees the raised hand", chromedp.Poll[chromedp.Void](`Array.from(document.querySelectorAll("#roster li[data-uid]")).some(li => li.textContent.includes("Bob") && li.getAttribute("data-hand") === "raised")`))

	// Bob closes his tab: he leaves Ada's roster, at once when the page's
	// beacon gets out, or when his grace period ends if it does not (a
	// closing tab may not send it; the server's fake clock stands in for
	// the 15 seconds).
	closeBob()
	waitUntil(t, func() bool { return a.node.Stats.Conns.Load() == 1 })
	a.clk.Advance(a.cfg.MemberGrace + 2*time.Second)
	waitRoster(t, ada, "Ada Lovelace")

	// Ada leaves with the button: back to the lobby, and no member remains.
	step(t, ada, "Ada leaves", chromedp.Click("#leave"), chromedp.WaitVisible("#join-form"))
	waitUntil(t, func() bool {
		ms, err := a.store.ListMembers(context.Background(), 1, "standup")
		return err == nil && len(ms) == 0
	})
}

// waitUntil polls a server-side condition the browser's actions lead to.
func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(browserTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
