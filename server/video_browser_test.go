package server_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"roomhub"
	"roomhub/config"
	"roomhub/video/agoratest"
)

// VideoRemovalWithin is how soon a kick must take the member out of the
// Agora channel and the live page must say so.
const VideoRemovalWithin = 5 * time.Second

// TestBrowserVideoModeration: an owner watches the live page in Chromium.
// Ann and Bob join the room and its (fake) Agora channel: both show "in
// video". The owner kicks Bob from the page: within seconds he is out of
// the channel, cannot rejoin it, and the page says "removed from video".
// Then a uid with no member behind it joins the channel: the page shows it
// as an intruder.
func TestBrowserVideoModeration(t *testing.T) {
	a, fake := withAgora(t)
	acme := a.org("acme")
	owner := a.signedIn(acme, "ada@acme.example", roomhub.RoleOwner)
	ctx := signedInTab(t, a, owner)
	step(t, ctx, "open the live rooms page",
		chromedp.EmulateViewport(1200, 800),
		chromedp.Navigate(a.srv.URL+"/dashboard/acme/live"),
		chromedp.WaitVisible("#live-title"),
	)
	waitPage(t, ctx, "the stream connects", `(() => { const d = document.querySelector("[sse-connect]")["htmx-internal-data"];
		return !!(d && d.sseEventSource && d.sseEventSource.readyState === 1); })()`, 5*time.Second)

	ch := channelOf(acme, "standup")
	annUID := a.browser("/o/acme").enter("standup", "Ann")
	bobUID := a.browser("/o/acme").enter("standup", "Bob")
	for _, uid := range []uint32{annUID, bobUID} {
		if err := fake.Join(ch, uid); err != nil {
			t.Fatal(err)
		}
	}
	badge := func(uid uint32) string {
		return fmt.Sprintf(`(document.querySelector('#room-standup li[data-uid="%d"] .badge.video') || {}).textContent`, uid)
	}
	waitPage(t, ctx, "both in video", badge(annUID)+` === "in video" && `+badge(bobUID)+` === "in video"`, 3*time.Second)

	step(t, ctx, "kick Bob",
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := chromedp.Evaluate[bool](`(window.confirm = () => true, true)`)(ctx, tg)
			return err
		}),
		chromedp.Click(fmt.Sprintf(`#room-standup li[data-uid="%d"] button`, bobUID)),
	)
	deadline := time.Now().Add(VideoRemovalWithin)
	for fake.In(ch, bobUID) {
		if time.Now().After(deadline) {
			t.Fatalf("Bob still in the Agora channel %v after the kick", VideoRemovalWithin)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := fake.Join(ch, bobUID); err == nil {
		t.Fatal("Bob rejoined the video after the kick")
	}
	waitPage(t, ctx, "the removal on the page", fmt.Sprintf(`(() => { const li = document.querySelector('#video-actions li[data-uid="%d"]');
		return !!li && li.dataset.status === "removed" && li.textContent.includes("Bob") && li.textContent.includes("removed from video"); })()`, bobUID), VideoRemovalWithin)
	if !fake.In(ch, annUID) {
		t.Fatal("Ann left the video too")
	}

	if err := fake.Join(ch, 31337); err != nil {
		t.Fatal(err)
	}
	waitPage(t, ctx, "the intruder", `(() => { const li = document.querySelector('#room-standup .intruder[data-uid="31337"]');
		return !!li && li.textContent.includes("31337"); })()`, 3*time.Second)
	waitPage(t, ctx, "Ann still in video, Bob gone", badge(annUID)+` === "in video" && !document.querySelector('#room-standup li[data-uid="`+fmt.Sprint(bobUID)+`"]')`, time.Second)
	if dir := os.Getenv("ROOMHUB_SCREENSHOTS"); dir != "" {
		c, cancel := context.WithTimeout(ctx, browserTimeout)
		png, err := chromedp.Run(c, chromedp.FullScreenshot(100))
		cancel()
		if err != nil {
			t.Fatalf("photograph the page: %v", err)
		}
		if err := os.WriteFile(filepath.Join(dir, "live-video.png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestBrowserRoomShowsWhoIsInVideo: Agora reports Ada joining and then
// leaving the room's video; her room page in Chromium marks her "in
// video" and then no longer, from the hub's video frames.
func TestBrowserRoomShowsWhoIsInVideo(t *testing.T) {
	a := newApp(t, func(c *config.Config) { c.AgoraNCSSecret = testNCSSecret })
	fake := agoratest.New(testCustomerID, testCustomerSecret, testAppID)
	t.Cleanup(fake.Close)
	fake.NotifyURL, fake.NCSSecret = a.srv.URL+"/agora/ncs", testNCSSecret
	ada, _ := tab(t, chromium(t))
	joinFromLobby(t, ada, a.srv.URL, "standup", "Ada Lovelace")
	waitRoster(t, ada, "Ada Lovelace")
	var uid uint32
	waitUntil(t, func() bool {
		ms, err := a.store.ListMembers(context.Background(), 1, "standup")
		if err == nil && len(ms) == 1 {
			uid = ms[0].UID
		}
		return uid != 0 && a.node.Stats.Conns.Load() == 1
	})
	marked := fmt.Sprintf(`(() => { const li = document.querySelector('#roster li[data-uid="%d"]'); return !!li && li.getAttribute("data-video") === "in" && li.textContent.includes("in video"); })()`, uid)
	if err := fake.Join("standup", uid); err != nil {
		t.Fatal(err)
	}
	waitPage(t, ada, "Ada marked in video", marked, 3*time.Second)
	fake.Leave("standup", uid)
	waitPage(t, ada, "the mark gone", "!"+marked, 3*time.Second)
}
