package server_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"roomhub"
	"roomhub/config"
	"roomhub/hub"
	"roomhub/hub/redisbus"
	"roomhub/store/sqlstore/sqltest"
)

// cluster starts n nodes sharing one PostgreSQL store and one Redis bus,
// as a scaled-out deployment runs.
func cluster(t *testing.T, n int) ([]*app, *redis.Client, string) {
	t.Helper()
	return clusterWith(t, n, testConfig())
}

// clusterWith is cluster with every node on cfg.
func clusterWith(t *testing.T, n int, cfg config.Config) ([]*app, *redis.Client, string) {
	t.Helper()
	u := os.Getenv("ROOMHUB_TEST_REDIS_URL")
	if u == "" {
		u = "redis://127.0.0.1:6379/0"
	}
	opt, err := redis.ParseURL(u)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		t.Fatalf("Redis at %s is not reachable (%v); run `make test-deps`", u, err)
	}
	b := make([]byte, 6)
	rand.Read(b)
	prefix := "roomhub-test:" + hex.EncodeToString(b) + ":"
	t.Cleanup(func() {
		ctx := context.Background()
		for it := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator(); it.Next(ctx); {
			rdb.Del(ctx, it.Val())
		}
		rdb.Close()
	})
	st := sqltest.Open(t, "postgres")
	nodes := make([]*app, n)
	for i := range nodes {
		bus := redisbus.New(rdb, prefix, "node-"+string(rune('a'+i)), nil)
		t.Cleanup(func() { bus.Close() })
		nodes[i] = buildApp(t, cfg, st, bus, nil)
	}
	return nodes, rdb, prefix
}

// on is u acting against another node of the cluster, with the same
// cookies: sessions live in the shared store.
func (u *user) on(node *app) *user {
	c := *u
	c.a = node
	return &c
}

// TestLiveAcrossNodes: the dashboard is on node B, the participants on
// node A. Node B's live page shows their joins and leaves (it follows the
// bus, not its own sockets), and a kick from node B closes a socket held by
// node A.
func TestLiveAcrossNodes(t *testing.T) {
	nodes, rdb, prefix := cluster(t, 2)
	na, nb := nodes[0], nodes[1]
	acme := na.org("acme")
	owner := na.signedIn(acme, "ada@acme.example", roomhub.RoleOwner)
	onB := owner.on(nb)
	live := onB.stream("/dashboard/acme/live/events")
	live.next(t, "the snapshot")

	ann := na.browser("/o/acme")
	annUID := ann.enter("standup", "Ann")
	annWS, _, err := ann.socket("standup", na.srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	readFrame(t, annWS)
	if ev := live.next(t, "Ann's join on node A"); !strings.Contains(ev.data, "Ann") {
		t.Fatalf("node B's stream: %+v", ev)
	}
	bob := na.browser("/o/acme")
	bob.enter("standup", "Bob")
	if ev := live.next(t, "Bob's join on node A"); !strings.Contains(ev.data, "Bob") {
		t.Fatalf("node B's stream: %+v", ev)
	}
	readFrame(t, annWS)

	// Kick Ann from node B: her socket on node A closes, Bob stays.
	res, body := onB.do("POST", "/dashboard/acme/rooms/standup/members/"+strconv.FormatUint(uint64(annUID), 10)+"/kick", nil,
		map[string]string{"HX-Request": "true", "X-CSRF-Token": onB.csrf})
	wantStatus(t, res, body, 204)
	if f := readFrame(t, annWS); f["type"] != "leave" || f["reason"] != "kicked" {
		t.Fatalf("Ann's socket on node A: %v", f)
	}
	if ev := live.next(t, "the kick"); strings.Contains(ev.data, "Ann") || !strings.Contains(ev.data, "Bob") {
		t.Fatalf("after the kick: %+v", ev)
	}
	// Feed events lost (as while Redis reconnects): the sequence jumps, and
	// the stream sends the whole list again instead of one room.
	seqKey := prefix + "seq:{" + strconv.FormatInt(acme.ID, 10) + ":" + hub.FeedRoom + "}"
	if err := rdb.IncrBy(context.Background(), seqKey, 5).Err(); err != nil {
		t.Fatal(err)
	}
	cat := na.browser("/o/acme")
	cat.enter("retro", "Cat")
	if ev := live.next(t, "the update after a gap"); ev.name != "rooms" || !strings.Contains(ev.data, "Cat") || !strings.Contains(ev.data, "Bob") {
		t.Fatalf("after a gap: %s %.300s", ev.name, ev.data)
	}
	// A reconnecting page gets the whole list again: open a second stream on
	// node A, as the browser does after a dropped connection.
	code, data := owner.openStream("/dashboard/acme/live/events")
	if code != 200 || !strings.Contains(data, "Bob") || strings.Contains(data, "Ann") {
		t.Fatalf("node A snapshot: %d %q", code, data)
	}
}
