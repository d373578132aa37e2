package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// benchSecret is the SECRET_KEY every node shares (CSRF tokens are checked
// on whichever node a request reaches). It protects nothing: the nodes live
// for one run on loopback.
const benchSecret = "roomhub-bench-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz"

// benchMasterKey and benchAPIKeySecret are shared the same way, so every
// node reads the same stored secrets and API keys.
const (
	benchMasterKey    = "3q2+7wABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhs="
	benchAPIKeySecret = "roomhub-bench-api-key-secret-0123456789"
)

// node is one Roomhub process.
type node struct {
	cmd  *exec.Cmd
	addr string
	log  string // path of its stdout and stderr
}

// backing is what the nodes share: empty for one node, Redis and PostgreSQL
// for a cluster.
type backing struct {
	redisURL, dbURL string
}

// startNodes starts n nodes with the given backing and waits for each to
// answer /healthz.
func startNodes(ctx context.Context, o options, b backing, dir string) ([]*node, error) {
	var nodes []*node
	for i := 0; i < o.nodes; i++ {
		n, err := startNode(o, b, dir, i)
		if err != nil {
			stopNodes(nodes)
			return nil, err
		}
		nodes = append(nodes, n)
	}
	for _, n := range nodes {
		if err := waitHealthy(ctx, n); err != nil {
			stopNodes(nodes)
			return nil, err
		}
	}
	return nodes, nil
}

func startNode(o options, b backing, dir string, i int) (*node, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, fmt.Sprintf("node%d.log", i))
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close() // the child keeps its own descriptor
	perRoom := (o.members+o.rooms-1)/o.rooms + o.samples + 10
	cmd := exec.Command(o.bin, "serve")
	cmd.Env = append(os.Environ(),
		"DEBUG=true", "SECRET_KEY="+benchSecret, "ADDR="+addr,
		"APP_MASTER_KEY="+benchMasterKey, "API_KEY_SECRET="+benchAPIKeySecret,
		"TRUSTED_PROXIES=127.0.0.1/32", "LOG_LEVEL=warn", "LOG_FILE=", "METRICS_ADDR=off",
		"MEMBER_GRACE=60s", "SHUTDOWN_TIMEOUT=5s",
		"MAX_ROOM_MEMBERS="+strconv.Itoa(perRoom),
		"MAX_ORG_ROOMS="+strconv.Itoa(o.rooms+o.samples+100),
		"DATA_DIR="+filepath.Join(dir, fmt.Sprintf("data%d", i)),
		"REDIS_URL="+b.redisURL, "DATABASE_URL="+b.dbURL)
	cmd.Env = append(cmd.Env, o.env...) // later entries win
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// A node must not outlive the harness, however the harness ends.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", o.bin, err)
	}
	return &node{cmd: cmd, addr: addr, log: logPath}, nil
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// waitHealthy polls /healthz for at most 20 seconds.
func waitHealthy(ctx context.Context, n *node) error {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+n.addr+"/healthz", nil)
		if res, err := http.DefaultClient.Do(req); err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("node %s did not become healthy; its log:\n%s", n.addr, logTail(n))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// stopNodes asks each node to shut down and kills any still running after
// ten seconds.
func stopNodes(nodes []*node) {
	for _, n := range nodes {
		n.cmd.Process.Signal(syscall.SIGTERM)
	}
	for _, n := range nodes {
		done := make(chan struct{})
		go func() { n.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			n.cmd.Process.Kill()
			<-done
		}
	}
}

// logTail returns the end of a node's log, to explain a failure.
func logTail(n *node) string {
	b, _ := os.ReadFile(n.log)
	if len(b) > 3000 {
		b = b[len(b)-3000:]
	}
	return string(b)
}

// rssKiB reads a process's resident set (VmRSS) from /proc.
func rssKiB(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest) // "123456 kB"
			if len(f) > 0 {
				return strconv.ParseInt(f[0], 10, 64)
			}
		}
	}
	return 0, fmt.Errorf("no VmRSS for pid %d", pid)
}

// userHZ is the kernel's clock-tick rate for /proc/PID/stat times (USER_HZ,
// 100 on Linux).
const userHZ = 100

// cpuTime reads a process's user plus system CPU time from /proc.
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name is in parentheses and may hold spaces: count the
	// fields after the last ')'. utime and stime are fields 14 and 15.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("short /proc/%d/stat", pid)
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("bad /proc/%d/stat", pid)
	}
	return time.Duration(ut+st) * time.Second / userHZ, nil
}

// sumRSS is the resident set of all nodes together, in KiB.
func sumRSS(nodes []*node) (int64, error) {
	var sum int64
	for _, n := range nodes {
		v, err := rssKiB(n.cmd.Process.Pid)
		if err != nil {
			return 0, err
		}
		sum += v
	}
	return sum, nil
}

// sumCPU is the CPU time of all nodes together.
func sumCPU(nodes []*node) (time.Duration, error) {
	var sum time.Duration
	for _, n := range nodes {
		v, err := cpuTime(n.cmd.Process.Pid)
		if err != nil {
			return 0, err
		}
		sum += v
	}
	return sum, nil
}
