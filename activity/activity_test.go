package activity_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"roomhub"
	"roomhub/activity"
	"roomhub/hub"
	"roomhub/hub/memory"
	"roomhub/store/sqlstore/sqltest"
)

// TestRecorder reports a join and two leaves as the hub would: the room's
// session is recorded and every change is announced on the organization's
// feed, in order, and on no other organization's.
func TestRecorder(t *testing.T) {
	for _, kind := range sqltest.Kinds() {
		t.Run(kind, func(t *testing.T) {
			ctx := context.Background()
			st := sqltest.Open(t, kind)
			acme, _ := st.CreateOrg(ctx, "acme", "Acme")
			globex, _ := st.CreateOrg(ctx, "globex", "Globex")
			bus := memory.New()
			feed := make(chan map[string]any, 10)
			cancel, err := bus.Subscribe(ctx, hub.FeedKey(acme.ID), func(ev hub.Event) {
				var m map[string]any
				json.Unmarshal(ev.Frame, &m)
				feed <- m
			})
			if err != nil {
				t.Fatal(err)
			}
			defer cancel()
			other := make(chan hub.Event, 10)
			cancel2, _ := bus.Subscribe(ctx, hub.FeedKey(globex.ID), func(ev hub.Event) { other <- ev })
			defer cancel2()

			rec := activity.New(st, bus, slog.New(slog.DiscardHandler))
			k := hub.Key{Org: acme.ID, Room: "standup"}
			t0 := time.Now().Truncate(time.Millisecond)
			for _, uid := range []uint32{7, 8} {
				st.PutMember(ctx, roomhub.Member{OrgID: acme.ID, Room: "standup", UID: uid, Name: "M", SessionID: "s", JoinedAt: t0})
				rec.Joined(k, hub.Member{UID: uid, Name: "M", JoinedAt: t0.UnixMilli()})
			}
			rec.Left(k, 7, hub.ReasonKicked, t0.Add(time.Minute))
			rec.Left(k, 8, hub.ReasonLeft, t0.Add(2*time.Minute))
			if err := rec.Close(ctx); err != nil {
				t.Fatal(err)
			}
			want := []string{"join", "join", "leave", "leave"}
			for i, w := range want {
				select {
				case m := <-feed:
					if m["type"] != hub.TypeActivity || m["change"] != w || m["target"] != "standup" {
						t.Fatalf("feed event %d: %v, want %s of standup", i, m, w)
					}
				case <-time.After(5 * time.Second):
					t.Fatalf("feed event %d (%s) never came", i, w)
				}
			}
			if len(other) != 0 {
				t.Fatalf("Globex's feed carried Acme's activity: %d events", len(other))
			}
			list, err := st.ListSessions(ctx, acme.ID, roomhub.SessionFilter{})
			if err != nil || len(list) != 1 || list[0].Live() || list[0].Peak != 2 || list[0].MemberMinutes() != 3 {
				t.Fatalf("history: %+v %v", list, err)
			}
			// After Close, changes are dropped, not a panic.
			rec.Left(k, 9, hub.ReasonLeft, t0)
		})
	}
}

// gatedHistory holds the first RecordJoin until gate closes, so that the
// changes sent meanwhile wait in the queue together.
type gatedHistory struct {
	roomhub.History
	gate    chan struct{}
	once    sync.Once
	batches atomic.Int64
}

func (g *gatedHistory) RecordJoin(ctx context.Context, org int64, room string, uid uint32, name string, at time.Time) (roomhub.Activity, bool, error) {
	g.once.Do(func() { <-g.gate })
	return g.History.RecordJoin(ctx, org, room, uid, name, at)
}

func (g *gatedHistory) RecordChanges(ctx context.Context, cs []roomhub.Change) error {
	g.batches.Add(1)
	return g.History.RecordChanges(ctx, cs)
}

// TestRecorderBatches: changes that queue up during a slow write are
// recorded together in one transaction; a batch holding a change the
// database refuses falls back to one change at a time, so only that one is
// lost (and counted).
func TestRecorderBatches(t *testing.T) {
	for _, kind := range sqltest.Kinds() {
		t.Run(kind, func(t *testing.T) {
			ctx := context.Background()
			st := sqltest.Open(t, kind)
			acme, _ := st.CreateOrg(ctx, "acme", "Acme")
			t0 := time.Now().Truncate(time.Millisecond)
			for uid := uint32(1); uid <= 11; uid++ {
				st.PutMember(ctx, roomhub.Member{OrgID: acme.ID, Room: "standup", UID: uid, Name: "M", SessionID: "s", JoinedAt: t0})
			}
			g := &gatedHistory{History: st, gate: make(chan struct{})}
			rec := activity.New(g, memory.New(), slog.New(slog.DiscardHandler))
			k := hub.Key{Org: acme.ID, Room: "standup"}
			rec.Joined(k, hub.Member{UID: 1, Name: "M", JoinedAt: t0.UnixMilli()}) // held at the gate
			for uid := uint32(2); uid <= 11; uid++ {
				rec.Joined(k, hub.Member{UID: uid, Name: "M", JoinedAt: t0.UnixMilli()})
			}
			// A room that was never created: the database refuses it.
			rec.Joined(hub.Key{Org: acme.ID, Room: "nowhere"}, hub.Member{UID: 99, Name: "X", JoinedAt: t0.UnixMilli()})
			close(g.gate)
			if err := rec.Close(ctx); err != nil {
				t.Fatal(err)
			}
			if g.batches.Load() != 1 || rec.Batches.Load() != 1 {
				t.Fatalf("%d batches, want the 11 queued changes in 1", g.batches.Load())
			}
			if rec.Failures.Load() != 1 {
				t.Fatalf("%d failures, want 1 (the unknown room)", rec.Failures.Load())
			}
			list, _ := st.ListSessions(ctx, acme.ID, roomhub.SessionFilter{})
			if len(list) != 1 || list[0].Members != 11 || list[0].Peak != 11 {
				t.Fatalf("history after the batch: %+v", list)
			}
		})
	}
}
