package main

import (
	"bytes"
	"context"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"roomhub/store/sqlstore"
)

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

const (
	strongKey        = "q8Jx3VbN0pLm7ZcR2tWy5KfH9sDg4AeU1oIi6QwE8rTy0uPl3kMn"
	testMasterKey    = "3q2+7wABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhs="
	testAPIKeySecret = "api-key-secret-for-tests-0123456789abcdef"
)

func TestRefusesToStartInsecurely(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"no secret key", map[string]string{"ALLOWED_HOSTS": "meet.example.com"}, "SECRET_KEY"},
		{"no allowed hosts", map[string]string{"SECRET_KEY": strongKey}, "ALLOWED_HOSTS"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			if code := run([]string{"serve"}, envOf(tc.env), &out, &errb); code != 2 {
				t.Fatalf("exit %d, want 2", code)
			}
			if !strings.Contains(errb.String(), tc.want) {
				t.Fatalf("stderr %q does not name %s", errb.String(), tc.want)
			}
		})
	}
}

func TestSecretsValidate(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"secrets", "validate"}, envOf(map[string]string{"DEBUG": "true"}), &out, &errb); code != 1 {
		t.Fatalf("exit %d for a DEBUG setup", code)
	}
	for _, v := range []string{"DEBUG", "SECRET_KEY", "ALLOWED_HOSTS"} {
		if !strings.Contains(errb.String(), v) {
			t.Errorf("validate does not mention %s: %q", v, errb.String())
		}
	}
	out.Reset()
	errb.Reset()
	good := map[string]string{"SECRET_KEY": strongKey, "ALLOWED_HOSTS": "meet.example.com",
		"APP_MASTER_KEY": testMasterKey, "API_KEY_SECRET": testAPIKeySecret}
	if code := run([]string{"secrets", "validate"}, envOf(good), &out, &errb); code != 0 || !strings.Contains(out.String(), "All secrets configured correctly") {
		t.Fatalf("exit %d out %q err %q", code, out.String(), errb.String())
	}
	out.Reset()
	run([]string{"secrets", "generate-key"}, envOf(nil), &out, &errb)
	key := strings.TrimSpace(out.String())
	good["SECRET_KEY"] = key
	if code := run([]string{"secrets", "validate"}, envOf(good), io.Discard, io.Discard); code != 0 || len(key) < 80 {
		t.Fatalf("a generated key (%d chars) does not validate as SECRET_KEY", len(key))
	}
	out.Reset()
	run([]string{"secrets", "generate-key"}, envOf(nil), &out, &errb)
	good["APP_MASTER_KEY"] = strings.TrimSpace(out.String())
	if code := run([]string{"secrets", "validate"}, envOf(good), io.Discard, io.Discard); code != 0 {
		t.Fatal("a generated key does not validate as APP_MASTER_KEY")
	}
	for name, v := range map[string]string{"APP_MASTER_KEY": "", "API_KEY_SECRET": good["SECRET_KEY"], "AGORA_APP_ID": "my-app"} {
		bad := maps.Clone(good)
		bad[name] = v
		if name == "AGORA_APP_ID" {
			bad["AGORA_APP_CERTIFICATE"] = strings.Repeat("0f", 16)
		}
		errb.Reset()
		if code := run([]string{"secrets", "validate"}, envOf(bad), io.Discard, &errb); code != 1 || !strings.Contains(errb.String(), name) {
			t.Errorf("%s=%q: exit %d, stderr %q", name, v, code, errb.String())
		}
	}
}

