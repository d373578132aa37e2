package deploy

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
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/redis/go-redis/v9"
	"gopkg.in/yaml.v3"
)

// The topology the deployment files describe, run for real: the shipped
// nginx.conf in front of three roomhub processes on one private Redis and a
// fresh PostgreSQL database, scraped by a real Prometheus loading the
// shipped prometheus.yml and rules.yml. Only addresses are rewritten, plus
// the scrape and evaluation intervals (1 s) and the rules' `for:` (minutes
// become seconds) so that alerts fire within a test.

// Timings given to the nodes: a dead node is noticed within about two
// seconds, and presence is reconciled twice a second.
const (
	topoHeartbeat = 200 * time.Millisecond
	topoNodeTTL   = time.Second
	topoReconcile = 500 * time.Millisecond
	topoGrace     = 3 * time.Second
	topoReap      = time.Second // hub.DefaultReapInterval
	topoRepair    = time.Second
)

const (
	topoSecretKey = "q8Jx3VbN0pLm7ZcR2tWy5KfH9sDg4AeU1oIi6QwE8rTy0uPl3kMn"
	topoMasterKey = "3q2+7wABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhs="
	topoAPISecret = "api-key-secret-for-tests-0123456789abcdef"
	topoAgoraID   = "970CA35de60c44645bbae8a215061b33"
	topoAgoraCert = "5CFd2fd1755d40ecb72977518be15d3b"
)

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

type topoNode struct {
	addr, metrics string
	cmd           *exec.Cmd
	exited        chan struct{}
	log           *syncBuffer
}

type topology struct {
	t         *testing.T
	dir       string
	bin       string
	redisAddr string
	redis     *exec.Cmd
	dbURL     string
	db        *sql.DB
	nodes     []*topoNode
	lb        string // nginx, host:port
	prom      string // Prometheus, host:port
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func lookPath(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		for _, dir := range []string{"/usr/sbin", "/usr/bin"} {
			if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
				return filepath.Join(dir, name)
			}
		}
		t.Fatalf("%s is not installed: run make test-deps (Debian package %s)", name, pkg)
	}
	return p
}

// waitFor polls cond every 50 ms until it holds or within passes.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > within {
			t.Fatalf("not within %v: %s", within, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return time.Since(start)
}

func newTopology(t *testing.T, nodes int) *topology {
	tp := &topology{t: t, dir: t.TempDir()}
	tp.bin = filepath.Join(tp.dir, "roomhub")
	build := exec.Command("go", "build", "-o", tp.bin, "./cmd/roomhub")
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	tp.redisAddr = freePort(t)
	tp.startRedis()
	tp.dbURL, tp.db = freshDatabase(t)
	t.Cleanup(func() {
		for i, n := range tp.nodes {
			if n.cmd != nil {
				n.cmd.Process.Kill()
				<-n.exited
			}
			if t.Failed() {
				t.Logf("node %d log (tail):\n%s", i, tailOf(n.log.String(), 4000))
			}
		}
		tp.redis.Process.Kill()
		tp.redis.Wait()
	})
	// The proxy's address is the public one: the nodes build links from it
	// and accept its port in Host, as an operator configures them.
	tp.lb = freePort(t)
	for range nodes {
		n := &topoNode{addr: freePort(t), metrics: freePort(t), log: &syncBuffer{}}
		tp.nodes = append(tp.nodes, n)
		tp.start(len(tp.nodes) - 1)
	}
	tp.startNginx()
	tp.startPrometheus()
	return tp
}

func tailOf(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

func (tp *topology) startRedis() {
	t := tp.t
	_, port, _ := net.SplitHostPort(tp.redisAddr)
	tp.redis = exec.Command(lookPath(t, "redis-server", "redis-server"), "--bind", "127.0.0.1", "--port", port, "--save", "", "--appendonly", "no")
	if err := tp.redis.Start(); err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(&redis.Options{Addr: tp.redisAddr})
	defer rdb.Close()
	waitFor(t, 10*time.Second, "redis-server answers", func() bool { return rdb.Ping(context.Background()).Err() == nil })
}

func (tp *topology) killRedis() {
	tp.redis.Process.Signal(syscall.SIGKILL)
	tp.redis.Wait()
}

// freshDatabase creates an empty PostgreSQL database for the test.
func freshDatabase(t *testing.T) (string, *sql.DB) {
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
		t.Fatalf("PostgreSQL at %s is not reachable (%v); run make test-deps", base, err)
	}
	b := make([]byte, 6)
	rand.Read(b)
	name := "roomhub_topology_" + hex.EncodeToString(b)
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	u, _ := url.Parse(base)
	u.Path = "/" + name
	db, err := sql.Open("pgx", u.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		db.Close()
		if a, err := sql.Open("pgx", base); err == nil {
			a.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)")
			a.Close()
		}
	})
	return u.String(), db
}

