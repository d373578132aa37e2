package hub_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"roomhub"
	"roomhub/clock"
	"roomhub/hub"
	"roomhub/hub/hubtest"
	"roomhub/hub/memory"
)

// wait bounds every read in these tests; nothing here sleeps.
const wait = 5 * time.Second

type fixedTokens struct{}

func (fixedTokens) Mint(_ context.Context, org int64, room string, uid uint32) (hub.Token, error) {
	t, exp := fmt.Sprintf("tok-%d-%s-%d", org, room, uid), int64(1234)
	return hub.Token{Token: &t, ExpiresAt: &exp}, nil
}

type env struct {
	node  *hub.Node
	bus   *memory.Bus
	store *hubtest.MemberStore
	clk   *clock.Fake
	srv   *httptest.Server
}

func newEnv(t testing.TB, cfg hub.Config) *env {
	t.Helper()
	e := newEnvNoCleanup(t, cfg)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		e.node.Shutdown(ctx)
		e.srv.Close()
	})
	return e
}

// newEnvNoCleanup is newEnv for a test that shuts the node down itself.
func newEnvNoCleanup(t testing.TB, cfg hub.Config) *env {
	t.Helper()
	e := &env{bus: memory.New(), store: hubtest.NewMemberStore(), clk: clock.NewFake(time.Unix(1_700_000_000, 0))}
	if cfg.PingInterval == 0 {
		cfg.PingInterval = 1000 * time.Hour // pings have their own test
	}
	e.node = hub.NewNode(cfg, e.bus, e.store, fixedTokens{}, e.clk, nil)
	e.node.Start()
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		uid, _ := strconv.ParseUint(r.URL.Query().Get("uid"), 10, 32)
		sock, err := hub.Accept(w, r, nil)
		if err != nil {
			return
		}
		e.node.Serve(r.Context(), sock, hub.Key{Org: 1, Room: r.URL.Query().Get("room")}, uint32(uid))
	}))
	return e
}

func (e *env) join(t *testing.T, room string, uid uint32, name string) {
	t.Helper()
	err := e.node.Join(context.Background(), roomhub.Member{OrgID: 1, Room: room, UID: uid, Name: name, JoinedAt: e.clk.Now()})
	if err != nil {
		t.Fatalf("join %d: %v", uid, err)
	}
}

type client struct {
	t  testing.TB
	ws *websocket.Conn
}

func (e *env) dial(t testing.TB, room string, uid uint32) *client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	u := strings.Replace(e.srv.URL, "http", "ws", 1) + fmt.Sprintf("/?room=%s&uid=%d", room, uid)
	ws, _, err := websocket.Dial(ctx, u, nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	ws.SetReadLimit(1 << 20)
	t.Cleanup(func() { ws.CloseNow() })
	return &client{t: t, ws: ws}
}

type frame struct {
	Type    string          `json:"type"`
	Room    string          `json:"room"`
	Seq     uint64          `json:"seq"`
	Members []hub.Member    `json:"members"`
	Member  hub.Member      `json:"member"`
	UID     uint32          `json:"uid"`
	Reason  string          `json:"reason"`
	From    uint32          `json:"from"`
	Data    json.RawMessage `json:"data"`
	Token   string          `json:"token"`
	Code    string          `json:"code"`
}

func (c *client) next() (frame, error) {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	_, b, err := c.ws.Read(ctx)
	if err != nil {
		return frame{}, err
	}
	var f frame
	if err := json.Unmarshal(b, &f); err != nil {
		c.t.Fatalf("frame %q: %v", b, err)
	}
	return f, nil
}

func (c *client) must(typ string) frame {
	c.t.Helper()
	f, err := c.next()
	if err != nil {
		c.t.Fatalf("waiting for %s: %v", typ, err)
	}
	if f.Type != typ {
		c.t.Fatalf("got %s frame %+v, want %s", f.Type, f, typ)
	}
	return f
}

func (c *client) send(v string) {
	c.t.Helper()
	if err := c.ws.Write(context.Background(), websocket.MessageText, []byte(v)); err != nil {
		c.t.Fatal(err)
	}
}

// closed waits for the server to close the socket and returns the code.
func (c *client) closed() websocket.StatusCode {
	c.t.Helper()
	for {
		_, err := c.next()
		if err != nil {
			return websocket.CloseStatus(err)
		}
	}
}

