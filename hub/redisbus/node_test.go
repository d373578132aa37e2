package redisbus_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"roomhub"
	"roomhub/hub"
	"roomhub/hub/hubtest"
	"roomhub/hub/redisbus"
)

type node struct {
	n   *hub.Node
	srv *httptest.Server
}

func startNode(t *testing.T, p, id string, st *hubtest.MemberStore) *node {
	b := redisbus.New(client(t), p, id, nil)
	n := hub.NewNode(hub.Config{NodeID: id, PingInterval: time.Hour}, b, st, nil, nil, nil)
	n.Start()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		uid, _ := strconv.ParseUint(r.URL.Query().Get("uid"), 10, 32)
		sock, err := hub.Accept(w, r, nil)
		if err != nil {
			return
		}
		n.Serve(r.Context(), sock, hub.Key{Org: 1, Room: "r"}, uint32(uid))
	}))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		n.Shutdown(ctx)
		srv.Close()
		b.Close()
	})
	return &node{n: n, srv: srv}
}

func (nd *node) dial(t *testing.T, uid uint32) *websocket.Conn {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, strings.Replace(nd.srv.URL, "http", "ws", 1)+"/?uid="+strconv.Itoa(int(uid)), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.CloseNow() })
	return ws
}

type frame struct {
	Type    string       `json:"type"`
	Seq     uint64       `json:"seq"`
	Members []hub.Member `json:"members"`
	Member  hub.Member   `json:"member"`
	From    uint32       `json:"from"`
}

func read(t *testing.T, ws *websocket.Conn) frame {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, b, err := ws.Read(ctx)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	var f frame
	json.Unmarshal(b, &f)
	return f
}

// TestNodesShareRooms: members on three nodes sharing one Redis see every
// join exactly once, in seq order, and each other's signals.
func TestNodesShareRooms(t *testing.T) {
	p, st := prefix(t), hubtest.NewMemberStore()
	nodes := []*node{startNode(t, p, "a", st), startNode(t, p, "b", st), startNode(t, p, "c", st)}
	ctx := context.Background()
	const members = 12
	var socks []*websocket.Conn
	for uid := uint32(1); uid <= members; uid++ {
		nd := nodes[int(uid)%len(nodes)]
		if err := nd.n.Join(ctx, roomhub.Member{OrgID: 1, Room: "r", UID: uid, Name: fmt.Sprint("m", uid), JoinedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
		ws := nd.dial(t, uid)
		snap := read(t, ws)
		if snap.Type != "snapshot" || len(snap.Members) != int(uid) {
			t.Fatalf("member %d's snapshot: %+v", uid, snap)
		}
		socks = append(socks, ws)
	}
	// Member i (1-based) saw the joins of i+1..members, exactly once, in order.
	for i, ws := range socks {
		last := uint64(i + 1)
		for uid := uint32(i + 2); uid <= members; uid++ {
			f := read(t, ws)
			if f.Type != "join" || f.Member.UID != uid || f.Seq != last+1 {
				t.Fatalf("member %d: got %+v, want join of %d at seq %d", i+1, f, uid, last+1)
			}
			last = f.Seq
		}
	}
	// A signal sent on node c reaches a member on node a.
	socks[1].Write(ctx, websocket.MessageText, []byte(`{"type":"signal","data":{"kind":"hand","raised":true}}`))
	for _, ws := range []*websocket.Conn{socks[0], socks[2]} {
		if f := read(t, ws); f.Type != "signal" || f.From != 2 || f.Seq != members+1 {
			t.Fatalf("signal across nodes: %+v", f)
		}
	}
}

// TestLostEventsResynchronise: when a room's sequence jumps (messages lost
// while the subscription was down), every socket gets a fresh snapshot.
func TestLostEventsResynchronise(t *testing.T) {
	p, st := prefix(t), hubtest.NewMemberStore()
	a := startNode(t, p, "a", st)
	ctx := context.Background()
	a.n.Join(ctx, roomhub.Member{OrgID: 1, Room: "r", UID: 1, Name: "Ada", JoinedAt: time.Now()})
	ws := a.dial(t, 1)
	read(t, ws) // snapshot at seq 1
	// Two events published that this node never saw.
	client(t).IncrBy(ctx, p+"seq:{1:r}", 2)
	a.n.Join(ctx, roomhub.Member{OrgID: 1, Room: "r", UID: 2, Name: "Bob", JoinedAt: time.Now()})
	for {
		f := read(t, ws)
		if f.Type == "snapshot" {
			if len(f.Members) != 2 || f.Seq != 4 {
				t.Fatalf("resync snapshot %+v", f)
			}
			return
		}
		if f.Type != "join" {
			t.Fatalf("unexpected %+v", f)
		}
	}
}
