package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/redis/go-redis/v9"
)

// The soak churns participants through one node the way people use it
// (lobby, get_token, create_member, WebSocket, one signal, then leave) and
// checks that the node gives back what they held: after the churn and a
// rest, its open file descriptors, goroutines, live heap and (on Redis) its
// room keys are back near where they started. Every cycle uses a new room
// (one meeting per room, as many deployments name them) and a new client
// address, and leaves one of the ways people leave:
//
//	leave   delete_member, then a normal close
//	vanish  the TCP connection closes without a close frame (a crashed tab)
//	error   a close frame with an application error code
//	reset   the TCP connection is reset (RST), as a dropped network does
//
// The node runs with a short MEMBER_GRACE and EMPTY_ROOM_TTL so that
// members who vanished leave, and empty rooms' keys expire, within the rest.
type soakOptions struct {
	duration time.Duration // churn for this long (0: until cycles)
	cycles   int           // or stop after this many cycles
	workers  int
	idle     time.Duration
	every    time.Duration
}

func (s soakOptions) enabled() bool { return s.duration > 0 || s.cycles > 0 }

// Soak limits: how far above its starting point a rested node may be.
const (
	soakFDSlack        = 40
	soakGoroutineSlack = 30
	soakHeapSlack      = 4 << 20
	soakRoomKeySlack   = 0
)

var leaveModes = [...]string{"leave", "vanish", "error", "reset"}

// closeLeft is the code the node closes a member's socket with once the
// member left (docs/protocol.md).
const closeLeft = websocket.StatusCode(4003)

// soakResult is the soak's JSON line.
type soakResult struct {
	Backend    string         `json:"backend"`
	Cycles     int64          `json:"cycles"`
	Failures   int64          `json:"failures"`
	ByMode     map[string]int `json:"cycles_by_mode"`
	DurationS  float64        `json:"churn_s"`
	Start      nodeUsage      `json:"start"`
	Peak       nodeUsage      `json:"peak"`
	End        nodeUsage      `json:"end"`
	RoomKeys   [2]int         `json:"redis_room_keys_start_end,omitempty"`
	CyclesPerS float64        `json:"cycles_per_s"`
}

// nodeUsage is what the node holds, read from /proc and from its metrics
// right after a forced collection.
type nodeUsage struct {
	FDs        int     `json:"fds"`
	Goroutines int     `json:"goroutines"`
	HeapMiB    float64 `json:"heap_mib"`
	RSSMiB     float64 `json:"rss_mib"`
}

func (u nodeUsage) String() string {
	return fmt.Sprintf("fds %d, goroutines %d, live heap %.1f MiB, RSS %.1f MiB", u.FDs, u.Goroutines, u.HeapMiB, u.RSSMiB)
}

// soak runs the whole soak and reports progress on w. The error says which
// resource did not come back.
func soak(ctx context.Context, o options, w io.Writer) (*soakResult, error) {
	dir, err := os.MkdirTemp("", "roomhub-soak-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	var b backing
	backend := "sqlite+memory"
	if o.redisURL != "" {
		var cleanup func()
		b, cleanup, err = prepareCluster(ctx, o)
		if err != nil {
			return nil, err
		}
		defer cleanup()
		backend = "postgres+redis"
	}
	metricsAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	pprofAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	o.nodes = 1
	o.env = append(o.env, "METRICS_ADDR="+metricsAddr, "PPROF_ADDR="+pprofAddr,
		"MEMBER_GRACE=1s", "EMPTY_ROOM_TTL=2s", "MAX_ORG_ROOMS=100000")
	nodes, err := startNodes(ctx, o, b, dir)
	if err != nil {
		return nil, err
	}
	defer stopNodes(nodes)
	n := nodes[0]
	res := &soakResult{Backend: backend, ByMode: map[string]int{}}
	var rdb *redis.Client
	if o.redisURL != "" {
		opt, _ := redis.ParseURL(o.redisURL)
		rdb = redis.NewClient(opt)
		defer rdb.Close()
	}
	usage := func() (nodeUsage, error) { return readUsage(ctx, n, metricsAddr, pprofAddr) }

	var seq atomic.Int64
	var failures atomic.Int64
	var modeMu sync.Mutex
	cycle := func(ctx context.Context) {
		i := seq.Add(1)
		mode := leaveModes[i%int64(len(leaveModes))]
		if err := participant(ctx, n.addr, int(i), mode); err != nil {
			if ctx.Err() == nil {
				if failures.Add(1) <= 5 {
					fmt.Fprintf(w, "soak: cycle %d (%s): %v\n", i, mode, err)
				}
			}
			return
		}
		modeMu.Lock()
		res.ByMode[mode]++
		modeMu.Unlock()
	}
	// Warm up: pools, caches and lazily made state exist from here on.
	for i := 0; i < 2*len(leaveModes); i++ {
		cycle(ctx)
	}
	if err := rest(ctx, o.soak.idle); err != nil {
		return nil, err
	}
	if res.Start, err = usage(); err != nil {
		return nil, err
	}
	if rdb != nil {
		if res.RoomKeys[0], err = roomKeys(ctx, rdb); err != nil {
			return nil, err
		}
	}
	fmt.Fprintf(w, "soak: %s, %d workers; start: %s\n", backend, o.soak.workers, res.Start)
	seq.Store(0)
	failures.Store(0)
	clear(res.ByMode)
	res.Peak = res.Start

	// Workers stop starting cycles at the deadline or the count; cycles in
	// flight finish, so none is cut off halfway.
	began := time.Now()
	more := func() bool {
		if ctx.Err() != nil {
			return false
		}
		if o.soak.duration > 0 && time.Since(began) >= o.soak.duration {
			return false
		}
		return o.soak.cycles <= 0 || seq.Load() < int64(o.soak.cycles)
	}
	var wg sync.WaitGroup
	for range o.soak.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for more() {
				cycle(ctx)
			}
		}()
	}
	tick := time.NewTicker(o.soak.every)
	defer tick.Stop()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
