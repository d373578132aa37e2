package redisbus_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"roomhub/hub"
	"roomhub/hub/hubtest"
	"roomhub/hub/redisbus"
)

// redisURL is the Redis the tests use; make test starts one.
func redisURL() string {
	if u := os.Getenv("ROOMHUB_TEST_REDIS_URL"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379/0"
}

func client(t testing.TB) *redis.Client {
	t.Helper()
	opt, err := redis.ParseURL(redisURL())
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		t.Fatalf("Redis at %s is not reachable (%v); run `make test-deps`", redisURL(), err)
	}
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

// prefix isolates one test's keys, so tests share a Redis safely.
func prefix(t testing.TB) string {
	b := make([]byte, 6)
	rand.Read(b)
	p := "roomhub-test:" + hex.EncodeToString(b) + ":"
	t.Cleanup(func() {
		rdb := client(t)
		ctx := context.Background()
		for it := rdb.Scan(ctx, 0, p+"*", 1000).Iterator(); it.Next(ctx); {
			rdb.Del(ctx, it.Val())
		}
	})
	return p
}

func TestConformance(t *testing.T) {
	hubtest.Run(t, func(t *testing.T) hub.Bus {
		b := redisbus.New(client(t), prefix(t), "node-a", nil)
		t.Cleanup(func() { b.Close() })
		// The suite reaps at times up to an hour ahead: keep this node
		// alive throughout, so only grace periods decide.
		if err := b.Heartbeat(context.Background(), time.Now().Add(24*time.Hour)); err != nil {
			t.Fatal(err)
		}
		return b
	})
}

// TestDeadNodeMembersExpire: a node that stops heartbeating loses every
// member whose sockets were all on it, at once and with reason expired,
// exactly once however many nodes reap; members with a socket on a live
// node stay.
func TestDeadNodeMembersExpire(t *testing.T) {
	rdb, p := client(t), prefix(t)
	live := redisbus.New(rdb, p, "live", nil)
	dead := redisbus.New(rdb, p, "dead", nil)
	t.Cleanup(func() { live.Close(); dead.Close() })
	ctx := context.Background()
	now := time.Now()
	live.Heartbeat(ctx, now)
	dead.Heartbeat(ctx, now.Add(-time.Minute))
	k := hub.Key{Org: 1, Room: "r"}
	got := make(chan hub.Event, 16)
	cancel, err := live.Subscribe(ctx, k, func(ev hub.Event) { got <- ev })
	if err != nil {
		t.Fatal(err)
	}
	defer cancel()
	for uid, node := range map[uint32]*redisbus.Bus{1: live, 2: dead, 3: dead} {
		if _, _, err := node.Join(ctx, k, hub.Member{UID: uid, Name: "m", JoinedAt: now.UnixMilli()}, hub.Limits{}); err != nil {
			t.Fatal(err)
		}
		<-got
		if err := node.Attach(ctx, k, uid); err != nil {
			t.Fatal(err)
		}
	}
	live.Attach(ctx, k, 3) // uid 3 also has a socket on the live node
	// Two reapers at once: each removal happens once.
	res := make(chan []hub.Reaped, 2)
	for _, b := range []*redisbus.Bus{live, live} {
		go func(b *redisbus.Bus) { r, _ := b.Reap(ctx, now, 15*time.Second); res <- r }(b)
	}
	total := append(<-res, <-res...)
	if len(total) != 1 || total[0].UID != 2 || total[0].Reason != hub.ReasonExpired {
		t.Fatalf("reaped %+v, want uid 2 expired once", total)
	}
	if ev := <-got; ev.Type != hub.TypeLeave || ev.UID != 2 || ev.Reason != "expired" {
		t.Fatalf("event %+v", ev)
	}
	s, _ := live.Snapshot(ctx, k)
	if len(s.Members) != 2 {
		t.Fatalf("members left %+v", s.Members)
	}
}
