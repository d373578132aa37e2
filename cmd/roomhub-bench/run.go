package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// result is the JSON line the command prints.
type result struct {
	Nodes            int       `json:"nodes"`
	Members          int       `json:"members"`
	Rooms            int       `json:"rooms"`
	ConnectFailures  int       `json:"connect_failures"`
	RSSKiBPerMember  float64   `json:"rss_kib_per_member"`
	JoinToVisibleMS  latencies `json:"join_to_visible_ms"`
	EventsPerSecond  float64   `json:"events_delivered_per_s"`
	CPUMicrosPerEvt  float64   `json:"server_cpu_us_per_event"`
	CPUMillisPer1000 float64   `json:"cpu_ms_per_1000_events"`
	WriteFloorMicros float64   `json:"write_floor_us"`
	FloorRatio       float64   `json:"cpu_per_event_over_floor"`
	ConnectCPUMillis float64   `json:"connect_cpu_ms_per_member"`
	SignalsSent      int64     `json:"signals_sent"`
	SignalErrors     int64     `json:"signal_errors"`
	DurationS        float64   `json:"duration_s"`
}

type latencies struct {
	P50          float64 `json:"p50"`
	P95          float64 `json:"p95"`
	P99          float64 `json:"p99"`
	Max          float64 `json:"max"`
	Observations int     `json:"observations"`
	Missing      int     `json:"missing"`
}

// roomName names room r.
func roomName(r int) string { return fmt.Sprintf("bench-%03d", r) }

// run is the whole benchmark: backing, nodes, the four phases, teardown.
func run(ctx context.Context, o options) (*result, error) {
	start := time.Now()
	dir, err := os.MkdirTemp("", "roomhub-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)

	var b backing
	if o.nodes > 1 {
		var cleanup func()
		b, cleanup, err = prepareCluster(ctx, o)
		if err != nil {
			return nil, err
		}
		defer cleanup()
	}
	nodes, err := startNodes(ctx, o, b, dir)
	if err != nil {
		return nil, err
	}
	defer stopNodes(nodes)
	logf("%d node(s) up", len(nodes))

	tr := &http.Transport{MaxIdleConns: 4 * o.concurrency, MaxIdleConnsPerHost: o.concurrency, IdleConnTimeout: 30 * time.Second}
	defer tr.CloseIdleConnections()
	res := &result{Nodes: o.nodes, Members: o.members, Rooms: o.rooms}
	if err := measure(ctx, o, nodes, tr, res); err != nil {
		for i, n := range nodes {
			logf("node %d log (tail):\n%s", i, logTail(n))
		}
		return nil, err
	}
	res.DurationS = math.Round(time.Since(start).Seconds()*10) / 10
	return res, nil
}

// measure runs the phases against running nodes and fills res.
func measure(ctx context.Context, o options, nodes []*node, tr http.RoundTripper, res *result) error {
	warmUp(ctx, nodes, tr)
	time.Sleep(time.Second)
	baseline, err := sumRSS(nodes)
	if err != nil {
		return err
	}

	joins := &joinWatch{singleNode: o.nodes == 1}
	readCtx, stopReading := context.WithCancel(context.Background())
	var readers sync.WaitGroup
	logf("phase connect: %d members, %d at a time", o.members, o.concurrency)
	cpuBefore, err := sumCPU(nodes)
	if err != nil {
		stopReading()
		return err
	}
	connectStart := time.Now()
	members, failures := connectAll(ctx, o, nodes, tr, joins, readCtx, &readers)
	cpuAfter, cpuErr := sumCPU(nodes)
	defer func() {
		stopReading()
		closeAll(members)
		readers.Wait()
	}()
	res.ConnectFailures = failures
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if len(members) == 0 {
		return errors.New("no member connected")
	}
	if cpuErr != nil {
		return cpuErr
	}
	if len(members) > 0 {
		res.ConnectCPUMillis = round2(float64((cpuAfter - cpuBefore).Microseconds()) / 1000 / float64(len(members)))
	}
	logf("phase connect: %d members in %v, %d failures, node CPU %.2f ms per member", len(members),
		time.Since(connectStart).Round(time.Millisecond), failures, res.ConnectCPUMillis)

	// Let the nodes settle (send queues drained, the runtime's heap after
	// the connect burst collected) before reading memory.
	time.Sleep(3 * time.Second)
	after, err := sumRSS(nodes)
	if err != nil {
		return err
	}
	res.RSSKiBPerMember = round2(float64(after-baseline) / float64(len(members)))

	logf("phase memory: %.2f KiB per member", res.RSSKiBPerMember)
	logf("phase joins: %d samples", o.samples)
	res.JoinToVisibleMS, err = sampleJoins(ctx, o, nodes, tr, members, joins)
	if err != nil {
		return err
	}
	logf("phase joins: join-to-visible %+v", res.JoinToVisibleMS)
	logf("phase events: %v at %v signals per room per second", o.events, o.signalRate)
	if err := runEvents(ctx, o, nodes, members, res); err != nil {
		return err
	}
	// The members are done: their sockets make room for the floor's.
	closeAll(members)
	socks := floorSockets(len(members))
	logf("phase floor: %d loopback sockets, one pre-built frame each, %d rounds", socks, floorRounds)
	floor, err := writeFloor(ctx, socks, len(signalFrameSample))
	if err != nil {
		return err
	}
	res.WriteFloorMicros = round2(float64(floor.Nanoseconds()) / 1000)
	if res.WriteFloorMicros > 0 {
		res.FloorRatio = round2(res.CPUMicrosPerEvt / res.WriteFloorMicros)
	}
	logf("phase floor: %.2f µs per write; nodes' CPU per delivery is %.2fx that", res.WriteFloorMicros, res.FloorRatio)
	return nil
}

// signalFrameSample is the size of a signal frame as the events phase's
// members receive it (room, seq, sender and data), for the write floor.
var signalFrameSample = `{"type":"signal","room":"bench-000","seq":12345,"from":1234567890,"data":{"kind":"chat","text":"bench"}}`

// warmUp sends each node a few lobby requests so that lazily built state
// (templates, pools, the database's first pages) is in the baseline.
func warmUp(ctx context.Context, nodes []*node, tr http.RoundTripper) {
	for i, n := range nodes {
		for j := 0; j < 20; j++ {
			b := newBrowser(tr, n.addr, clientIP(12, i*256+j))
			b.lobby(ctx)
		}
	}
}

// connectAll connects o.members members, o.concurrency at a time. Member i
// is in room i%rooms and, within its room, on nodes in turn, so every room
// spans every node. It returns the connected members and how many failed.
func connectAll(ctx context.Context, o options, nodes []*node, tr http.RoundTripper, joins *joinWatch,
	readCtx context.Context, readers *sync.WaitGroup) ([]*member, int) {
	var (
		mu       sync.Mutex
		members  []*member
		failures int
		firstErr error
		next     atomic.Int64
		workers  sync.WaitGroup
	)
	for w := 0; w < o.concurrency; w++ {
		workers.Add(1)
		go func() {
			defer workers.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= o.members {
					return
				}
				m, err := connectOne(ctx, i, o, nodes, tr)
				mu.Lock()
				if err != nil {
					failures++
					if firstErr == nil {
						firstErr = err
					}
				} else {
					members = append(members, m)
				}
				mu.Unlock()
				if err == nil {
					readers.Add(1)
					go func() { defer readers.Done(); m.read(readCtx, joins) }()
				}
			}
		}()
	}
	workers.Wait()
	if firstErr != nil {
		logf("first connect failure: %v", firstErr)
	}
	return members, failures
}