churn:
	for {
		select {
		case <-done:
			break churn
		case <-tick.C:
			u, err := usage()
			if err != nil {
				fmt.Fprintf(w, "soak: reading the node: %v\n", err)
				continue
			}
			res.Peak = maxUsage(res.Peak, u)
			fmt.Fprintf(w, "soak: %6.0fs %7d cycles (%d failed): %s\n", time.Since(began).Seconds(), seq.Load(), failures.Load(), u)
		}
	}
	res.DurationS = time.Since(began).Seconds()
	res.Cycles, res.Failures = seq.Load(), failures.Load()
	res.CyclesPerS = float64(res.Cycles) / res.DurationS
	if ctx.Err() != nil {
		return res, ctx.Err()
	}
	fmt.Fprintf(w, "soak: %d cycles in %.0fs; resting %s\n", res.Cycles, res.DurationS, o.soak.idle)
	if err := rest(ctx, o.soak.idle); err != nil {
		return res, err
	}
	if res.End, err = usage(); err != nil {
		return res, err
	}
	fmt.Fprintf(w, "soak: end: %s\n", res.End)
	var problems []string
	if res.End.FDs > res.Start.FDs+soakFDSlack {
		problems = append(problems, fmt.Sprintf("%d file descriptors, %d at the start", res.End.FDs, res.Start.FDs))
	}
	if res.End.Goroutines > res.Start.Goroutines+soakGoroutineSlack {
		problems = append(problems, fmt.Sprintf("%d goroutines, %d at the start", res.End.Goroutines, res.Start.Goroutines))
	}
	if res.End.HeapMiB > res.Start.HeapMiB+soakHeapSlack/(1<<20) {
		problems = append(problems, fmt.Sprintf("live heap %.1f MiB, %.1f MiB at the start", res.End.HeapMiB, res.Start.HeapMiB))
	}
	if rdb != nil {
		// Empty rooms' keys expire EMPTY_ROOM_TTL after their last event.
		deadline := time.Now().Add(10 * time.Second)
		for {
			if res.RoomKeys[1], err = roomKeys(ctx, rdb); err != nil {
				return res, err
			}
			if res.RoomKeys[1] <= res.RoomKeys[0]+soakRoomKeySlack || time.Now().After(deadline) {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		if res.RoomKeys[1] > res.RoomKeys[0]+soakRoomKeySlack {
			problems = append(problems, fmt.Sprintf("%d room keys in Redis, %d at the start", res.RoomKeys[1], res.RoomKeys[0]))
		}
	}
	if res.Failures > res.Cycles/100 {
		problems = append(problems, fmt.Sprintf("%d of %d cycles failed", res.Failures, res.Cycles))
	}
	if len(problems) > 0 {
		return res, fmt.Errorf("after %d cycles the node did not return to where it started: %s; its log:\n%s",
			res.Cycles, strings.Join(problems, "; "), logTail(n))
	}
	return res, nil
}

func rest(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

func maxUsage(a, b nodeUsage) nodeUsage {
	return nodeUsage{FDs: max(a.FDs, b.FDs), Goroutines: max(a.Goroutines, b.Goroutines),
		HeapMiB: max(a.HeapMiB, b.HeapMiB), RSSMiB: max(a.RSSMiB, b.RSSMiB)}
}

// readUsage forces a collection in the node (the heap profile's gc=1), then
// reads its descriptors and RSS from /proc and its goroutines and heap from
// its metrics.
func readUsage(ctx context.Context, n *node, metricsAddr, pprofAddr string) (nodeUsage, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := drain(ctx, "http://"+pprofAddr+"/debug/pprof/heap?gc=1"); err != nil {
		return nodeUsage{}, fmt.Errorf("forcing a collection: %w", err)
	}
	var u nodeUsage
	fds, err := os.ReadDir(filepath.Join("/proc", strconv.Itoa(n.cmd.Process.Pid), "fd"))
	if err != nil {
		return u, err
	}
	u.FDs = len(fds)
	rss, err := rssKiB(n.cmd.Process.Pid)
	if err != nil {
		return u, err
	}
	u.RSSMiB = float64(rss) / 1024
	vals, err := scrape(ctx, "http://"+metricsAddr+"/metrics", "go_goroutines", "go_memstats_heap_alloc_bytes")
	if err != nil {
		return u, err
	}
	u.Goroutines = int(vals["go_goroutines"])
	u.HeapMiB = vals["go_memstats_heap_alloc_bytes"] / (1 << 20)
	return u, nil
}

func drain(ctx context.Context, url string) error {
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		return fmt.Errorf("%s: %s", url, res.Status)
	}
	_, err = io.Copy(io.Discard, res.Body)
	return err
}

// scrape reads the named unlabelled samples from a Prometheus text page.
func scrape(ctx context.Context, url string, names ...string) (map[string]float64, error) {
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		for _, want := range names {
			if name == want {
				v, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
				if err == nil {
					out[name] = v
				}
			}
		}
	}
	for _, want := range names {
		if _, ok := out[want]; !ok {
			return nil, fmt.Errorf("%s: no %s", url, want)
		}
	}
	return out, sc.Err()
}

