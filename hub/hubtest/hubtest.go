// Package hubtest is the conformance suite every hub.Bus implementation
// passes: the in-process bus now, the Redis bus for clusters.
package hubtest

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"roomhub"
	"roomhub/hub"
)

// deliveryWait bounds how long a test waits for an event to arrive; a
// networked bus delivers asynchronously.
const deliveryWait = 5 * time.Second

// Run runs the suite; newBus returns a fresh, empty bus for each subtest.
func Run(t *testing.T, newBus func(t *testing.T) hub.Bus) {
	tests := []struct {
		name string
		fn   func(t *testing.T, b hub.Bus)
	}{
		{"PublishOrderedPerRoom", testPublishOrdered},
		{"CancelStopsDelivery", testCancel},
		{"JoinLeaveEvents", testJoinLeave},
		{"SnapshotPlusEventsIsRoster", testSnapshotConsistency},
		{"Limits", testLimits},
		{"AttachRequiresMembership", testAttach},
		{"ReapReasons", testReap},
		{"ConcurrentJoinsGapless", testConcurrentJoins},
		{"OrganizationsAreSeparate", testOrgIsolation},
		{"CancelledContext", testCancelledContext},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newBus(t)) })
	}
}

// collector gathers the events of one subscription.
type collector struct {
	ch chan hub.Event
}

func subscribe(t *testing.T, b hub.Broker, k hub.Key) *collector {
	t.Helper()
	c := &collector{ch: make(chan hub.Event, 4096)}
	cancel, err := b.Subscribe(context.Background(), k, func(ev hub.Event) { c.ch <- ev })
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	t.Cleanup(cancel)
	return c
}

func (c *collector) next(t *testing.T) hub.Event {
	t.Helper()
	select {
	case ev := <-c.ch:
		return ev
	case <-time.After(deliveryWait):
		t.Fatal("no event delivered")
		return hub.Event{}
	}
}

// none asserts no event arrives before a publish on a marker room proves the
// bus has caught up.
func (c *collector) none(t *testing.T, b hub.Bus, k hub.Key) {
	t.Helper()
	if _, err := b.Publish(context.Background(), k, hub.Message{Type: "marker"}); err != nil {
		t.Fatal(err)
	}
	ev := c.next(t)
	if ev.Type != "marker" {
		t.Fatalf("unexpected event %s %s", ev.Type, ev.Frame)
	}
}

func frame(t *testing.T, ev hub.Event) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(ev.Frame, &m); err != nil {
		t.Fatalf("frame %q is not JSON: %v", ev.Frame, err)
	}
	return m
}

func member(uid uint32, name string) hub.Member {
	return hub.Member{UID: uid, Name: name, JoinedAt: time.Now().UnixMilli()}
}

var ctx = context.Background()

