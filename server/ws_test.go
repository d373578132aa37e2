package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"roomhub"
)

func itoa(u uint32) string { return strconv.FormatUint(uint64(u), 10) }

// socket opens the room's WebSocket with the user's cookies.
func (u *user) socket(room, origin string) (*websocket.Conn, *http.Response, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	h := http.Header{}
	if origin != "" {
		h.Set("Origin", origin)
	}
	return websocket.Dial(ctx, strings.Replace(u.a.srv.URL, "http", "ws", 1)+u.base+"/ws/"+room, &websocket.DialOptions{HTTPClient: u.c, HTTPHeader: h})
}

func readFrame(t *testing.T, c *websocket.Conn) map[string]any {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, b, err := c.Read(ctx)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	var m map[string]any
	json.Unmarshal(b, &m)
	return m
}

func TestWebSocketParticipantFlow(t *testing.T) {
	a := newApp(t)
	ada, bob := a.browser(""), a.browser("")
	adaUID := ada.enter("standup", "Ada")
	ws, _, err := ada.socket("standup", a.srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	snap := readFrame(t, ws)
	if snap["type"] != "snapshot" || len(snap["members"].([]any)) != 1 {
		t.Fatalf("snapshot %v", snap)
	}
	bobUID := bob.enter("standup", "Bob")
	j := readFrame(t, ws)
	if j["type"] != "join" || j["member"].(map[string]any)["name"] != "Bob" || uint32(j["member"].(map[string]any)["uid"].(float64)) != bobUID {
		t.Fatalf("join %v", j)
	}
	bob.post("/delete_member/", map[string]any{"room_name": "standup", "UID": bobUID})
	l := readFrame(t, ws)
	if l["type"] != "leave" || l["reason"] != "left" || uint32(l["uid"].(float64)) != bobUID {
		t.Fatalf("leave %v", l)
	}
	_ = adaUID
}

func TestWebSocketRefusals(t *testing.T) {
	a := newApp(t)
	ada, eve := a.browser(""), a.browser("")
	ada.enter("standup", "Ada")
	t.Run("forged origin", func(t *testing.T) {
		_, res, err := ada.socket("standup", "https://evil.example")
		if err == nil || res == nil || res.StatusCode != 403 {
			t.Fatalf("cross-site WebSocket: err %v res %v", err, res)
		}
	})
	t.Run("session without a uid in the room", func(t *testing.T) {
		_, res, err := eve.socket("standup", a.srv.URL)
		if err == nil || res == nil || res.StatusCode != 404 {
			t.Fatalf("stranger WebSocket: err %v", err)
		}
	})
	t.Run("uid issued but member not created", func(t *testing.T) {
		eve.token("standup")
		ws, _, err := eve.socket("standup", a.srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, _, err = ws.Read(ctx)
		if websocket.CloseStatus(err) != 4003 {
			t.Fatalf("closed with %v, want 4003", err)
		}
	})
	t.Run("invalid room", func(t *testing.T) {
		_, res, _ := ada.socket("bad%20room", a.srv.URL)
		if res == nil || res.StatusCode != 400 {
			t.Fatalf("invalid room: %v", res)
		}
	})
}

// TestLargeFramesThroughSmallBuffers: frames larger than the socket buffers
// (a snapshot of 120 members is about 6 KiB, a 4 KiB signal) arrive whole,
// both ways.
func TestLargeFramesThroughSmallBuffers(t *testing.T) {
	a := newApp(t)
	for uid := uint32(1); uid <= 120; uid++ {
		m := roomhub.Member{OrgID: 1, Room: "big", UID: uid, Name: "Member number " + itoa(uid), SessionID: "s", JoinedAt: a.clk.Now()}
		if err := a.node.Join(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	u := a.browser("")
	u.enter("big", "Latecomer")
	ws, _, err := u.socket("big", a.srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	if snap := readFrame(t, ws); len(snap["members"].([]any)) != 121 {
		t.Fatalf("snapshot has %d members", len(snap["members"].([]any)))
	}
	text := strings.Repeat("x", 4000)
	ws.Write(context.Background(), websocket.MessageText, []byte(`{"type":"signal","data":{"kind":"chat","text":"`+text+`"}}`))
	sig := readFrame(t, ws)
	if sig["type"] != "signal" || sig["data"].(map[string]any)["text"] != text {
		t.Fatalf("large signal came back as %v", sig["type"])
	}
}