func TestTwoMembersSeeEachOtherInOrder(t *testing.T) {
	e := newEnv(t, hub.Config{})
	e.join(t, "r", 1, "Ada")
	a := e.dial(t, "r", 1)
	snap := a.must("snapshot")
	if len(snap.Members) != 1 || snap.Members[0].Name != "Ada" || snap.Seq != 1 || snap.Room != "r" {
		t.Fatalf("first snapshot %+v", snap)
	}
	e.join(t, "r", 2, "Bob")
	if j := a.must("join"); j.Member.UID != 2 || j.Member.Name != "Bob" || j.Seq != 2 {
		t.Fatalf("join %+v", j)
	}
	b := e.dial(t, "r", 2)
	if s := b.must("snapshot"); len(s.Members) != 2 || s.Seq != 2 {
		t.Fatalf("second snapshot %+v", s)
	}
	b.send(`{"type":"signal","data":{"kind":"hand","raised":true}}`)
	for _, c := range []*client{a, b} {
		s := c.must("signal")
		if s.From != 2 || string(s.Data) != `{"kind":"hand","raised":true}` || s.Seq != 3 {
			t.Fatalf("signal %+v", s)
		}
	}
	if _, err := e.node.Leave(context.Background(), hub.Key{Org: 1, Room: "r"}, 2, hub.ReasonLeft); err != nil {
		t.Fatal(err)
	}
	if l := a.must("leave"); l.UID != 2 || l.Reason != "left" || l.Seq != 4 {
		t.Fatalf("leave %+v", l)
	}
	// The member who left is told, then their socket closes: do not reconnect.
	b.must("leave")
	if code := b.closed(); code != hub.CloseNotMember {
		t.Fatalf("leaver's socket closed with %d", code)
	}
	if e.store.Has(1, "r", 2) || !e.store.Has(1, "r", 1) {
		t.Fatal("store out of step with presence")
	}
}

func TestGracePeriodExpiry(t *testing.T) {
	e := newEnv(t, hub.Config{Grace: 15 * time.Second, ReapInterval: time.Second})
	e.join(t, "r", 1, "Ada")
	e.join(t, "r", 2, "Bob")
	e.join(t, "r", 3, "Cy") // never connects
	a := e.dial(t, "r", 1)
	a.must("snapshot")
	b := e.dial(t, "r", 2)
	b.must("snapshot")
	e.clk.Advance(5 * time.Second)
	b.ws.Close(websocket.StatusNormalClosure, "tab closed") // at t0+5s
	waitFor(t, func() bool { return e.node.Stats.Conns.Load() == 1 })

	// Cy joined at t0 and never connected: gone at t0+15s, Bob not yet.
	e.clk.Advance(10 * time.Second)
	if l := a.must("leave"); l.UID != 3 || l.Reason != "expired" {
		t.Fatalf("first leave %+v", l)
	}
	// Bob's socket closed at t0+5s: gone at t0+20s.
	e.clk.Advance(4 * time.Second)
	if s, _ := e.node.Snapshot(context.Background(), hub.Key{Org: 1, Room: "r"}); len(s.Members) != 2 {
		t.Fatalf("Bob left before his grace period ended: %+v", s.Members)
	}
	e.clk.Advance(time.Second)
	if l := a.must("leave"); l.UID != 2 || l.Reason != "disconnected" {
		t.Fatalf("second leave %+v", l)
	}
	if e.store.Has(1, "r", 2) || e.store.Has(1, "r", 3) {
		t.Fatal("expired members remain in the store")
	}
	// Ada is connected: she stays however long.
	e.clk.Advance(time.Hour)
	if s, _ := e.node.Snapshot(context.Background(), hub.Key{Org: 1, Room: "r"}); len(s.Members) != 1 {
		t.Fatalf("members after an hour: %+v", s.Members)
	}
}

func TestReconnectWithinGraceKeepsMember(t *testing.T) {
	e := newEnv(t, hub.Config{Grace: 15 * time.Second})
	e.join(t, "r", 1, "Ada")
	e.join(t, "r", 2, "Bob")
	a := e.dial(t, "r", 1)
	a.must("snapshot")
	b := e.dial(t, "r", 2)
	b.must("snapshot")
	b.ws.CloseNow()
	waitFor(t, func() bool { return e.node.Stats.Conns.Load() == 1 })
	e.clk.Advance(10 * time.Second)
	b = e.dial(t, "r", 2)
	b.must("snapshot")
	e.clk.Advance(time.Minute)
	// No leave: the next frame Ada sees is a signal sent after the minute.
	b.send(`{"type":"signal","data":{"kind":"chat","text":"still here"}}`)
	if f := a.must("signal"); f.From != 2 {
		t.Fatalf("signal %+v", f)
	}
}