func (tp *topology) start(i int) {
	t, n := tp.t, tp.nodes[i]
	n.cmd = exec.Command(tp.bin, "serve")
	n.cmd.Env = append(os.Environ(), "DEBUG=true", "SECRET_KEY="+topoSecretKey, "APP_MASTER_KEY="+topoMasterKey,
		"API_KEY_SECRET="+topoAPISecret, "AGORA_APP_ID="+topoAgoraID, "AGORA_APP_CERTIFICATE="+topoAgoraCert,
		"ADDR="+n.addr, "METRICS_ADDR="+n.metrics, "DATA_DIR="+tp.dir,
		"REDIS_URL=redis://"+tp.redisAddr+"/0", "DATABASE_URL="+tp.dbURL,
		"ALLOWED_HOSTS=127.0.0.1,localhost", "TRUSTED_PROXIES=127.0.0.1/32", "PUBLIC_URL=http://"+tp.lb,
		"NODE_HEARTBEAT="+topoHeartbeat.String(), "NODE_TTL="+topoNodeTTL.String(),
		"PRESENCE_RECONCILE="+topoReconcile.String(), "MEMBER_GRACE="+topoGrace.String(), "SHUTDOWN_TIMEOUT=5s",
		"HISTORY_REPAIR="+topoRepair.String())
	n.cmd.Stdout, n.cmd.Stderr = n.log, n.log
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	n.exited = make(chan struct{})
	go func(c *exec.Cmd, done chan struct{}) { c.Wait(); close(done) }(n.cmd, n.exited)
	waitFor(t, 15*time.Second, "node "+strconv.Itoa(i)+" ready", func() bool {
		res, err := http.Get("http://" + n.addr + "/readyz")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == 200
	})
}

// stop signals node i and waits for it to exit.
func (tp *topology) stop(i int, sig syscall.Signal, within time.Duration) time.Duration {
	n := tp.nodes[i]
	start := time.Now()
	n.cmd.Process.Signal(sig)
	select {
	case <-n.exited:
	case <-time.After(within):
		tp.t.Fatalf("node %d still running %v after %v", i, within, sig)
	}
	n.cmd = nil
	return time.Since(start)
}

// startNginx runs nginx with the shipped server block; only the upstream
// servers and the listen address are rewritten.
func (tp *topology) startNginx() {
	t := tp.t
	bin := lookPath(t, "nginx", "nginx-light")
	shipped, err := os.ReadFile("nginx.conf")
	if err != nil {
		t.Fatal(err)
	}
	conf := string(shipped)
	servers := regexp.MustCompile(`(?m)^\s*server node\d+:8080;\n`)
	if len(servers.FindAllString(conf, -1)) == 0 {
		t.Fatal("nginx.conf: no `server nodeN:8080;` upstream lines to rewrite")
	}
	var ours strings.Builder
	for _, n := range tp.nodes {
		fmt.Fprintf(&ours, "    server %s;\n", n.addr)
	}
	first := true
	conf = servers.ReplaceAllStringFunc(conf, func(string) string {
		if first {
			first = false
			return ours.String()
		}
		return ""
	})
	listen := regexp.MustCompile(`(?m)^(\s*)listen 80;`)
	if !listen.MatchString(conf) {
		t.Fatal("nginx.conf: no `listen 80;` to rewrite")
	}
	conf = listen.ReplaceAllString(conf, "${1}listen "+tp.lb+";")
	dir := filepath.Join(tp.dir, "nginx")
	os.MkdirAll(dir, 0o755)
	os.WriteFile(filepath.Join(dir, "roomhub.conf"), []byte(conf), 0o644)
	user := ""
	if os.Geteuid() == 0 {
		user = "user root;\n"
	}
	main := user + `worker_processes 1;
daemon off;
pid ` + dir + `/nginx.pid;
error_log ` + dir + `/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path ` + dir + `/client_temp;
    proxy_temp_path ` + dir + `/proxy_temp;
    fastcgi_temp_path ` + dir + `/fastcgi_temp;
    uwsgi_temp_path ` + dir + `/uwsgi_temp;
    scgi_temp_path ` + dir + `/scgi_temp;
    include ` + dir + `/roomhub.conf;
}
`
	os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(main), 0o644)
	cmd := exec.Command(bin, "-p", dir, "-c", filepath.Join(dir, "nginx.conf"), "-e", filepath.Join(dir, "error.log"))
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
		if t.Failed() {
			e, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Logf("nginx: %s\n%s", out.String(), tailOf(string(e), 2000))
		}
	})
	waitFor(t, 10*time.Second, "nginx answers", func() bool {
		res, err := http.Get("http://" + tp.lb + "/healthz")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == 200
	})
}

