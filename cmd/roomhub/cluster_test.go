package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/redis/go-redis/v9"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// binary builds the roomhub binary once for the package's tests.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "roomhub-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "roomhub")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("%v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatalf("build: %v", buildErr)
	}
	return binPath
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// syncBuffer collects a process's output.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// cluster is several roomhub processes sharing one Redis (started by the
// test, so it can be restarted) and one fresh PostgreSQL database.
type cluster struct {
	t       *testing.T
	redis   string // host:port
	rcmd    *exec.Cmd
	dbURL   string
	nodes   []*exec.Cmd
	addrs   []string
	metrics []string
	logs    []*syncBuffer
	dataDir string
}

func startRedis(t *testing.T, addr string) *exec.Cmd {
	t.Helper()
	path, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatal("redis-server is not installed; run `make test-deps`")
	}
	_, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command(path, "--bind", "127.0.0.1", "--port", port, "--save", "", "--appendonly", "no")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	deadline := time.Now().Add(10 * time.Second)
	for rdb.Ping(context.Background()).Err() != nil {
		if time.Now().After(deadline) {
			t.Fatal("test redis did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return cmd
}

// testDatabase creates a fresh PostgreSQL database for one test.
func testDatabase(t *testing.T) string {
	t.Helper()
	base := os.Getenv("ROOMHUB_TEST_DATABASE_URL")
	if base == "" {
		base = "postgres://roomhub:roomhub@127.0.0.1:5432/roomhub_test?sslmode=disable"
	}
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := admin.PingContext(ctx); err != nil {
		t.Fatalf("PostgreSQL at %s is not reachable (%v); run `make test-deps`", base, err)
	}
	b := make([]byte, 6)
	rand.Read(b)
	name := "roomhub_cluster_" + hex.EncodeToString(b) // hex only: safe as an identifier
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		a, err := sql.Open("pgx", base)
		if err != nil {
			return
		}
		defer a.Close()
		a.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)")
	})
	u, _ := url.Parse(base)
	u.Path = "/" + name
	return u.String()
}

