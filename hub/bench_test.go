package hub_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"roomhub"
	"roomhub/hub"
)

// BenchmarkFanout200 publishes signals to a room of 200 members, each on a
// real WebSocket over loopback with a client reading it, and counts an
// operation as one event delivered to all 200. ns/op ÷ 200 is the cost of
// one delivery, client reads included (same machine).
func BenchmarkFanout200(b *testing.B) {
	const members = 200
	e := newEnv(b, hub.Config{SendQueue: 4096})
	clients := make([]*client, members)
	for i := range clients {
		uid := uint32(i + 1)
		if err := e.node.Join(context.Background(), roomhub.Member{OrgID: 1, Room: "bench", UID: uid, Name: fmt.Sprint("m", uid), JoinedAt: e.clk.Now()}); err != nil {
			b.Fatal(err)
		}
	}
	for i := range clients {
		clients[i] = e.dial(b, "bench", uint32(i+1))
		if _, err := clients[i].next(); err != nil { // snapshot
			b.Fatal(err)
		}
	}
	k := hub.Key{Org: 1, Room: "bench"}
	data := []byte(`{"kind":"chat","text":"hello, room"}`)
	b.ReportAllocs()
	b.ResetTimer()
	var wg sync.WaitGroup
	for _, c := range clients {
		wg.Add(1)
		go func(c *client) {
			defer wg.Done()
			for i := 0; i < b.N; i++ {
				if _, err := c.next(); err != nil {
					b.Error(err)
					return
				}
			}
		}(c)
	}
	for i := 0; i < b.N; i++ {
		if _, err := e.bus.Publish(context.Background(), k, hub.SignalMessage(1, data)); err != nil {
			b.Fatal(err)
		}
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*members), "ns/delivery")
}

// BenchmarkEncodeJoin renders one join frame: done once per event, whatever
// the number of recipients.
func BenchmarkEncodeJoin(b *testing.B) {
	m := hub.Member{UID: 2882341273, Name: "Ada Lovelace", JoinedAt: 1795000000123}
	b.ReportAllocs()
	for b.Loop() {
		msg := hub.JoinMessage(m)
		_ = hub.Render("standup", 42, msg.Type, msg.Body)
	}
}