// startPrometheus runs Prometheus on the shipped configuration and rules.
func (tp *topology) startPrometheus() {
	t := tp.t
	bin := lookPath(t, "prometheus", "prometheus")
	dir := filepath.Join(tp.dir, "prometheus")
	os.MkdirAll(dir, 0o755)
	var cfg map[string]any
	raw, err := os.ReadFile("../monitoring/prometheus/prometheus.yml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	cfg["global"] = map[string]any{"scrape_interval": "1s", "evaluation_interval": "1s", "scrape_timeout": "1s"}
	cfg["rule_files"] = []string{filepath.Join(dir, "rules.yml")}
	var targets []string
	for _, n := range tp.nodes {
		targets = append(targets, n.metrics)
	}
	scs, _ := cfg["scrape_configs"].([]any)
	if len(scs) != 1 {
		t.Fatalf("prometheus.yml: %d scrape configs, want the one roomhub job", len(scs))
	}
	sc := scs[0].(map[string]any)
	sc["static_configs"] = []any{map[string]any{"targets": targets}}
	out, _ := yaml.Marshal(cfg)
	os.WriteFile(filepath.Join(dir, "prometheus.yml"), out, 0o644)

	rules, err := os.ReadFile("../monitoring/prometheus/rules.yml")
	if err != nil {
		t.Fatal(err)
	}
	// `for: Nm` becomes `for: Ns`: the same alerts, sixty times sooner.
	scaled := regexp.MustCompile(`(?m)^(\s*for:\s*)(\d+)m\s*$`).ReplaceAll(rules, []byte("${1}${2}s"))
	os.WriteFile(filepath.Join(dir, "rules.yml"), scaled, 0o644)

	tp.prom = freePort(t)
	cmd := exec.Command(bin, "--config.file="+filepath.Join(dir, "prometheus.yml"), "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+tp.prom)
	var log syncBuffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("prometheus log (tail):\n%s", tailOf(log.String(), 2000))
		}
	})
	waitFor(t, 20*time.Second, "Prometheus ready", func() bool {
		res, err := http.Get("http://" + tp.prom + "/-/ready")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == 200
	})
}

// alert is one entry of Prometheus's /api/v1/alerts.
type alert struct {
	Labels map[string]string
	State  string
}

func (tp *topology) alerts() []alert {
	tp.t.Helper()
	res, err := http.Get("http://" + tp.prom + "/api/v1/alerts")
	if err != nil {
		tp.t.Fatal(err)
	}
	defer res.Body.Close()
	var r struct {
		Data struct{ Alerts []alert }
	}
	json.NewDecoder(res.Body).Decode(&r)
	return r.Data.Alerts
}

// firing lists the instances name fires for ("" when it has no instance).
func (tp *topology) firing(name string) map[string]bool {
	out := map[string]bool{}
	for _, a := range tp.alerts() {
		if a.Labels["alertname"] == name && a.State == "firing" {
			out[a.Labels["instance"]] = true
		}
	}
	return out
}

// query evaluates an instant PromQL query; it returns the values of the
// result's samples.
func (tp *topology) query(q string) []float64 {
	tp.t.Helper()
	res, err := http.Get("http://" + tp.prom + "/api/v1/query?query=" + url.QueryEscape(q))
	if err != nil {
		tp.t.Fatal(err)
	}
	defer res.Body.Close()
	var r struct {
		Status string
		Error  string
		Data   struct {
			Result []struct {
				Value [2]any
			}
		}
	}
	json.NewDecoder(res.Body).Decode(&r)
	if r.Status != "success" {
		tp.t.Fatalf("query %s: %s", q, r.Error)
	}
	var out []float64
	for _, s := range r.Data.Result {
		v, _ := strconv.ParseFloat(fmt.Sprint(s.Value[1]), 64)
		out = append(out, v)
	}
	return out
}

// browser is one person's browser tab, reaching Roomhub only through nginx
// as a browser does: Origin with the port, no Sec-Fetch-Site (older
// browsers), and its own address in X-Forwarded-For.
type browser struct {
	tp   *topology
	c    *http.Client
	ip   string
	room string
	name string
	uid  uint32
	csrf string
	w    *watcher

	mu         sync.Mutex
	redial     bool // reconnect like the page: on any close but 4001-4099
	reconnects int
	refused    []websocket.StatusCode // 4001-4099 closes: the page stops
}

func (tp *topology) newBrowser(ip string) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{tp: tp, c: &http.Client{Jar: jar, Timeout: 10 * time.Second}, ip: ip}
}