// TestGracefulShutdown runs the real binary: on SIGTERM it closes sockets
// with "going away", exits within 10 s, and leaves no member in the store.
func TestGracefulShutdown(t *testing.T) {
	bin := binary(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	data := t.TempDir()
	metricsAddr := freeAddr(t)
	cmd := exec.Command(bin, "serve")
	cmd.Env = append(os.Environ(), "DEBUG=true", "ADDR="+addr, "DATA_DIR="+data, "SECRET_KEY="+strongKey, "METRICS_ADDR="+metricsAddr)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	base := "http://" + addr
	waitHTTP(t, base+"/healthz")

	// A participant joins the way the pages do.
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 5 * time.Second}
	page := get(t, c, base+"/")
	csrf := regexp.MustCompile(`name="csrf-token" content="([^"]+)"`).FindStringSubmatch(page)[1]
	tok := get(t, c, base+"/get_token/?channel=standup")
	uid := regexp.MustCompile(`"uid":(\d+)`).FindStringSubmatch(tok)[1]
	req, _ := http.NewRequest("POST", base+"/create_member/", strings.NewReader(`{"name":"Ada","room_name":"standup","UID":`+uid+`}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-CSRF-Token", csrf)
	if res, err := c.Do(req); err != nil || res.StatusCode != 200 {
		t.Fatalf("create_member: %v %v", res, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws://"+addr+"/ws/standup", &websocket.DialOptions{HTTPClient: c})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := ws.Read(ctx); err != nil { // snapshot
		t.Fatal(err)
	}

	checkMetrics(t, "http://"+metricsAddr+"/metrics")

	start := time.Now()
	cmd.Process.Signal(syscall.SIGTERM)
	if _, _, err := ws.Read(ctx); websocket.CloseStatus(err) != websocket.StatusGoingAway {
		t.Fatalf("socket closed with %v, want 1001 going away", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit: %v\n%s", err, logs.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("still running 10 s after SIGTERM\n%s", logs.String())
	}
	t.Logf("stopped %v after SIGTERM", time.Since(start).Round(time.Millisecond))

	st, err := sqlstore.OpenSQLite(context.Background(), data)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	org, _ := st.DefaultOrg(context.Background())
	if ms, err := st.ListMembers(context.Background(), org.ID, "standup"); err != nil || len(ms) != 0 {
		t.Fatalf("members stranded in the store: %v %v", ms, err)
	}
	n, _ := strconv.Atoi(uid)
	if n == 0 {
		t.Fatal("no uid")
	}
}

func waitHTTP(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		res, err := http.Get(url)
		if err == nil {
			res.Body.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("server did not come up: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func get(t *testing.T, c *http.Client, url string) string {
	t.Helper()
	res, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", url, res.StatusCode, b)
	}
	return string(b)
}

// checkMetrics scrapes a node that served one participant and checks what
// an SRE relies on: the scrape passes `promtool check metrics`, requests are
// labelled by route pattern, and the hub's figures are there.
func checkMetrics(t *testing.T, url string) {
	t.Helper()
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool is not installed; run `make test-deps` (Debian package prometheus)")
	}
	var scrape string
	for i := 0; i < 100; i++ { // the listener starts with the server
		res, err := http.Get(url)
		if err == nil {
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			scrape = string(b)
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`roomhub_http_requests_total\{code="200",method="POST",route="/create_member"\} 1`),
		regexp.MustCompile(`roomhub_http_requests_total\{code="200",method="GET",route="/get_token"\} 1`),
		regexp.MustCompile(`roomhub_http_request_duration_seconds_bucket\{method="GET",route="/get_token",le="`),
		regexp.MustCompile(`(?m)^roomhub_websocket_connections 1$`),
		regexp.MustCompile(`(?m)^roomhub_member_joins_total 1$`),
		regexp.MustCompile(`roomhub_token_mints_total\{result="ok"\} 1`),
		regexp.MustCompile(`roomhub_member_leaves_total\{reason="expired"\} 0`),
		regexp.MustCompile(`roomhub_event_delivery_seconds_count [1-9]`),
		regexp.MustCompile(`(?m)^roomhub_rooms_local 1$`),
		regexp.MustCompile(`roomhub_store_connections\{state="idle"\} `),
		regexp.MustCompile(`(?m)^go_goroutines `),
		regexp.MustCompile(`(?m)^roomhub_build_info\{goversion="go1\.[^"]+",version="[^"]+"\} 1$`),
		regexp.MustCompile(`(?m)^process_resident_memory_bytes `),
	} {
		if !want.MatchString(scrape) {
			t.Errorf("scrape lacks %s\n%s", want, grepLines(scrape, "roomhub_http_requests_total"))
		}
	}
	if strings.Contains(scrape, "standup") {
		t.Error("a room name became a label: unbounded cardinality")
	}
	check := exec.Command(promtool, "check", "metrics")
	check.Stdin = strings.NewReader(scrape)
	if out, err := check.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
