package redisbus_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
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

// killSubscription cuts the pub/sub connection of the client named name, as
// a Redis restart or a network fault would, leaving everyone else's alone.
func killSubscription(t *testing.T, rdb *redis.Client, name string) {
	t.Helper()
	ctx := context.Background()
	list, err := rdb.ClientList(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(list, "\n") {
		if !strings.Contains(line, " name="+name+" ") || strings.Contains(line, " sub=0 ") {
			continue
		}
		for _, f := range strings.Fields(line) {
			if id, ok := strings.CutPrefix(f, "id="); ok {
				if err := rdb.Do(ctx, "CLIENT", "KILL", "ID", id).Err(); err != nil {
					t.Fatal(err)
				}
				return
			}
		}
	}
	t.Fatalf("no subscribed connection named %s", name)
}

// TestSocketsResynchronisedAfterAnOutageAreReleased: sockets that lived
// through a lost subscription (and got a fresh snapshot) give back what they
// held when they end.
func TestSocketsResynchronisedAfterAnOutageAreReleased(t *testing.T) {
	opt, err := redis.ParseURL(redisURL())
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 6)
	rand.Read(b)
	name := "roomhub-release-" + hex.EncodeToString(b)
	opt.ClientName = name
	rdb := redis.NewClient(opt)
	t.Cleanup(func() { rdb.Close() })
	bus := redisbus.New(rdb, prefix(t), "a", nil)
	st := hubtest.NewMemberStore()
	n := hub.NewNode(hub.Config{NodeID: "a", PingInterval: time.Hour}, bus, st, nil, nil, nil)
	n.Start()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sock, err := hub.Accept(w, r, nil)
		if err != nil {
			return
		}
		n.Serve(r.Context(), sock, hub.Key{Org: 1, Room: "r"}, 1)
	}))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		n.Shutdown(ctx)
		srv.Close()
		bus.Close()
	})
	admin := client(t)
	ctx := context.Background()
	if err := n.Join(ctx, roomhub.Member{OrgID: 1, Room: "r", UID: 1, Name: "Ada", JoinedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	cycle := func() {
		dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		ws, _, err := websocket.Dial(dctx, strings.Replace(srv.URL, "http", "ws", 1), nil)
		if err != nil {
			t.Fatal(err)
		}
		if f := read(t, ws); f.Type != "snapshot" {
			t.Fatalf("first frame %+v", f)
		}
		killSubscription(t, admin, name)
		if f := read(t, ws); f.Type != "snapshot" { // resynchronised
			t.Fatalf("frame after the outage %+v, want a fresh snapshot", f)
		}
		ws.CloseNow() // and the peer vanishes
		deadline := time.Now().Add(5 * time.Second)
		for n.Stats.Conns.Load() != 0 {
			if time.Now().After(deadline) {
				t.Fatal("socket not released")
			}
			time.Sleep(time.Millisecond)
		}
	}
	cycle()
	fds, gs := openFDs(t), runtime.NumGoroutine()
	const cycles = 20
	for i := 0; i < cycles; i++ {
		cycle()
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		nowFDs, nowGs := openFDs(t), runtime.NumGoroutine()
		if nowFDs <= fds+4 && nowGs <= gs+4 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %d resynchronised sockets ended: %d descriptors (baseline %d), %d goroutines (baseline %d)",
				cycles, nowFDs, fds, nowGs, gs)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func openFDs(t *testing.T) int {
	t.Helper()
	runtime.GC()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}