func TestSlowReaderIsCutOffOthersKeepReceiving(t *testing.T) {
	e := newEnv(t, hub.Config{SendQueue: 16})
	e.join(t, "r", 1, "fast")
	e.join(t, "r", 2, "slow")
	fast := e.dial(t, "r", 1)
	fast.must("snapshot")
	slow := e.dial(t, "r", 2)
	slow.must("snapshot") // then never reads again

	payload := `{"blob":"` + strings.Repeat("x", 4000) + `"}`
	const events = 4000 // ~16 MB: more than loopback socket buffers hold
	k := hub.Key{Org: 1, Room: "r"}
	// Paced by the fast reader: it keeps up, the slow one falls behind.
	for i := 0; i < events; i++ {
		if _, err := e.bus.Publish(context.Background(), k, hub.SignalMessage(9, []byte(payload))); err != nil {
			t.Fatal(err)
		}
		if f, err := fast.next(); err != nil || f.Seq != uint64(3+i) {
			t.Fatalf("fast reader, event %d: %+v %v", i, f.Seq, err)
		}
	}
	if e.node.Stats.SlowDrops.Load() != 1 {
		t.Fatalf("slow drops = %d, want 1", e.node.Stats.SlowDrops.Load())
	}
	waitFor(t, func() bool { return e.node.Stats.Conns.Load() == 1 })
	waitClosed(t, e.node, hub.CloseBySlow, 1)
}

// closes reads the node's count of sockets ended for reason.
func closes(n *hub.Node, reason string) int64 {
	for i, r := range hub.CloseReasons() {
		if r == reason {
			return n.Stats.Closes[i].Load()
		}
	}
	panic("unknown close reason " + reason)
}

// waitClosed waits until the node counted want sockets ended for reason
// (the count is taken as the socket's goroutine finishes).
func waitClosed(t *testing.T, n *hub.Node, reason string, want int64) {
	t.Helper()
	waitFor(t, func() bool { return closes(n, reason) == want })
}

func TestUnansweredPingDropsPeer(t *testing.T) {
	e := newEnv(t, hub.Config{PingInterval: 20 * time.Second, PingTimeout: 200 * time.Millisecond})
	e.join(t, "r", 1, "reads")
	e.join(t, "r", 2, "deaf")
	live := e.dial(t, "r", 1)
	live.must("snapshot")
	// A reading client answers pings (coder/websocket replies while reading).
	liveFrames := make(chan error, 1)
	go func() { _, err := live.next(); liveFrames <- err }()
	deaf := e.dial(t, "r", 2)
	deaf.must("snapshot")
	e.clk.Advance(20 * time.Second) // both pinged; only one can answer
	waitFor(t, func() bool { return e.node.Stats.Conns.Load() == 1 })
	waitClosed(t, e.node, hub.CloseByPingTimeout, 1)
	select {
	case err := <-liveFrames:
		t.Fatalf("the answering client was disturbed: %v", err)
	default:
	}
}

func TestOversizedFrameClosesSocket(t *testing.T) {
	e := newEnv(t, hub.Config{MaxFrameBytes: 8 << 10})
	e.join(t, "r", 1, "Ada")
	c := e.dial(t, "r", 1)
	c.must("snapshot")
	c.ws.Write(context.Background(), websocket.MessageText, []byte(`{"type":"signal","data":{"x":"`+strings.Repeat("a", 9<<10)+`"}}`))
	if code := c.closed(); code != websocket.StatusMessageTooBig {
		t.Fatalf("closed with %d, want 1009", code)
	}
	waitClosed(t, e.node, hub.CloseByBadFrame, 1)
}

