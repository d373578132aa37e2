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
	"github.com/redis/go-redis/v9"

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
	return startNodeWith(t, p, id, st, hub.Config{})
}

func startNodeWith(t *testing.T, p, id string, st *hubtest.MemberStore, cfg hub.Config) *node {
	b := redisbus.New(client(t), p, id, nil)
	cfg.NodeID, cfg.PingInterval = id, time.Hour
	n := hub.NewNode(cfg, b, st, nil, nil, nil)
	n.Start()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		uid, _ := strconv.ParseUint(r.URL.Query().Get("uid"), 10, 32)
		n.Ensure(r.Context(), hub.Key{Org: 1, Room: "r"}, uint32(uid)) // as the server does
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

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(within); !cond(); {
		if time.Now().After(end) {
			t.Fatalf("not within %v: %s", within, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestReconcileRestoresLostPresence: Redis loses every key (a restart
// with no persistence) while the sockets stay open and the pub/sub
// connection never notices. Within one reconcile interval every connected
// member is a member again, with all its sockets counted, so closing one of
// two sockets does not make it leave after the grace period.
func TestReconcileRestoresLostPresence(t *testing.T) {
	p, st := prefix(t), hubtest.NewMemberStore()
	// A member who never opened a socket leaves after the grace period, so
	// each joins just before its sockets open, with a grace long enough for
	// a loaded machine.
	cfg := hub.Config{ReconcileInterval: 100 * time.Millisecond, Grace: time.Second, ReapInterval: 50 * time.Millisecond}
	a := startNodeWith(t, p, "a", st, cfg)
	b := startNodeWith(t, p, "b", st, cfg) // reaps too
	ctx := context.Background()
	k := hub.Key{Org: 1, Room: "r"}
	join := func(uid uint32) {
		if err := a.n.Join(ctx, roomhub.Member{OrgID: 1, Room: "r", UID: uid, Name: fmt.Sprint("m", uid), JoinedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	join(1)
	first := a.dial(t, 1)
	read(t, first)
	second := a.dial(t, 1)
	read(t, second)
	for _, uid := range []uint32{2, 3} {
		join(uid)
		read(t, b.dial(t, uid)) // members 2 and 3 on node b
	}
	rdb := client(t)
	for it := rdb.Scan(ctx, 0, p+"*", 1000).Iterator(); it.Next(ctx); {
		rdb.Del(ctx, it.Val())
	}
	eventually(t, 3*time.Second, "all three members back in presence", func() bool {
		s, err := b.n.Snapshot(ctx, k)
		return err == nil && len(s.Members) == 3
	})
	if got := a.n.Stats.Restored.Load() + b.n.Stats.Restored.Load(); got != 3 {
		t.Errorf("restored %d members, want 3", got)
	}
	first.Close(websocket.StatusNormalClosure, "")
	time.Sleep(cfg.Grace + 4*cfg.ReapInterval)
	if _, err := a.n.Member(ctx, k, 1); err != nil {
		t.Fatalf("member 1 still has a socket open but left: %v", err)
	}
	// Its remaining socket still gets room events.
	if err := a.n.Join(ctx, roomhub.Member{OrgID: 1, Room: "r", UID: 4, Name: "m4", JoinedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	for {
		f := read(t, second)
		if f.Type == "join" && f.Member.UID == 4 {
			break
		}
	}
}

// TestReapPrunesDeadNodes: a node's heartbeat stays in the nodes set only
// while it may still be alive; dead ones go after a reaper pass.
func TestReapPrunesDeadNodes(t *testing.T) {
	p := prefix(t)
	rdb := client(t)
	bus := redisbus.New(rdb, p, "live", nil)
	t.Cleanup(func() { bus.Close() })
	bus.SetNodeTTL(time.Second)
	ctx := context.Background()
	now := time.Now()
	if err := bus.Heartbeat(ctx, now); err != nil {
		t.Fatal(err)
	}
	rdb.ZAdd(ctx, p+"nodes", redis.Z{Score: float64(now.Add(-time.Hour).UnixMilli()), Member: "gone"})
	if _, err := bus.Reap(ctx, now, time.Second); err != nil {
		t.Fatal(err)
	}
	nodes, err := rdb.ZRange(ctx, p+"nodes", 0, -1).Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes) != 1 || nodes[0] != "live" {
		t.Fatalf("nodes after a reaper pass: %v, want [live]", nodes)
	}
}

// TestReaperCountsFailures: a reaper pass that fails is counted as a
// failure, not as a completed pass, so an alert on completed passes sees a
// reaper that always fails.
func TestReaperCountsFailures(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 100 * time.Millisecond})
	t.Cleanup(func() { rdb.Close() })
	bus := redisbus.New(rdb, prefix(t), "a", nil)
	n := hub.NewNode(hub.Config{ReapInterval: 20 * time.Millisecond}, bus, hubtest.NewMemberStore(), nil, nil, nil)
	n.Start()
	t.Cleanup(func() { n.Shutdown(context.Background()); bus.Close() })
	eventually(t, 3*time.Second, "failed passes counted", func() bool { return n.Stats.ReapFails.Load() >= 2 })
	if got := n.Stats.ReapRuns.Load(); got != 0 {
		t.Fatalf("%d failed passes counted as completed", got)
	}
}

// TestReconnectAfterPresenceLost: a page whose socket dropped while Redis
// restarted empty reconnects; its member, still in the store, is put back
// and the socket gets the room (not 4003, which tells the page to stop),
// and stays through the grace period.
func TestReconnectAfterPresenceLost(t *testing.T) {
	p, st := prefix(t), hubtest.NewMemberStore()
	cfg := hub.Config{Grace: 300 * time.Millisecond, ReapInterval: 50 * time.Millisecond}
	a := startNodeWith(t, p, "a", st, cfg)
	ctx := context.Background()
	if err := a.n.Join(ctx, roomhub.Member{OrgID: 1, Room: "r", UID: 1, Name: "Ada", JoinedAt: time.Now().Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}
	rdb := client(t)
	for it := rdb.Scan(ctx, 0, p+"*", 1000).Iterator(); it.Next(ctx); {
		rdb.Del(ctx, it.Val())
	}
	ws := a.dial(t, 1)
	if f := read(t, ws); f.Type != "snapshot" || len(f.Members) != 1 || f.Members[0].UID != 1 {
		t.Fatalf("after reconnecting: %+v, want a snapshot with the member", f)
	}
	time.Sleep(cfg.Grace + 4*cfg.ReapInterval)
	if _, err := a.n.Member(ctx, hub.Key{Org: 1, Room: "r"}, 1); err != nil {
		t.Fatalf("reconnected member left: %v", err)
	}
}

// TestDropOrphans: Redis lost presence while one member's page was gone.
// The member with a socket is put back by its node; the other is removed
// from the store by a sweep once it has been missing for the grace period
// plus two reconcile intervals, never before (its node may not have
// reconciled yet, or its page may be reconnecting).
func TestDropOrphans(t *testing.T) {
	p, st := prefix(t), hubtest.NewMemberStore()
	a := startNodeWith(t, p, "a", st, hub.Config{ReconcileInterval: 100 * time.Millisecond, Grace: 200 * time.Millisecond})
	ctx := context.Background()
	old := time.Now().Add(-time.Hour)
	members := []roomhub.Member{
		{OrgID: 1, Room: "r", UID: 1, Name: "Ada", JoinedAt: old},
		{OrgID: 1, Room: "r", UID: 2, Name: "Bob", JoinedAt: old},
	}
	for _, m := range members {
		if err := a.n.Join(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	ws := a.dial(t, 1)
	read(t, ws)
	rdb := client(t)
	for it := rdb.Scan(ctx, 0, p+"*", 1000).Iterator(); it.Next(ctx); {
		rdb.Del(ctx, it.Val())
	}
	if n := a.n.DropOrphans(ctx, members); n != 0 {
		t.Fatalf("first sweep removed %d members, want none", n)
	}
	eventually(t, 3*time.Second, "the connected member is back in presence", func() bool {
		_, err := a.n.Member(ctx, hub.Key{Org: 1, Room: "r"}, 1)
		return err == nil
	})
	if n := a.n.DropOrphans(ctx, members); n != 0 {
		t.Fatalf("a sweep within the grace period removed %d members, want none", n)
	}
	time.Sleep(200*time.Millisecond + 2*100*time.Millisecond) // grace + two reconcile intervals
	if n := a.n.DropOrphans(ctx, members); n != 1 {
		t.Fatalf("a sweep after the grace period removed %d members, want 1", n)
	}
	if st.Has(1, "r", 2) {
		t.Error("the member with no socket anywhere is still in the store")
	}
	if !st.Has(1, "r", 1) {
		t.Error("the connected member was removed")
	}
}
