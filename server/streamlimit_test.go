package server_test

import (
	"net/http"
	"testing"

	"roomhub"
	"roomhub/config"
)

// TestLiveStreamLimitsPerUserAndOrg replays the attack: one viewer opens
// streams until refused. She is stopped at her own limit, her
// organization at its limit, and every other user and organization still
// gets a live page.
func TestLiveStreamLimitsPerUserAndOrg(t *testing.T) {
	a := newApp(t, func(c *config.Config) {
		c.MaxLiveStreams = 100
		c.MaxLiveStreamsPerUser = 2
		c.MaxLiveStreamsPerOrg = 3
	})
	acme, other := a.org("acme"), a.org("other")
	eve := a.signedIn(acme, "eve@acme.example", roomhub.RoleViewer)
	ada := a.signedIn(acme, "ada@acme.example", roomhub.RoleOwner)
	bob := a.signedIn(acme, "bob@acme.example", roomhub.RoleViewer)
	zed := a.signedIn(other, "zed@other.example", roomhub.RoleViewer)
	const acmeLive, otherLive = "/dashboard/acme/live/events", "/dashboard/other/live/events"

	for range 2 {
		eve.stream(acmeLive).next(t, "eve's snapshot")
	}
	for range 3 { // past her own limit, again and again
		if res, body := eve.do("GET", acmeLive, nil, map[string]string{"Accept": "text/event-stream"}); res.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("eve's third stream: %d %.200s", res.StatusCode, body)
		}
	}
	ada.stream(acmeLive).next(t, "another user of the organization")
	if res, body := bob.do("GET", acmeLive, nil, map[string]string{"Accept": "text/event-stream"}); res.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("a fourth stream in the organization: %d %.200s", res.StatusCode, body)
	}
	zed.stream(otherLive).next(t, "another organization's live page")
}