func TestSignalLimits(t *testing.T) {
	e := newEnv(t, hub.Config{SignalRate: 10, SignalBurst: 10, MaxSignalBytes: 4096})
	e.join(t, "r", 1, "Ada")
	c := e.dial(t, "r", 1)
	c.must("snapshot")

	tests := []struct{ in, code string }{
		{`not json`, "bad_frame"},
		{`{"type":"dance"}`, "unknown_type"},
		{`{"type":"signal","data":[1,2]}`, "bad_signal"},
		{`{"type":"signal","data":"text"}`, "bad_signal"},
		{`{"type":"signal","data":{"x":"` + strings.Repeat("a", 4100) + `"}}`, "signal_too_large"},
	}
	for _, tc := range tests {
		t.Run(tc.code, func(t *testing.T) {
			c.send(tc.in)
			if f := c.must("error"); f.Code != tc.code {
				t.Fatalf("error code %q, want %q", f.Code, tc.code)
			}
		})
	}
	// The bad frames above spent 3 tokens (the signals); 7 remain this second.
	for i := 0; i < 7; i++ {
		c.send(`{"type":"signal","data":{"n":1}}`)
		c.must("signal")
	}
	c.send(`{"type":"signal","data":{"n":2}}`)
	if f := c.must("error"); f.Code != "rate_limited" {
		t.Fatalf("11th signal: %+v", f)
	}
	e.clk.Advance(200 * time.Millisecond) // refills 2
	c.send(`{"type":"signal","data":{"n":3}}`)
	if f := c.must("signal"); string(f.Data) != `{"n":3}` {
		t.Fatalf("after refill %+v", f)
	}
}

func TestRenewToken(t *testing.T) {
	e := newEnv(t, hub.Config{})
	e.join(t, "r", 1, "Ada")
	c := e.dial(t, "r", 1)
	c.must("snapshot")
	c.send(`{"type":"renew_token"}`)
	if f := c.must("token"); f.Token != "tok-1-r-1" || f.Seq != 1 {
		t.Fatalf("token frame %+v", f)
	}
	// Once out of the room, renewal is refused.
	e.bus.Leave(context.Background(), hub.Key{Org: 1, Room: "r"}, 1, hub.ReasonKicked)
	c.must("leave")
	if code := c.closed(); code != hub.CloseKicked {
		t.Fatalf("kicked socket closed with %d", code)
	}
}

func TestRenewRefusedWhenNotMember(t *testing.T) {
	e := newEnv(t, hub.Config{})
	e.join(t, "r", 1, "Ada")
	c := e.dial(t, "r", 1)
	c.must("snapshot")
	// Removed behind the node's back (another node's reaper, say): no leave
	// reaches this socket, but renewal still checks membership.
	bus2 := e.bus
	bus2.Leave(context.Background(), hub.Key{Org: 1, Room: "other"}, 1, hub.ReasonLeft)
	e.store.DeleteMember(context.Background(), 1, "r", 1)
	e.bus.Leave(context.Background(), hub.Key{Org: 1, Room: "r"}, 1, hub.ReasonLeft)
	c.must("leave")
	c.send(`{"type":"renew_token"}`)
	if code := c.closed(); code != hub.CloseNotMember {
		t.Fatalf("closed with %d", code)
	}
}

func TestNonMemberIsRefused(t *testing.T) {
	e := newEnv(t, hub.Config{})
	c := e.dial(t, "r", 42)
	if code := c.closed(); code != hub.CloseNotMember {
		t.Fatalf("closed with %d, want %d", code, hub.CloseNotMember)
	}
	waitClosed(t, e.node, hub.CloseByNotMember, 1)
}

func TestConnectionsPerMemberBounded(t *testing.T) {
	e := newEnv(t, hub.Config{MaxConnsPerMember: 2})
	e.join(t, "r", 1, "Ada")
	for i := 0; i < 2; i++ {
		e.dial(t, "r", 1).must("snapshot")
	}
	if code := e.dial(t, "r", 1).closed(); code != hub.CloseTooMany {
		t.Fatalf("third socket closed with %d", code)
	}
	waitClosed(t, e.node, hub.CloseByTooMany, 1)
	if closes(e.node, hub.CloseByClient) != 0 {
		t.Fatal("a refused socket counted as closed by the client")
	}
}

func TestJoinUndoneWhenRoomFull(t *testing.T) {
	e := newEnv(t, hub.Config{Limits: hub.Limits{MaxMembers: 1}})
	e.join(t, "r", 1, "Ada")
	err := e.node.Join(context.Background(), roomhub.Member{OrgID: 1, Room: "r", UID: 2, Name: "Bob", JoinedAt: e.clk.Now()})
	if roomhub.ErrorCode(err) != roomhub.ECONFLICT {
		t.Fatalf("join of a full room: %v", err)
	}
	if e.store.Has(1, "r", 2) {
		t.Fatal("refused member left in the store")
	}
}