// roomKeys counts the Redis keys rooms leave: every key but the node
// heartbeat set and the rate-limit counters (which expire with their
// window).
func roomKeys(ctx context.Context, rdb *redis.Client) (int, error) {
	n := 0
	it := rdb.Scan(ctx, 0, "*", 1000).Iterator()
	for it.Next(ctx) {
		k := it.Val()
		if k == "roomhub:nodes" || strings.HasPrefix(k, "roomhub:ratelimit:") {
			continue
		}
		n++
	}
	return n, it.Err()
}

// participant is one person's visit: lobby, token, member, socket, one
// signal seen by the room, then leaving by mode. Each visit has its own
// cookie jar, client address and TCP connections.
func participant(ctx context.Context, addr string, i int, mode string) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	var last atomic.Pointer[net.TCPConn]
	tr := &http.Transport{DialContext: func(ctx context.Context, network, a string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, a)
		if tc, ok := c.(*net.TCPConn); ok {
			last.Store(tc)
		}
		return c, err
	}}
	defer tr.CloseIdleConnections()
	b := newBrowser(tr, addr, clientIP(11, i))
	room := "soak-" + strconv.Itoa(i)
	name := "Person " + strconv.Itoa(i%1000)
	if err := b.lobby(ctx); err != nil {
		return err
	}
	uid, err := b.token(ctx, room)
	if err != nil {
		return err
	}
	if err := b.createMember(ctx, room, name, uid); err != nil {
		return err
	}
	tr.CloseIdleConnections() // the socket gets a connection of its own
	ws, err := b.dial(ctx, room)
	if err != nil {
		return fmt.Errorf("websocket: %w", err)
	}
	defer ws.CloseNow()
	if err := expectFrame(ctx, ws, `{"type":"snapshot"`); err != nil {
		return err
	}
	if err := ws.Write(ctx, websocket.MessageText, []byte(`{"type":"signal","data":{"kind":"hand","raised":true}}`)); err != nil {
		return err
	}
	if err := expectFrame(ctx, ws, `{"type":"signal"`); err != nil {
		return err
	}
	switch mode {
	case "leave":
		body := fmt.Sprintf(`{"name":%q,"room_name":%q,"UID":%d}`, name, room, uid)
		code, resp, err := b.do(ctx, "POST", "/delete_member/", body,
			map[string]string{"Content-Type": "application/json", "X-CSRF-Token": b.csrf})
		if err != nil {
			return err
		}
		if code != 200 {
			return fmt.Errorf("delete_member: %d %s", code, resp)
		}
		// The node closes the socket itself (4003, you left the room);
		// either side's close ends it.
		err = ws.Close(websocket.StatusNormalClosure, "bye")
		if err != nil && websocket.CloseStatus(err) != closeLeft {
			return err
		}
		return nil
	case "vanish":
		return ws.CloseNow()
	case "error":
		ws.Close(websocket.StatusCode(4000), "client error")
		return nil
	case "reset":
		tc := last.Load()
		if tc == nil {
			return errors.New("no TCP connection to reset")
		}
		tc.SetLinger(0)
		return tc.Close()
	}
	return fmt.Errorf("unknown leave mode %q", mode)
}

// expectFrame reads until a frame starting with prefix arrives.
func expectFrame(ctx context.Context, ws *websocket.Conn, prefix string) error {
	for {
		_, data, err := ws.Read(ctx)
		if err != nil {
			return fmt.Errorf("waiting for %s: %w", prefix, err)
		}
		if strings.HasPrefix(string(data), prefix) {
			return nil
		}
	}
}
