package video_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"roomhub/agora"
	"roomhub/config"
	"roomhub/hub"
	"roomhub/video"
)

// renewAhead is the room page's RENEW_AHEAD: it asks for a token this long
// before the current one expires.
const renewAhead = time.Minute

// TestAgoraDocument holds docs/agora.md to the code: the renewal traffic
// table is what the default token lifetime and the page's renewal lead
// cost with tokens as Roomhub mints them, and the limits named are the
// ones in force.
func TestAgoraDocument(t *testing.T) {
	b, err := os.ReadFile("../docs/agora.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	js, err := os.ReadFile("../ui/static/js/room.js")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(js), fmt.Sprintf("var RENEW_AHEAD = %d;", renewAhead.Milliseconds())) {
		t.Fatal("room.js renews at another lead than this test assumes")
	}
	m := &agora.Minter{AppID: "970ca35de60c44645bbae8a215061b33", Certificate: "5cfd2fd1755d40ecb72977518be15d3b", TTL: config.DefaultAgoraTokenTTL, DefaultOrg: 1}
	perHour := float64(time.Hour) / float64(config.DefaultAgoraTokenTTL-renewAhead)
	const request = len(`{"type":"renew_token"}`) + 6 // masked client frame: 2 header + 4 mask bytes
	for _, tc := range []struct {
		org  int64
		room string
	}{{1, "standup"}, {2, "quarterly-planning-with-the-whole-team"}} {
		tok, err := m.Mint(context.Background(), tc.org, tc.room, 4294967295)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := json.Marshal(map[string]any{"token": *tok.Token, "expires_at": *tok.ExpiresAt})
		frame := len(hub.Render(tc.room, 1234567, hub.TypeToken, body[1:len(body)-1])) + 4 // unmasked, 126 to 65535 bytes: 4 header bytes
		one := request + frame
		row := fmt.Sprintf("| `%s` | %d | %d | %d | %.1f | %.1f KB |", m.Channel(tc.org, tc.room), len(*tok.Token), frame, one, perHour, perHour*float64(one)/1000)
		if !strings.Contains(doc, row) {
			t.Errorf("docs/agora.md lacks the renewal row %s", row)
		}
	}
	for _, phrase := range []string{
		fmt.Sprintf("`AGORA_TOKEN_TTL` defaults to %d minutes", int(config.DefaultAgoraTokenTTL/time.Minute)),
		fmt.Sprintf("at most %d per second per account", video.DefaultRatePerAccount),
		fmt.Sprintf("%d attempts", video.QueueAttempts),
		fmt.Sprintf("%d seconds", int(video.DefaultIntruderGrace/time.Second)),
		fmt.Sprintf("%d bytes", video.DefaultMaxNoticeBytes),
		fmt.Sprintf("after %d minutes", int(video.PendingTimeout/time.Minute)),
	} {
		if !strings.Contains(doc, phrase) {
			t.Errorf("docs/agora.md does not say %q", phrase)
		}
	}
}