func TestJoinFailsCleanlyWhenStoreFails(t *testing.T) {
	e := newEnv(t, hub.Config{})
	e.store.Fail = roomhub.Unavailable("database", errors.New("connection reset"))
	err := e.node.Join(context.Background(), roomhub.Member{OrgID: 1, Room: "r", UID: 2, Name: "Bob", JoinedAt: e.clk.Now()})
	if roomhub.ErrorCode(err) != roomhub.EUNAVAILABLE {
		t.Fatalf("err = %v", err)
	}
	if _, err := e.node.Member(context.Background(), hub.Key{Org: 1, Room: "r"}, 2); roomhub.ErrorCode(err) != roomhub.ENOTFOUND {
		t.Fatalf("member announced although the store failed: %v", err)
	}
}

func TestShutdownClosesSocketsGoingAway(t *testing.T) {
	e := newEnv(t, hub.Config{})
	e.join(t, "r", 1, "Ada")
	c := e.dial(t, "r", 1)
	c.must("snapshot")
	done := make(chan error)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		done <- e.node.Shutdown(ctx)
	}()
	if code := c.closed(); code != websocket.StatusGoingAway {
		t.Fatalf("closed with %d, want 1001", code)
	}
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	waitClosed(t, e.node, hub.CloseByShutdown, 1)
	// After shutdown new sockets are turned away.
	if code := e.dial(t, "r", 1).closed(); code != websocket.StatusGoingAway {
		t.Fatalf("socket after shutdown closed with %d", code)
	}
}

// waitFor polls cond until it holds: the node's bookkeeping after a peer
// closes happens on the server's goroutine, not the test's.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestCloseReasonsCounted: the socket's end is counted once, under its
// cause: the client leaving, a kick, a room closed.
func TestCloseReasonsCounted(t *testing.T) {
	e := newEnv(t, hub.Config{})
	k := hub.Key{Org: 1, Room: "r"}
	for uid, name := range map[uint32]string{1: "Ada", 2: "Bob", 3: "Cy"} {
		e.join(t, "r", uid, name)
	}
	ada, bob, cy := e.dial(t, "r", 1), e.dial(t, "r", 2), e.dial(t, "r", 3)
	ada.must("snapshot")
	bob.must("snapshot")
	cy.must("snapshot")
	ada.ws.Close(websocket.StatusNormalClosure, "bye")
	waitClosed(t, e.node, hub.CloseByClient, 1)
	if _, err := e.node.Leave(context.Background(), k, 2, hub.ReasonKicked); err != nil {
		t.Fatal(err)
	}
	if code := bob.closed(); code != hub.CloseKicked {
		t.Fatalf("kicked socket closed with %d", code)
	}
	waitClosed(t, e.node, hub.CloseByKick, 1)
	if _, err := e.node.Leave(context.Background(), k, 3, hub.ReasonClosed); err != nil {
		t.Fatal(err)
	}
	cy.closed()
	waitClosed(t, e.node, hub.CloseByRoomClosed, 1)
	if closes(e.node, hub.CloseByClient) != 1 {
		t.Fatalf("client closes = %d, want 1", closes(e.node, hub.CloseByClient))
	}
}

// TestFramesOfEverySizeArriveWhole: the node frames room events itself;
// every length form (7-bit, 16-bit, 64-bit) reaches a standard client whole
// and in order, alone or coalesced with others into one write.
func TestFramesOfEverySizeArriveWhole(t *testing.T) {
	e := newEnv(t, hub.Config{SendQueue: 4096})
	e.join(t, "r", 1, "Ada")
	c := e.dial(t, "r", 1)
	c.must("snapshot")
	k := hub.Key{Org: 1, Room: "r"}
	sizes := []int{0, 1, 100, 125 - 40, 126, 1000, 65535 - 60, 65536, 70000, 200000}
	for round := 0; round < 2; round++ {
		// Round 0 one at a time; round 1 in a burst, so frames queue up
		// and leave together.
		for _, n := range sizes {
			data := `{"n":"` + strings.Repeat("x", n) + `"}`
			if _, err := e.bus.Publish(context.Background(), k, hub.SignalMessage(2, []byte(data))); err != nil {
				t.Fatal(err)
			}
			if round == 0 {
				f := c.must("signal")
				if len(f.Data) != len(data) {
					t.Fatalf("size %d: got %d bytes of data", n, len(f.Data))
				}
			}
		}
		if round == 1 {
			for _, n := range sizes {
				f := c.must("signal")
				if len(f.Data) != n+8 {
					t.Fatalf("burst, size %d: got %d bytes of data", n, len(f.Data))
				}
			}
		}
	}
}