// connectOne walks member i through lobby, get_token, create_member and
// the WebSocket, within 30 seconds.
func connectOne(ctx context.Context, i int, o options, nodes []*node, tr http.RoundTripper) (*member, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	m := &member{room: i % o.rooms, node: (i / o.rooms) % len(nodes)}
	room := roomName(m.room)
	b := newBrowser(tr, nodes[m.node].addr, clientIP(10, i+1))
	if err := b.lobby(ctx); err != nil {
		return nil, err
	}
	uid, err := b.token(ctx, room)
	if err != nil {
		return nil, err
	}
	m.uid = uid
	if err := b.createMember(ctx, room, fmt.Sprintf("Member %d", i), uid); err != nil {
		return nil, err
	}
	if m.ws, err = b.dial(ctx, room); err != nil {
		return nil, err
	}
	m.ws.SetReadLimit(1 << 20) // snapshots of large rooms exceed the default 32 KiB
	return m, nil
}

func closeAll(members []*member) {
	for _, m := range members {
		m.ws.CloseNow()
	}
}

// sampleJoins creates o.samples fresh members, one every 20 ms, on nodes
// and rooms in turn, and times how long each takes to appear on the
// sockets that should see it. t0 is taken just before create_member is
// sent; the lobby and token requests come before it and are not counted.
func sampleJoins(ctx context.Context, o options, nodes []*node, tr http.RoundTripper, members []*member, joins *joinWatch) (latencies, error) {
	watchers := countWatchers(o, members, len(nodes))
	var samples []*joinSample
	for i := 0; i < o.samples && ctx.Err() == nil; i++ {
		s := &joinSample{node: i % len(nodes), room: i % o.rooms}
		s.expected = watchers[s.room][s.node]
		if err := sampleOne(ctx, i, s, nodes, tr, joins); err != nil {
			return latencies{}, fmt.Errorf("join sample %d: %w", i, err)
		}
		samples = append(samples, s)
		time.Sleep(20 * time.Millisecond)
	}
	waitObserved(ctx, samples, 5*time.Second)
	return summarize(samples), ctx.Err()
}

// countWatchers gives, per room and joining node, how many members should
// see a join there: all the room's members on one node, else those on the
// other nodes.
func countWatchers(o options, members []*member, nodes int) [][]int {
	w := make([][]int, o.rooms)
	for r := range w {
		w[r] = make([]int, nodes)
	}
	for _, m := range members {
		for n := 0; n < nodes; n++ {
			if nodes == 1 || m.node != n {
				w[m.room][n]++
			}
		}
	}
	return w
}