func testPublishOrdered(t *testing.T, b hub.Bus) {
	a, z := hub.Key{Org: 1, Room: "a"}, hub.Key{Org: 1, Room: "z"}
	ca, cz := subscribe(t, b, a), subscribe(t, b, z)
	for i := 1; i <= 20; i++ {
		if _, err := b.Publish(ctx, a, hub.SignalMessage(7, []byte(fmt.Sprintf(`{"n":%d}`, i)))); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.Publish(ctx, z, hub.SignalMessage(8, []byte(`{}`))); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 20; i++ {
		ev := ca.next(t)
		f := frame(t, ev)
		if ev.Seq != uint64(i) || f["seq"] != float64(i) || f["type"] != "signal" || f["room"] != "a" || f["from"] != float64(7) {
			t.Fatalf("event %d: seq %d frame %s", i, ev.Seq, ev.Frame)
		}
		if n := f["data"].(map[string]any)["n"]; n != float64(i) {
			t.Fatalf("event %d carries data n=%v", i, n)
		}
	}
	if ev := cz.next(t); ev.Seq != 1 || ev.Room != z {
		t.Fatalf("room z: %+v", ev)
	}
}

func testCancel(t *testing.T, b hub.Bus) {
	k := hub.Key{Org: 1, Room: "r"}
	got := make(chan hub.Event, 10)
	cancel, err := b.Subscribe(ctx, k, func(ev hub.Event) { got <- ev })
	if err != nil {
		t.Fatal(err)
	}
	live := subscribe(t, b, k)
	cancel()
	cancel() // idempotent
	b.Publish(ctx, k, hub.SignalMessage(1, []byte(`{}`)))
	live.next(t)
	select {
	case ev := <-got:
		t.Fatalf("cancelled subscriber got %s", ev.Frame)
	default:
	}
}

func testJoinLeave(t *testing.T, b hub.Bus) {
	k := hub.Key{Org: 1, Room: "r"}
	c := subscribe(t, b, k)
	ada := member(10, "Ada")
	ev, changed, err := b.Join(ctx, k, ada, hub.Limits{})
	if err != nil || !changed || ev.Type != hub.TypeJoin {
		t.Fatalf("Join = %+v %v %v", ev, changed, err)
	}
	f := frame(t, c.next(t))
	m := f["member"].(map[string]any)
	if f["type"] != "join" || m["uid"] != float64(10) || m["name"] != "Ada" || m["joined_at"] != float64(ada.JoinedAt) {
		t.Fatalf("join frame %v", f)
	}
	// Same name again: no event (a reconnecting client re-creates itself).
	if _, changed, err := b.Join(ctx, k, ada, hub.Limits{}); err != nil || changed {
		t.Fatalf("re-join changed=%v err=%v", changed, err)
	}
	// New name: a join that replaces, keeping joined_at.
	renamed := ada
	renamed.Name = "Ada L"
	renamed.JoinedAt += 5000
	if _, changed, _ := b.Join(ctx, k, renamed, hub.Limits{}); !changed {
		t.Fatal("rename reported no change")
	}
	f = frame(t, c.next(t))
	if m := f["member"].(map[string]any); m["name"] != "Ada L" || m["joined_at"] != float64(ada.JoinedAt) {
		t.Fatalf("rename frame %v", f)
	}
	if got, err := b.Get(ctx, k, 10); err != nil || got.Name != "Ada L" {
		t.Fatalf("Get = %+v %v", got, err)
	}
	if _, left, err := b.Leave(ctx, k, 10, hub.ReasonLeft); err != nil || !left {
		t.Fatalf("Leave left=%v err=%v", left, err)
	}
	f = frame(t, c.next(t))
	if f["type"] != "leave" || f["uid"] != float64(10) || f["reason"] != "left" || f["seq"] != float64(3) {
		t.Fatalf("leave frame %v", f)
	}
	if _, left, _ := b.Leave(ctx, k, 10, hub.ReasonLeft); left {
		t.Fatal("second Leave reported left")
	}
	c.none(t, b, k)
	if _, err := b.Get(ctx, k, 10); roomhub.ErrorCode(err) != roomhub.ENOTFOUND {
		t.Fatalf("Get after leave: %v", err)
	}
}

func testSnapshotConsistency(t *testing.T, b hub.Bus) {
	k := hub.Key{Org: 1, Room: "r"}
	c := subscribe(t, b, k)
	for uid := uint32(1); uid <= 5; uid++ {
		b.Join(ctx, k, hub.Member{UID: uid, Name: fmt.Sprint("m", uid), JoinedAt: int64(1000 - uid)}, hub.Limits{})
	}
	b.Leave(ctx, k, 2, hub.ReasonLeft)
	s, err := b.Snapshot(ctx, k)
	if err != nil {
		t.Fatal(err)
	}
	if s.Seq != 6 || len(s.Members) != 4 {
		t.Fatalf("snapshot seq %d members %v", s.Seq, s.Members)
	}
	// Ordered by joined_at: uid 5 joined first.
	for i, want := range []uint32{5, 4, 3, 1} {
		if s.Members[i].UID != want {
			t.Fatalf("snapshot order %v", s.Members)
		}
	}
	for i := 0; i < 6; i++ {
		if ev := c.next(t); ev.Seq != uint64(i+1) {
			t.Fatalf("event %d has seq %d", i, ev.Seq)
		}
	}
	var f map[string]any
	json.Unmarshal(hub.SnapshotFrame("r", s), &f)
	if f["type"] != "snapshot" || f["seq"] != float64(6) || len(f["members"].([]any)) != 4 {
		t.Fatalf("snapshot frame %v", f)
	}
	empty, _ := b.Snapshot(ctx, hub.Key{Org: 1, Room: "empty"})
	if len(empty.Members) != 0 || string(hub.SnapshotFrame("empty", empty)) != `{"type":"snapshot","room":"empty","seq":0,"members":[]}` {
		t.Fatalf("empty snapshot %s", hub.SnapshotFrame("empty", empty))
	}
}

func testLimits(t *testing.T, b hub.Bus) {
	lim := hub.Limits{MaxMembers: 2, MaxRooms: 2}
	r1, r2, r3 := hub.Key{Org: 1, Room: "r1"}, hub.Key{Org: 1, Room: "r2"}, hub.Key{Org: 1, Room: "r3"}
	for uid := uint32(1); uid <= 2; uid++ {
		if _, _, err := b.Join(ctx, r1, member(uid, "m"), lim); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := b.Join(ctx, r1, member(3, "m"), lim); roomhub.ErrorCode(err) != roomhub.ECONFLICT {
		t.Fatalf("third member of a 2-room: %v", err)
	}
	// A present member re-joining a full room is not refused.
	if _, _, err := b.Join(ctx, r1, member(2, "m"), lim); err != nil {
		t.Fatalf("re-join of full room: %v", err)
	}
	b.Join(ctx, r2, member(1, "m"), lim)
	if _, _, err := b.Join(ctx, r3, member(1, "m"), lim); roomhub.ErrorCode(err) != roomhub.ECONFLICT {
		t.Fatalf("third room of the org: %v", err)
	}
	// Another organization has its own budget.
	if _, _, err := b.Join(ctx, hub.Key{Org: 2, Room: "r3"}, member(1, "m"), lim); err != nil {
		t.Fatalf("other org: %v", err)
	}
	// When a room empties, its slot is free again.
	b.Leave(ctx, r2, 1, hub.ReasonLeft)
	if _, _, err := b.Join(ctx, r3, member(1, "m"), lim); err != nil {
		t.Fatalf("after a room emptied: %v", err)
	}
}

func testAttach(t *testing.T, b hub.Bus) {
	k := hub.Key{Org: 1, Room: "r"}
	if err := b.Attach(ctx, k, 1); roomhub.ErrorCode(err) != roomhub.ENOTFOUND {
		t.Fatalf("Attach of a non-member: %v", err)
	}
	b.Join(ctx, k, member(1, "m"), hub.Limits{})
	if err := b.Attach(ctx, k, 1); err != nil {
		t.Fatal(err)
	}
	if err := b.Detach(ctx, k, 99, time.Now()); err != nil {
		t.Fatalf("Detach of a non-member must be harmless: %v", err)
	}
}

func testReap(t *testing.T, b hub.Bus) {
	k := hub.Key{Org: 1, Room: "r"}
	c := subscribe(t, b, k)
	t0 := time.UnixMilli(time.Now().UnixMilli())
	grace := 15 * time.Second
	join := func(uid uint32) {
		b.Join(ctx, k, hub.Member{UID: uid, Name: "m", JoinedAt: t0.UnixMilli()}, hub.Limits{})
		c.next(t)
	}
	join(1) // never connects
	join(2) // connects and stays
	join(3) // connects, then drops at t0+10s
	b.Attach(ctx, k, 2)
	b.Attach(ctx, k, 3)
	b.Attach(ctx, k, 3) // two tabs
	b.Detach(ctx, k, 3, t0.Add(5*time.Second))
	b.Detach(ctx, k, 3, t0.Add(10*time.Second))

	if got, _ := b.Reap(ctx, t0.Add(grace-time.Millisecond), grace); len(got) != 0 {
		t.Fatalf("reaped before the grace period: %v", got)
	}
	got, err := b.Reap(ctx, t0.Add(grace), grace)
	if err != nil || len(got) != 1 || got[0].UID != 1 || got[0].Reason != hub.ReasonExpired {
		t.Fatalf("at grace: %v %v", got, err)
	}
	if f := frame(t, c.next(t)); f["uid"] != float64(1) || f["reason"] != "expired" {
		t.Fatalf("leave frame %v", f)
	}
	got, _ = b.Reap(ctx, t0.Add(10*time.Second+grace), grace)
	if len(got) != 1 || got[0].UID != 3 || got[0].Reason != hub.ReasonDisconnected {
		t.Fatalf("after the last socket's grace: %v", got)
	}
	if f := frame(t, c.next(t)); f["uid"] != float64(3) || f["reason"] != "disconnected" {
		t.Fatalf("leave frame %v", f)
	}
	if got, _ := b.Reap(ctx, t0.Add(time.Hour), grace); len(got) != 0 {
		t.Fatalf("a connected member was reaped: %v", got)
	}
	c.none(t, b, k)
}

func testConcurrentJoins(t *testing.T, b hub.Bus) {
	k := hub.Key{Org: 1, Room: "r"}
	c := subscribe(t, b, k)
	const n = 50
	var wg sync.WaitGroup
	for i := 1; i <= n; i++ {
		wg.Add(1)
		go func(uid uint32) {
			defer wg.Done()
			if _, _, err := b.Join(ctx, k, member(uid, "m"), hub.Limits{MaxMembers: n}); err != nil {
				t.Error(err)
			}
		}(uint32(i))
	}
	wg.Wait()
	seen := map[uint32]bool{}
	for i := 1; i <= n; i++ {
		ev := c.next(t)
		if ev.Seq != uint64(i) || ev.Type != hub.TypeJoin || seen[ev.UID] {
			t.Fatalf("event %d: seq %d type %s uid %d (dup %v)", i, ev.Seq, ev.Type, ev.UID, seen[ev.UID])
		}
		seen[ev.UID] = true
	}
	if s, _ := b.Snapshot(ctx, k); len(s.Members) != n || s.Seq != n {
		t.Fatalf("snapshot %d members at seq %d", len(s.Members), s.Seq)
	}
}

func testOrgIsolation(t *testing.T, b hub.Bus) {
	a, z := hub.Key{Org: 1, Room: "same"}, hub.Key{Org: 2, Room: "same"}
	ca := subscribe(t, b, a)
	b.Join(ctx, z, member(1, "B's member"), hub.Limits{})
	if s, _ := b.Snapshot(ctx, a); len(s.Members) != 0 {
		t.Fatalf("org 1 sees org 2's member: %v", s.Members)
	}
	if _, err := b.Get(ctx, a, 1); roomhub.ErrorCode(err) != roomhub.ENOTFOUND {
		t.Fatalf("org 1 Get of org 2's member: %v", err)
	}
	if _, left, _ := b.Leave(ctx, a, 1, hub.ReasonKicked); left {
		t.Fatal("org 1 removed org 2's member")
	}
	ca.none(t, b, a)
}

func testCancelledContext(t *testing.T, b hub.Bus) {
	c, cancel := context.WithCancel(context.Background())
	cancel()
	k := hub.Key{Org: 1, Room: "r"}
	if _, _, err := b.Join(c, k, member(1, "m"), hub.Limits{}); err == nil {
		t.Fatal("Join with a cancelled context succeeded")
	}
	if _, err := b.Publish(c, k, hub.SignalMessage(1, []byte(`{}`))); err == nil {
		t.Fatal("Publish with a cancelled context succeeded")
	}
}
