package redisbus_test

import (
	"context"
	"sort"
	"testing"
	"time"

	"roomhub/hub"
	"roomhub/hub/redisbus"
)

// keys lists the keys under prefix p that belong to one room (the sets of
// rooms are shared by all rooms and checked apart).
func roomKeys(t *testing.T, p string) []string {
	t.Helper()
	rdb := client(t)
	ctx := context.Background()
	var out []string
	for it := rdb.Scan(ctx, 0, p+"*", 1000).Iterator(); it.Next(ctx); {
		out = append(out, it.Val())
	}
	sort.Strings(out)
	return out
}

// TestEmptyRoomLeavesNothingBehind: a room used once (join, socket,
// signal, socket closed, leave) leaves no key in Redis once its sequence
// number's idle time has passed, whatever way its last member went; while
// anyone is in it, its sequence number never expires, so it never steps
// back under a live socket.
func TestEmptyRoomLeavesNothingBehind(t *testing.T) {
	ctx := context.Background()
	for _, how := range []string{"leave", "reaped"} {
		t.Run(how, func(t *testing.T) {
			rdb, p := client(t), prefix(t)
			b := redisbus.New(rdb, p, "node-a", nil)
			t.Cleanup(func() { b.Close() })
			const ttl = 300 * time.Millisecond
			b.SetEmptyRoomTTL(ttl)
			now := time.Now()
			b.Heartbeat(ctx, now)
			k := hub.Key{Org: 7, Room: "standup-" + how}
			if _, _, err := b.Join(ctx, k, hub.Member{UID: 1, Name: "Ada", JoinedAt: now.UnixMilli()}, hub.Limits{}); err != nil {
				t.Fatal(err)
			}
			if err := b.Attach(ctx, k, 1); err != nil {
				t.Fatal(err)
			}
			if _, err := b.Publish(ctx, k, hub.SignalMessage(1, []byte(`{"hand":true}`))); err != nil {
				t.Fatal(err)
			}
			// In use for longer than the idle time: nothing expires.
			time.Sleep(2 * ttl)
			s, err := b.Snapshot(ctx, k)
			if err != nil || s.Seq != 2 || len(s.Members) != 1 {
				t.Fatalf("room in use after %v: %+v %v", 2*ttl, s, err)
			}
			if err := b.Detach(ctx, k, 1, now); err != nil {
				t.Fatal(err)
			}
			// The member has no socket but is still in the room (within
			// its grace period): the sequence number stays.
			time.Sleep(2 * ttl)
			if s, _ := b.Snapshot(ctx, k); s.Seq != 2 {
				t.Fatalf("seq of a room with a member lost: %+v", s)
			}
			switch how {
			case "leave":
				if _, _, err := b.Leave(ctx, k, 1, hub.ReasonLeft); err != nil {
					t.Fatal(err)
				}
			case "reaped":
				r, err := b.Reap(ctx, now.Add(time.Hour), 15*time.Second)
				if err != nil || len(r) != 1 {
					t.Fatalf("reaped %+v %v", r, err)
				}
			}
			// Within the idle time a late event still numbers on.
			if s, _ := b.Snapshot(ctx, k); s.Seq != 3 {
				t.Fatalf("seq right after the room emptied: %+v", s)
			}
			deadline := time.Now().Add(5 * time.Second)
			for {
				left := roomKeys(t, p)
				// Only the node's heartbeat may stay.
				if len(left) == 1 && left[0] == p+"nodes" {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("keys left by an empty room: %q", left)
				}
				time.Sleep(50 * time.Millisecond)
			}
		})
	}
}