func (b *browser) do(method, path, body string, hdr map[string]string) (int, http.Header, string, error) {
	req, _ := http.NewRequest(method, "http://"+b.tp.lb+path, strings.NewReader(body))
	req.Header.Set("X-Forwarded-For", b.ip)
	req.Header.Set("Origin", "http://"+b.tp.lb)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := b.c.Do(req)
	if err != nil {
		return 0, nil, "", err
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header, string(raw), nil
}

var csrfMeta = regexp.MustCompile(`name="csrf-token" content="([^"]+)"`)

// join walks the page's flow: lobby, token, member, socket. It reports the
// first failure instead of failing the test, so drills can retry while the
// cluster recovers.
func (b *browser) join(room, name string) error {
	b.room, b.name = room, name
	code, _, page, err := b.do("GET", "/", "", map[string]string{"Accept": "text/html"})
	if err != nil || code != 200 {
		return fmt.Errorf("lobby: %d %v", code, err)
	}
	m := csrfMeta.FindStringSubmatch(page)
	if m == nil {
		return fmt.Errorf("lobby has no CSRF token")
	}
	b.csrf = m[1]
	code, _, tok, err := b.do("GET", "/get_token/?channel="+room, "", nil)
	if err != nil || code != 200 {
		return fmt.Errorf("get_token: %d %s %v", code, tok, err)
	}
	var tr struct{ UID uint32 }
	json.Unmarshal([]byte(tok), &tr)
	b.uid = tr.UID
	body := fmt.Sprintf(`{"name":%q,"room_name":%q,"UID":%d}`, name, room, b.uid)
	code, _, res, err := b.do("POST", "/create_member/", body, map[string]string{"Content-Type": "application/json", "X-CSRF-Token": b.csrf})
	if err != nil || code != 200 {
		return fmt.Errorf("create_member: %d %s %v", code, res, err)
	}
	return b.connect()
}

// connect opens the room's socket through nginx.
func (b *browser) connect() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, res, err := websocket.Dial(ctx, "ws://"+b.tp.lb+"/ws/"+b.room, &websocket.DialOptions{HTTPClient: b.c,
		HTTPHeader: http.Header{"X-Forwarded-For": {b.ip}, "Origin": {"http://" + b.tp.lb}}})
	if err != nil {
		code := 0
		if res != nil {
			code = res.StatusCode
		}
		return fmt.Errorf("websocket through the proxy: %d %v", code, err)
	}
	w := watch(ws)
	b.mu.Lock()
	b.w = w
	b.mu.Unlock()
	b.tp.t.Cleanup(func() { ws.CloseNow() })
	go func() {
		<-w.closed
		b.mu.Lock()
		redial := b.redial
		b.mu.Unlock()
		code := w.closeCode()
		if code >= 4001 && code <= 4099 {
			b.mu.Lock()
			b.refused = append(b.refused, code)
			b.mu.Unlock()
			return
		}
		if !redial {
			return
		}
		// The page's backoff: 0.5 s doubling, here without jitter.
		for wait := 500 * time.Millisecond; ; wait = min(2*wait, 10*time.Second) {
			time.Sleep(wait)
			b.mu.Lock()
			redial := b.redial
			b.mu.Unlock()
			if !redial {
				return
			}
			if b.connect() == nil {
				b.mu.Lock()
				b.reconnects++
				b.mu.Unlock()
				return
			}
		}
	}()
	return nil
}

// sock is the browser's current socket.
func (b *browser) sock() *watcher {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.w
}

func (b *browser) setRedial(on bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.redial = on
}

// watcher applies a socket's frames as the page does and records what a
// person would notice.
type watcher struct {
	ws        *websocket.Conn
	mu        sync.Mutex
	roster    map[uint32]bool
	snapshots int
	leaves    map[uint32][]string // reasons, in order
	tokens    int
	errors    []string
	closed    chan struct{}
	code      websocket.StatusCode
}

func watch(ws *websocket.Conn) *watcher {
	w := &watcher{ws: ws, roster: map[uint32]bool{}, leaves: map[uint32][]string{}, closed: make(chan struct{})}
	go func() {
		defer close(w.closed)
		for {
			_, raw, err := ws.Read(context.Background())
			if err != nil {
				w.mu.Lock()
				w.code = websocket.CloseStatus(err)
				w.mu.Unlock()
				return
			}
			var f struct {
				Type    string
				Members []struct{ UID uint32 }
				Member  struct{ UID uint32 }
				UID     uint32
				Reason  string
				Token   *string
				Code    string
			}
			json.Unmarshal(raw, &f)
			w.mu.Lock()
			switch f.Type {
			case "snapshot":
				w.snapshots++
				w.roster = map[uint32]bool{}
				for _, m := range f.Members {
					w.roster[m.UID] = true
				}
			case "join":
				w.roster[f.Member.UID] = true
			case "leave":
				delete(w.roster, f.UID)
				w.leaves[f.UID] = append(w.leaves[f.UID], f.Reason)
			case "token":
				if f.Token != nil && *f.Token != "" {
					w.tokens++
				}
			case "error":
				w.errors = append(w.errors, f.Code)
			}
			w.mu.Unlock()
		}
	}()
	return w
}