func newCluster(t *testing.T, n int) *cluster {
	c := &cluster{t: t, redis: freeAddr(t), dbURL: testDatabase(t), dataDir: t.TempDir()}
	c.rcmd = startRedis(t, c.redis)
	t.Cleanup(func() {
		for _, p := range c.nodes {
			if p != nil {
				p.Process.Kill()
				p.Wait()
			}
		}
		c.rcmd.Process.Kill()
		c.rcmd.Wait()
		if t.Failed() {
			for i, l := range c.logs {
				t.Logf("node %d log (tail):\n%s", i, tail(l.String(), 3000))
			}
		}
	})
	for i := 0; i < n; i++ {
		c.addrs = append(c.addrs, freeAddr(t))
		c.metrics = append(c.metrics, freeAddr(t))
		c.nodes = append(c.nodes, nil)
		c.logs = append(c.logs, &syncBuffer{})
		c.start(i)
	}
	return c
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// Cluster timings for the test: fast liveness so a dead node is noticed
// within about two seconds.
const (
	testHeartbeat = 200 * time.Millisecond
	testNodeTTL   = time.Second
	reapPeriod    = time.Second // hub.DefaultReapInterval
)

func (c *cluster) start(i int) {
	t := c.t
	cmd := exec.Command(binary(t), "serve")
	cmd.Env = append(os.Environ(), "DEBUG=true", "SECRET_KEY="+strongKey, "APP_MASTER_KEY="+testMasterKey, "API_KEY_SECRET="+testAPIKeySecret, "ADDR="+c.addrs[i],
		"REDIS_URL=redis://"+c.redis+"/0", "DATABASE_URL="+c.dbURL, "DATA_DIR="+c.dataDir,
		"TRUSTED_PROXIES=127.0.0.1/32", "MEMBER_GRACE=30s", "METRICS_ADDR="+c.metrics[i],
		"NODE_HEARTBEAT="+testHeartbeat.String(), "NODE_TTL="+testNodeTTL.String())
	cmd.Stdout, cmd.Stderr = c.logs[i], c.logs[i]
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c.nodes[i] = cmd
	waitHTTP(t, "http://"+c.addrs[i]+"/healthz")
}

// participant is one person's browser, behind the load balancer as IP ip.
type participant struct {
	c    *http.Client
	ip   string
	node int
	uid  uint32
	name string
	csrf string
	w    *watcher
}

func (c *cluster) do(p *participant, method, path, body string, hdr map[string]string) (int, string) {
	c.t.Helper()
	req, _ := http.NewRequest(method, "http://"+c.addrs[p.node]+path, strings.NewReader(body))
	req.Header.Set("X-Forwarded-For", p.ip)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := p.c.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

var csrfRe = regexp.MustCompile(`name="csrf-token" content="([^"]+)"`)

// join walks the participant flow on node: lobby, token, member, socket.
func (c *cluster) join(node int, ip, room, name string) *participant {
	c.t.Helper()
	jar, _ := cookiejar.New(nil)
	p := &participant{c: &http.Client{Jar: jar, Timeout: 10 * time.Second}, ip: ip, node: node, name: name}
	_, page := c.do(p, "GET", "/", "", nil)
	p.csrf = csrfRe.FindStringSubmatch(page)[1]
	code, tok := c.do(p, "GET", "/get_token/?channel="+room, "", nil)
	if code != 200 {
		c.t.Fatalf("get_token: %d %s", code, tok)
	}
	var tr struct{ UID uint32 }
	json.Unmarshal([]byte(tok), &tr)
	p.uid = tr.UID
	body := fmt.Sprintf(`{"name":%q,"room_name":%q,"UID":%d}`, name, room, p.uid)
	if code, b := c.do(p, "POST", "/create_member/", body, map[string]string{"Content-Type": "application/json", "X-CSRF-Token": p.csrf}); code != 200 {
		c.t.Fatalf("create_member: %d %s", code, b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws://"+c.addrs[node]+"/ws/"+room, &websocket.DialOptions{
		HTTPClient: p.c, HTTPHeader: http.Header{"X-Forwarded-For": {ip}}})
	if err != nil {
		c.t.Fatalf("dial: %v", err)
	}
	p.w = watch(ws)
	c.t.Cleanup(func() { ws.CloseNow() })
	return p
}

// watcher applies a socket's frames as a client would and records any
// breach of the protocol's promises.
type watcher struct {
	mu        sync.Mutex
	roster    map[uint32]string
	last      uint64
	snapshots int
	joins     map[uint32]int    // joins seen after the first snapshot
	leaves    map[uint32]string // reason
	errs      []string
	closed    error
}

func watch(ws *websocket.Conn) *watcher {
	w := &watcher{roster: map[uint32]string{}, joins: map[uint32]int{}, leaves: map[uint32]string{}}
	go func() {
		for {
			_, b, err := ws.Read(context.Background())
			if err != nil {
				w.mu.Lock()
				w.closed = err
				w.mu.Unlock()
				return
			}
			var f struct {
				Type    string
				Seq     uint64
				Members []struct {
					UID  uint32
					Name string
				}
				Member struct {
					UID  uint32
					Name string
				}
				UID    uint32
				Reason string
			}
			json.Unmarshal(b, &f)
			w.mu.Lock()
			switch f.Type {
			case "snapshot":
				w.snapshots++
				w.roster = map[uint32]string{}
				for _, m := range f.Members {
					w.roster[m.UID] = m.Name
				}
				w.last = f.Seq
			case "join", "leave", "signal":
				if f.Seq != w.last+1 {
					w.errs = append(w.errs, fmt.Sprintf("%s at seq %d after %d", f.Type, f.Seq, w.last))
				}
				w.last = f.Seq
				if f.Type == "join" {
					if _, dup := w.roster[f.Member.UID]; dup {
						w.errs = append(w.errs, fmt.Sprintf("join of %d seen twice", f.Member.UID))
					}
					w.joins[f.Member.UID]++
					w.roster[f.Member.UID] = f.Member.Name
				}
				if f.Type == "leave" {
					if _, ok := w.leaves[f.UID]; ok {
						w.errs = append(w.errs, fmt.Sprintf("leave of %d seen twice", f.UID))
					}
					w.leaves[f.UID] = f.Reason
					delete(w.roster, f.UID)
				}
			}
			w.mu.Unlock()
		}
	}()
	return w
}

func (w *watcher) state() (roster map[uint32]string, snapshots int, errs []string, closed error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	r := make(map[uint32]string, len(w.roster))
	for k, v := range w.roster {
		r[k] = v
	}
	return r, w.snapshots, append([]string(nil), w.errs...), w.closed
}

// converge waits until every watcher's roster is exactly want.
func converge(t *testing.T, ps []*participant, want map[uint32]bool, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		ok := true
		for _, p := range ps {
			r, _, _, _ := p.w.state()
			if len(r) != len(want) {
				ok = false
				break
			}
			for uid := range want {
				if _, in := r[uid]; !in {
					ok = false
				}
			}
		}
		if ok {
			return time.Since(start)
		}
		if time.Since(start) > within {
			for _, p := range ps {
				r, s, errs, closed := p.w.state()
				t.Logf("participant %d on node %d: %d members, %d snapshots, errs %v, closed %v", p.uid, p.node, len(r), s, errs, closed)
			}
			t.Fatalf("rosters did not converge to %d members within %v", len(want), within)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestCluster runs three nodes on one Redis and one PostgreSQL and checks
// what a cluster promises: one roster everywhere, cluster-wide rate limits,
// dead nodes' members expiring, and recovery from a Redis restart.
func TestCluster(t *testing.T) {
	c := newCluster(t, 3)
	const members = 50
	var ps []*participant
	want := map[uint32]bool{}
	for i := 0; i < members; i++ {
		p := c.join(i%3, fmt.Sprintf("203.0.113.%d", i+1), "standup", fmt.Sprintf("Member %d", i+1))
		ps = append(ps, p)
		want[p.uid] = true
	}

	t.Run("one roster on every node", func(t *testing.T) {
		took := converge(t, ps, want, time.Second)
		t.Logf("50 rosters converged %v after the last join", took)
		for i, p := range ps {
			_, _, errs, _ := p.w.state()
			if len(errs) > 0 {
				t.Fatalf("participant %d: %v", i, errs)
			}
			p.w.mu.Lock()
			for _, later := range ps[i+1:] {
				if n := p.w.joins[later.uid]; n != 1 {
					t.Errorf("participant %d saw the join of %d %d times", i, later.uid, n)
				}
			}
			p.w.mu.Unlock()
		}
	})

	t.Run("rate limit holds for the cluster", func(t *testing.T) {
		ok, limited := 0, 0
		for i := 0; i < 11; i++ {
			jar, _ := cookiejar.New(nil)
			p := &participant{c: &http.Client{Jar: jar}, ip: "198.51.100.77", node: i % 3}
			switch code, _ := c.do(p, "GET", "/get_token/?channel=limits", "", nil); code {
			case 200:
				ok++
			case 429:
				limited++
			default:
				t.Fatalf("status %d", code)
			}
		}
		if ok != 10 || limited != 1 {
			t.Fatalf("%d succeeded and %d were limited, want 10 and 1", ok, limited)
		}
	})

	t.Run("a killed node's members expire everywhere", func(t *testing.T) {
		c.nodes[2].Process.Signal(syscall.SIGKILL)
		c.nodes[2].Wait()
		killed := time.Now()
		survivors := map[uint32]bool{}
		var alive []*participant
		for _, p := range ps {
			if p.node != 2 {
				survivors[p.uid] = true
				alive = append(alive, p)
			}
		}
		took := converge(t, alive, survivors, testNodeTTL+reapPeriod+2*time.Second)
		t.Logf("dead node's members gone %v after kill -9 (TTL %v + reaper %v)", time.Since(killed).Round(time.Millisecond), testNodeTTL, reapPeriod)
		_ = took
		for _, p := range alive {
			p.w.mu.Lock()
			for _, gone := range ps {
				if gone.node == 2 && p.w.leaves[gone.uid] != "expired" {
					t.Errorf("participant %d: leave of %d has reason %q, want expired", p.uid, gone.uid, p.w.leaves[gone.uid])
				}
			}
			p.w.mu.Unlock()
		}
		// Restarting the node brings back no ghost: a newcomer there sees
		// the survivors and itself.
		c.start(2)
		newcomer := c.join(2, "203.0.113.200", "standup", "Newcomer")
		survivors[newcomer.uid] = true
		converge(t, append(alive, newcomer), survivors, 2*time.Second)
		ps = append(alive, newcomer)
		want = survivors
	})

	t.Run("Redis restart: fresh snapshots, nothing lost", func(t *testing.T) {
		before := map[*participant]int{}
		for _, p := range ps {
			_, s, _, _ := p.w.state()
			before[p] = s
		}
		c.rcmd.Process.Signal(syscall.SIGKILL)
		c.rcmd.Wait()
		// While Redis is down, token minting fails closed and reads stay
		// open (their rate limits count on each node alone).
		p := ps[0]
		if code, body := c.do(p, "GET", "/get_token/?channel=standup", "", nil); code != 503 {
			t.Errorf("get_token with Redis down: %d %s, want 503", code, body)
		}
		if code, body := c.do(p, "GET", fmt.Sprintf("/get_member/?UID=%d&room_name=standup", p.uid), "", nil); code != 200 {
			t.Errorf("get_member with Redis down: %d %s, want 200", code, body)
		}
		c.rcmd = startRedis(t, c.redis)
		converge(t, ps, want, 10*time.Second)
		deadline := time.Now().Add(10 * time.Second)
		for _, p := range ps {
			for {
				_, s, _, closed := p.w.state()
				if s > before[p] {
					break
				}
				if closed != nil || time.Now().After(deadline) {
					t.Fatalf("participant %d got no fresh snapshot (closed: %v)", p.uid, closed)
				}
				time.Sleep(10 * time.Millisecond)
			}
		}
		// The outage shows in every node's metrics.
		for i, addr := range c.metrics {
			res, err := http.Get("http://" + addr + "/metrics")
			if err != nil {
				t.Fatalf("node %d metrics: %v", i, err)
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if !regexp.MustCompile(`(?m)^roomhub_bus_reconnects_total [1-9]`).Match(b) || !regexp.MustCompile(`(?m)^roomhub_bus_errors_total [1-9]`).Match(b) {
				t.Errorf("node %d metrics do not show the Redis outage:\n%s", i, grepLines(string(b), "roomhub_bus_"))
			}
		}
		for i, addr := range c.addrs {
			res, err := http.Get("http://" + addr + "/readyz")
			if err != nil || res.StatusCode != 200 {
				t.Fatalf("node %d after the Redis restart: %v %v", i, res, err)
			}
			res.Body.Close()
		}
	})
}