func sampleOne(ctx context.Context, i int, s *joinSample, nodes []*node, tr http.RoundTripper, joins *joinWatch) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	room := roomName(s.room)
	b := newBrowser(tr, nodes[s.node].addr, clientIP(11, i+1))
	if err := b.lobby(ctx); err != nil {
		return err
	}
	uid, err := b.token(ctx, room)
	if err != nil {
		return err
	}
	joins.expect(uid, s)
	s.t0 = time.Now()
	return b.createMember(ctx, room, fmt.Sprintf("Sample %d", i), uid)
}

// waitObserved waits, at most within, until every sample has all its
// expected observations.
func waitObserved(ctx context.Context, samples []*joinSample, within time.Duration) {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		done := true
		for _, s := range samples {
			if s.observed() < s.expected {
				done = false
				break
			}
		}
		if done {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// summarize turns every observation of every sample into percentiles.
func summarize(samples []*joinSample) latencies {
	var ms []float64
	missing := 0
	for _, s := range samples {
		s.mu.Lock()
		for _, t := range s.seen {
			ms = append(ms, float64(t.Sub(s.t0).Microseconds())/1000)
		}
		missing += max(0, s.expected-len(s.seen))
		s.mu.Unlock()
	}
	sort.Float64s(ms)
	return latencies{P50: round2(percentile(ms, 50)), P95: round2(percentile(ms, 95)), P99: round2(percentile(ms, 99)),
		Max: round2(percentile(ms, 100)), Observations: len(ms), Missing: missing}
}

// percentile is the nearest-rank percentile of sorted values.
func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	k := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[min(max(k, 0), len(sorted)-1)]
}

func round2(v float64) float64 { return math.Round(v*100) / 100 }

// maxSignalsPerSender keeps each sender under the server's limit of 10
// signals per second per socket, with room for timer jitter.
const maxSignalsPerSender = 8

// runEvents has members send signals for o.events at o.signalRate per room
// and counts the signal frames every socket receives and the CPU the nodes
// spend meanwhile.
func runEvents(ctx context.Context, o options, nodes []*node, members []*member, res *result) error {
	senders, perRoom := pickSenders(o, members)
	frame := []byte(`{"type":"signal","data":{"kind":"chat","text":"bench"}}`)
	delivered := func() int64 {
		var n int64
		for _, m := range members {
			n += m.signals.Load()
		}
		return n
	}
	errorsBefore := countErrors(members)
	cpu0, err := sumCPU(nodes)
	if err != nil {
		return err
	}
	d0, t0 := delivered(), time.Now()

	evCtx, cancel := context.WithTimeout(ctx, o.events)
	defer cancel()
	interval := time.Duration(float64(time.Second) * float64(perRoom) / o.signalRate)
	var sent atomic.Int64
	var wg sync.WaitGroup
	for i, m := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Spread the senders' first ticks over one interval.
			offset := interval * time.Duration(i) / time.Duration(len(senders))
			sendSignals(evCtx, m, frame, offset, interval, &sent)
		}()
	}
	wg.Wait()

	cpu1, err := sumCPU(nodes)
	if err != nil {
		return err
	}
	d1, elapsed := delivered(), time.Since(t0)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	events := d1 - d0
	res.SignalsSent = sent.Load()
	res.SignalErrors = countErrors(members) - errorsBefore
	res.EventsPerSecond = math.Round(float64(events) / elapsed.Seconds())
	if events > 0 {
		us := float64((cpu1 - cpu0).Microseconds()) / float64(events)
		res.CPUMicrosPerEvt = round2(us)
		res.CPUMillisPer1000 = round2(us) // µs per event is ms per 1,000 events
	}
	logf("events: %d delivered in %v, node CPU %v", events, elapsed.Round(time.Millisecond), cpu1-cpu0)
	return nil
}

// pickSenders chooses, per room, enough members to send o.signalRate
// signals per second without any one exceeding maxSignalsPerSender, and
// returns them with their number per room.
func pickSenders(o options, members []*member) ([]*member, int) {
	per := int(math.Ceil(o.signalRate / maxSignalsPerSender))
	byRoom := make([][]*member, o.rooms)
	for _, m := range members {
		if len(byRoom[m.room]) < per {
			byRoom[m.room] = append(byRoom[m.room], m)
		}
	}
	var out []*member
	for r := range byRoom {
		out = append(out, byRoom[r]...)
	}
	return out, per
}

func countErrors(members []*member) int64 {
	var n int64
	for _, m := range members {
		n += m.errors.Load()
	}
	return n
}

// sendSignals writes frame every interval until ctx ends.
func sendSignals(ctx context.Context, m *member, frame []byte, offset, interval time.Duration, sent *atomic.Int64) {
	select {
	case <-ctx.Done():
		return
	case <-time.After(offset):
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		wctx, cancel := context.WithTimeout(ctx, time.Second)
		err := m.ws.Write(wctx, websocket.MessageText, frame)
		cancel()
		if err == nil {
			sent.Add(1)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