func (w *watcher) has(uids []uint32) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.roster) != len(uids) {
		return false
	}
	for _, u := range uids {
		if !w.roster[u] {
			return false
		}
	}
	return true
}

func (w *watcher) isClosed() bool {
	select {
	case <-w.closed:
		return true
	default:
		return false
	}
}

func (w *watcher) closeCode() websocket.StatusCode {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.code
}

func (w *watcher) leavesOf(uid uint32) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.leaves[uid]...)
}

func uidsOf(bs []*browser) []uint32 {
	var out []uint32
	for _, b := range bs {
		out = append(out, b.uid)
	}
	return out
}

// nodeOf tells which node serves each browser's socket: the node whose
// process is stopped closes exactly its own sockets, so the drills find
// them by watching. Here, counts per node come from the nodes' metrics.
func (tp *topology) socketsPerNode() []int {
	var out []int
	for _, n := range tp.nodes {
		v := -1
		if n.cmd != nil {
			if res, err := http.Get("http://" + n.metrics + "/metrics"); err == nil {
				raw, _ := io.ReadAll(res.Body)
				res.Body.Close()
				if m := regexp.MustCompile(`(?m)^roomhub_websocket_connections (\d+)`).FindSubmatch(raw); m != nil {
					v, _ = strconv.Atoi(string(m[1]))
				}
			}
		}
		out = append(out, v)
	}
	return out
}

// leftovers counts member rows, open room sessions and attendance rows.
func (tp *topology) leftovers() (members, open, attending int) {
	tp.t.Helper()
	for q, v := range map[string]*int{
		"SELECT count(*) FROM members":                              &members,
		"SELECT count(*) FROM room_sessions WHERE ended_at IS NULL": &open,
		"SELECT count(*) FROM room_attendance":                      &attending,
	} {
		if err := tp.db.QueryRow(q).Scan(v); err != nil {
			tp.t.Fatalf("%s: %v", q, err)
		}
	}
	return
}

// jsonOnly checks that every line a node wrote is a JSON object.
func jsonOnly(t *testing.T, i int, log string) {
	t.Helper()
	for _, l := range strings.Split(strings.TrimSpace(log), "\n") {
		if l == "" {
			continue
		}
		var v map[string]any
		if json.Unmarshal([]byte(l), &v) != nil {
			t.Errorf("node %d wrote a line that is not JSON: %q", i, tailOf(l, 300))
			return
		}
	}
}

// TestTopology runs the fault drills of docs/runbook.md against the
// shipped topology and checks what people and Prometheus see.
func TestTopology(t *testing.T) {
	began := time.Now()
	tp := newTopology(t, 3)
	t.Logf("topology up in %v", time.Since(began).Round(time.Millisecond))

	const room = "standup"
	var people []*browser
	for i := range 12 {
		b := tp.newBrowser(fmt.Sprintf("203.0.113.%d", i+1))
		if err := b.join(room, fmt.Sprintf("Person %d", i+1)); err != nil {
			t.Fatalf("person %d through the shipped nginx.conf on port %s: %v", i+1, tp.lb, err)
		}
		people = append(people, b)
	}
	everyone := func(bs []*browser) {
		t.Helper()
		want := uidsOf(bs)
		for _, b := range bs {
			waitFor(t, 10*time.Second, fmt.Sprintf("%d's roster lists the %d people", b.uid, len(want)), func() bool { return b.sock().has(want) })
		}
	}
	everyone(people)

	t.Run("healthy cluster raises no alert", func(t *testing.T) {
		for i, n := range tp.socketsPerNode() {
			if n == 0 {
				t.Errorf("node %d serves no socket: nginx does not spread them (%v)", i, tp.socketsPerNode())
			}
		}
		waitFor(t, 15*time.Second, "Prometheus scrapes the three nodes and evaluates rules", func() bool {
			v := tp.query(`count(up{job="roomhub"} == 1) == 3 and count(roomhub_bus_up == 1) == 3`)
			return len(v) == 1
		})
		// Some traffic, a few evaluations of every rule.
		for range 30 {
			people[0].do("GET", "/", "", map[string]string{"Accept": "text/html"})
			time.Sleep(100 * time.Millisecond)
		}
		if a := tp.alerts(); len(a) != 0 {
			t.Fatalf("alerts on a healthy cluster: %+v", a)
		}
		// The dashboard's error and refusal panels show 0, not "No data".
		for _, q := range []string{
			`(sum(rate(roomhub_http_requests_total{instance=~".*",code=~"5.."}[1m])) or vector(0)) / sum(rate(roomhub_http_requests_total{instance=~".*"}[1m]))`,
			`sum by (limit) (rate(roomhub_rate_limited_total{instance=~".*"}[1m])) or vector(0)`,
		} {
			if v := tp.query(q); len(v) == 0 || v[0] != 0 {
				t.Errorf("panel query %s: %v, want 0", q, v)
			}
		}
	})

	t.Run("Redis down longer than NODE_TTL and back empty", func(t *testing.T) {
		for _, p := range people {
			p.setRedial(true)
		}
		tp.killRedis()
		down := time.Now()
		// One person closes the tab during the outage: nobody will ever
		// reconnect as them.
		gone := people[len(people)-1]
		gone.setRedial(false)
		gone.sock().ws.CloseNow()
		people = people[:len(people)-1]
		// Token minting fails closed with one JSON error that says why.
		b := tp.newBrowser("198.51.100.9")
		code, hdr, body, err := b.do("GET", "/get_token/?channel="+room, "", nil)
		if err != nil || code != 503 {
			t.Fatalf("get_token with Redis down: %d %v", code, err)
		}
		dec := json.NewDecoder(strings.NewReader(body))
		var e struct{ Error string }
		if err := dec.Decode(&e); err != nil || dec.More() || !strings.Contains(e.Error, "try again") {
			t.Errorf("get_token with Redis down answered %q; want one JSON error saying to try again", body)
		}
		if hdr.Get("Retry-After") == "" {
			t.Error("no Retry-After on the 503")
		}
		// Every node stays ready: readiness is the database's.
		for i, n := range tp.nodes {
			res, err := http.Get("http://" + n.addr + "/readyz")
			if err != nil || res.StatusCode != 200 {
				t.Errorf("node %d not ready while Redis is down: %v %v", i, res, err)
			} else {
				res.Body.Close()
			}
		}
		took := waitFor(t, 15*time.Second, "RoomhubBusErrors fires for the three nodes", func() bool { return len(tp.firing("RoomhubBusErrors")) == 3 })
		t.Logf("RoomhubBusErrors firing %v into the outage (for: scaled to 1s)", took.Round(100*time.Millisecond))
		if d := time.Since(down); d < 3*topoNodeTTL {
			time.Sleep(3*topoNodeTTL - d)
		}
		tp.startRedis()
		outage := time.Since(down)
		back := time.Now()

		// A newcomer sees every connected person; nobody was lost.
		newcomer := tp.newBrowser("198.51.100.10")
		var jerr error
		waitFor(t, 10*time.Second, "a newcomer can join after Redis is back", func() bool {
			jerr = newcomer.join(room, "Newcomer")
			return jerr == nil
		})
		all := append(append([]*browser(nil), people...), newcomer)
		took = waitFor(t, 10*time.Second, "newcomer's roster lists everyone", func() bool { return newcomer.sock().has(uidsOf(all)) })
		t.Logf("Redis down %v; newcomer saw all %d people %v after Redis came back", outage.Round(100*time.Millisecond), len(all), time.Since(back).Round(100*time.Millisecond))
		_ = took
		everyone(all)
		reconnected := 0
		for _, p := range people {
			p.setRedial(false)
			p.mu.Lock()
			reconnected += p.reconnects
			if len(p.refused) > 0 {
				t.Errorf("%d was told not to come back: %v", p.uid, p.refused)
			}
			p.mu.Unlock()
			w := p.sock()
			w.ws.Write(context.Background(), websocket.MessageText, []byte(`{"type":"renew_token"}`))
			waitFor(t, 5*time.Second, fmt.Sprintf("%d gets a renewed token", p.uid), func() bool {
				w.mu.Lock()
				defer w.mu.Unlock()
				return w.tokens > 0
			})
			if w.isClosed() {
				t.Errorf("%d's socket closed with %d", p.uid, w.closeCode())
			}
			w.mu.Lock()
			if len(w.errors) > 0 {
				t.Errorf("%d got errors %v", p.uid, w.errors)
			}
			w.mu.Unlock()
		}
		t.Logf("%d of %d sockets were dropped and reconnected during the outage; every member renewed its token", reconnected, len(people))
		took = waitFor(t, 15*time.Second, "RoomhubBusErrors clears", func() bool { return len(tp.firing("RoomhubBusErrors")) == 0 })
		t.Logf("RoomhubBusErrors cleared %v after Redis came back", time.Since(back).Round(100*time.Millisecond))
		// The one who left during the outage is removed from the store, and
		// its history closed, within two sweeps (HISTORY_REPAIR).
		took = waitFor(t, 3*topoRepair+5*time.Second, "the person who left during the outage is gone from the store and history", func() bool {
			var rows, attending int
			tp.db.QueryRow(`SELECT count(*) FROM members WHERE uid = $1`, int64(gone.uid)).Scan(&rows)
			tp.db.QueryRow(`SELECT count(*) FROM room_attendance WHERE uid = $1`, int64(gone.uid)).Scan(&attending)
			return rows == 0 && attending == 0
		})
		t.Logf("the person who closed the tab during the outage was removed %v after Redis came back", time.Since(back).Round(100*time.Millisecond))
		_ = took
		if v := tp.query(`sum(roomhub_rate_limited_total{limit="get_token"}) or vector(0)`); len(v) != 1 || v[0] != 0 {
			t.Errorf("the outage's refusals were counted as rate limiting: %v", v)
		}
		for i, n := range tp.nodes {
			if strings.Contains(n.log.String(), `"event":"rate_limited"`) {
				t.Errorf("node %d logged the outage as rate limiting", i)
			}
			jsonOnly(t, i, n.log.String())
		}
		people = all
	})

	t.Run("kill -9 of a node", func(t *testing.T) {
		victim := 2
		tp.stop(victim, syscall.SIGKILL, 5*time.Second)
		killed := time.Now()
		// Its sockets drop; those people closed their tabs meanwhile.
		var gone, stay []*browser
		time.Sleep(500 * time.Millisecond)
		for _, p := range people {
			if p.sock().isClosed() {
				gone = append(gone, p)
			} else {
				stay = append(stay, p)
			}
		}
		if len(gone) == 0 {
			t.Fatal("no socket was on the killed node")
		}
		took := waitFor(t, topoNodeTTL+topoReap+2*time.Second, "the dead node's people leave every roster", func() bool {
			for _, p := range stay {
				if !p.sock().has(uidsOf(stay)) {
					return false
				}
			}
			return true
		})
		t.Logf("%d people of the killed node left everyone's roster %v after kill -9 (NODE_TTL %v, reaper %v)", len(gone), time.Since(killed).Round(100*time.Millisecond), topoNodeTTL, topoReap)
		_ = took
		for _, p := range stay {
			for _, g := range gone {
				if r := p.sock().leavesOf(g.uid); len(r) != 1 || r[0] != "expired" {
					t.Errorf("%d saw %d leave %v, want once with expired", p.uid, g.uid, r)
				}
			}
		}
		inst := tp.nodes[victim].metrics
		took = waitFor(t, 20*time.Second, "RoomhubNodeDown fires for the killed node", func() bool { return tp.firing("RoomhubNodeDown")[inst] })
		t.Logf("RoomhubNodeDown firing %v after kill -9 (for: scaled to 2s)", time.Since(killed).Round(100*time.Millisecond))
		tp.start(victim)
		waitFor(t, 20*time.Second, "RoomhubNodeDown clears after restart", func() bool { return len(tp.firing("RoomhubNodeDown")) == 0 })
		people = stay
	})

	t.Run("SIGTERM: going away, reconnect, nobody leaves", func(t *testing.T) {
		victim := 0
		took := tp.stop(victim, syscall.SIGTERM, 6*time.Second)
		t.Logf("node stopped %v after SIGTERM", took.Round(10*time.Millisecond))
		var moved []*browser
		for _, p := range people {
			if p.sock().isClosed() {
				if c := p.sock().closeCode(); c != websocket.StatusGoingAway {
					t.Errorf("%d's socket closed with %d, want 1001 going away", p.uid, c)
				}
				moved = append(moved, p)
			}
		}
		if len(moved) == 0 {
			t.Fatal("no socket was on the stopped node")
		}
		for _, p := range moved {
			if err := p.connect(); err != nil {
				t.Fatalf("%d reconnects: %v", p.uid, err)
			}
		}
		everyone(people)
		time.Sleep(topoGrace + topoReap + time.Second) // past the grace period
		for _, p := range people {
			for _, q := range people {
				if r := p.sock().leavesOf(q.uid); len(r) > 0 {
					t.Errorf("%d saw %d leave (%v) during a graceful restart", p.uid, q.uid, r)
				}
			}
		}
		t.Logf("%d people reconnected through nginx; nobody left", len(moved))
		tp.start(victim)
	})

	t.Run("PostgreSQL backends terminated mid-traffic", func(t *testing.T) {
		const room, workers, rounds = "pgdrill", 4, 6
		stop := make(chan struct{})
		terminated := make(chan int, 1)
		go func() {
			total := 0
			defer func() { terminated <- total }()
			for {
				select {
				case <-stop:
					return
				case <-time.After(150 * time.Millisecond):
				}
				var n int
				tp.db.QueryRow(`SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
					WHERE datname = current_database() AND pid <> pg_backend_pid() AND application_name = 'roomhub'`).Scan(&n)
				total += n
			}
		}()
		var (
			mu       sync.Mutex
			failures []string
			requests int
			wg       sync.WaitGroup
		)
		fail := func(f string, a ...any) {
			mu.Lock()
			failures = append(failures, fmt.Sprintf(f, a...))
			mu.Unlock()
		}
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for r := range rounds {
					b := tp.newBrowser(fmt.Sprintf("192.0.2.%d", 1+w*rounds+r))
					if err := b.join(room, fmt.Sprintf("Worker %d round %d", w, r)); err != nil {
						fail("join: %v", err)
						continue
					}
					code, _, body, err := b.do("GET", fmt.Sprintf("/get_member/?UID=%d&room_name=%s", b.uid, room), "", nil)
					if err != nil || code != 200 {
						fail("get_member after create: %d %s %v", code, body, err)
					}
					code, _, body, err = b.do("POST", "/delete_member/", fmt.Sprintf(`{"room_name":%q,"UID":%d}`, room, b.uid),
						map[string]string{"Content-Type": "application/json", "X-CSRF-Token": b.csrf})
					if err != nil || code != 200 || !strings.Contains(body, `"deleted":true`) {
						fail("delete_member: %d %s %v", code, body, err)
					}
					b.sock().ws.CloseNow()
					mu.Lock()
					requests += 6
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		close(stop)
		n := <-terminated
		if n == 0 {
			t.Fatal("no backend was terminated: the drill tested nothing")
		}
		for _, f := range failures {
			t.Error(f)
			// The node's own account of the failed request.
			if m := regexp.MustCompile(`"request_id":"([0-9a-f]+)"`).FindStringSubmatch(f); m != nil {
				for i, n := range tp.nodes {
					for _, l := range strings.Split(n.log.String(), "\n") {
						if strings.Contains(l, m[1]) && strings.Contains(l, `"err"`) {
							t.Logf("node %d: %s", i, tailOf(l, 600))
						}
					}
				}
			}
		}
		t.Logf("%d backends terminated during %d requests of %d join/leave rounds: %d failed", n, requests, workers*rounds, len(failures))
		var members, open int
		waitFor(t, 3*topoRepair+5*time.Second, "no member row and no open room session left in "+room, func() bool {
			tp.db.QueryRow(`SELECT count(*) FROM members WHERE room = $1`, room).Scan(&members)
			tp.db.QueryRow(`SELECT count(*) FROM room_sessions WHERE room = $1 AND ended_at IS NULL`, room).Scan(&open)
			return members == 0 && open == 0
		})
	})

	t.Run("whole cluster stopped and Redis emptied", func(t *testing.T) {
		for i := range tp.nodes {
			tp.stop(i, syscall.SIGTERM, 8*time.Second)
		}
		members, open, attending := tp.leftovers()
		if members == 0 || open == 0 {
			t.Fatalf("before the restart: %d members and %d open room sessions; the drill needs some", members, open)
		}
		tp.killRedis()
		tp.startRedis()
		var wg sync.WaitGroup
		for i := range tp.nodes {
			wg.Add(1)
			go func() { defer wg.Done(); tp.start(i) }()
		}
		wg.Wait()
		if m, o, a := tp.leftovers(); m != 0 || o != 0 || a != 0 {
			t.Fatalf("after the restart on an empty Redis: %d member rows, %d open room sessions, %d attendance rows left", m, o, a)
		}
		t.Logf("restart on an empty Redis removed %d members and ended %d room sessions (%d attendances)", members, open, attending)
		newcomer := tp.newBrowser("198.51.100.20")
		if err := newcomer.join(room, "First again"); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 5*time.Second, "the newcomer is alone", func() bool { return newcomer.sock().has([]uint32{newcomer.uid}) })
		people = []*browser{newcomer}
	})

	t.Run("sessions clear ends live sockets", func(t *testing.T) {
		for i := range 3 {
			b := tp.newBrowser(fmt.Sprintf("198.51.100.%d", 30+i))
			if err := b.join(room, fmt.Sprintf("Late %d", i)); err != nil {
				t.Fatal(err)
			}
			people = append(people, b)
		}
		everyone(people)
		cli := exec.Command(tp.bin, "sessions", "clear")
		cli.Env = append(os.Environ(), "DATABASE_URL="+tp.dbURL)
		out, err := cli.CombinedOutput()
		if err != nil {
			t.Fatalf("sessions clear: %v\n%s", err, out)
		}
		cleared := time.Now()
		for _, p := range people {
			w := p.sock()
			waitFor(t, topoReconcile+3*time.Second, fmt.Sprintf("%d's socket is closed", p.uid), w.isClosed)
			if c := w.closeCode(); c != 4001 {
				t.Errorf("%d's socket closed with %d, want 4001 (the page stops and does not renew)", p.uid, c)
			}
		}
		t.Logf("sessions clear: %d live sockets closed with 4001 within %v (PRESENCE_RECONCILE %v)", len(people), time.Since(cleared).Round(100*time.Millisecond), topoReconcile)
		if code, _, body, _ := people[0].do("GET", fmt.Sprintf("/get_member/?UID=%d&room_name=%s", people[0].uid, room), "", nil); code == 200 {
			t.Errorf("get_member after sessions clear: %d %s", code, body)
		}
	})

	t.Logf("drills took %v", time.Since(began).Round(time.Millisecond))
}
