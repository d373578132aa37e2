package hub_test

import (
	"context"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"roomhub/hub"
)

// usage is what a node holds in this process: open file descriptors,
// goroutines and live heap after a collection.
type usage struct {
	fds, goroutines int
	heap            uint64
}

func measure(t testing.TB) usage {
	t.Helper()
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatalf("counting file descriptors: %v", err)
	}
	return usage{fds: len(ents), goroutines: runtime.NumGoroutine(), heap: ms.HeapAlloc}
}

// Slack allowed over the baseline once every socket has ended: a few
// descriptors and goroutines of the HTTP server and runtime that come and
// go, and less live heap than a few dozen leaked sockets would hold (each
// holds at least its 4 KiB of buffers, its websocket.Conn and our conn).
const (
	fdSlack        = 4
	goroutineSlack = 4
	heapSlack      = 256 << 10
)

// expectReleased waits until descriptors and goroutines are back within
// slack of base, then checks the live heap.
func expectReleased(t *testing.T, base usage, cycles int) {
	t.Helper()
	deadline := time.Now().Add(wait)
	var now usage
	for {
		now = measure(t)
		if now.fds <= base.fds+fdSlack && now.goroutines <= base.goroutines+goroutineSlack {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %d sockets ended: %d file descriptors (baseline %d), %d goroutines (baseline %d)",
				cycles, now.fds, base.fds, now.goroutines, base.goroutines)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if now.heap > base.heap+heapSlack {
		t.Fatalf("after %d sockets ended: live heap %d KiB, baseline %d KiB", cycles, now.heap>>10, base.heap>>10)
	}
}

// rawDial opens the room's socket and also returns the TCP connection under
// it, so a test can end it the ways a network does.
func (e *env) rawDial(t *testing.T, room string, uid uint32) (*client, *net.TCPConn) {
	t.Helper()
	var tcp *net.TCPConn
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err == nil {
			tcp = c.(*net.TCPConn)
		}
		return c, err
	}}}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	u := strings.Replace(e.srv.URL, "http", "ws", 1) + "/?room=" + room + "&uid=" + uidString(uid)
	ws, _, err := websocket.Dial(ctx, u, &websocket.DialOptions{HTTPClient: hc})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	ws.SetReadLimit(1 << 20)
	return &client{t: t, ws: ws}, tcp
}

func uidString(uid uint32) string {
	b := make([]byte, 0, 10)
	return string(appendUint(b, uint64(uid)))
}

func appendUint(b []byte, v uint64) []byte {
	if v >= 10 {
		b = appendUint(b, v/10)
	}
	return append(b, byte('0'+v%10))
}

// TestEveryWayASocketEndsReleasesIt drives each way a member's socket can
// end, many times over real TCP sockets, and checks that the node gives
// back every file descriptor, goroutine and byte of heap the sockets held.
// A socket whose peer vanished without a closing handshake used to keep its
// connection open and its memory reachable for the life of the process.
func TestEveryWayASocketEndsReleasesIt(t *testing.T) {
	k := hub.Key{Org: 1, Room: "r"}
	big := `{"type":"signal","data":{"blob":"` + strings.Repeat("x", 3000) + `"}}`
	cases := []struct {
		name   string
		cycles int
		cfg    hub.Config
		// end ends the connected socket of member 1.
		end func(t *testing.T, e *env, c *client, tcp *net.TCPConn)
	}{
		{"peer vanishes without a close frame", 200, hub.Config{}, func(t *testing.T, e *env, c *client, _ *net.TCPConn) {
			c.ws.CloseNow()
		}},
		{"normal close", 200, hub.Config{}, func(t *testing.T, e *env, c *client, _ *net.TCPConn) {
			c.ws.Close(websocket.StatusNormalClosure, "bye")
		}},
		{"close frame with an error code", 200, hub.Config{}, func(t *testing.T, e *env, c *client, _ *net.TCPConn) {
			c.ws.Close(websocket.StatusInternalError, "tab crashed")
		}},
		{"connection reset", 200, hub.Config{}, func(t *testing.T, e *env, c *client, tcp *net.TCPConn) {
			tcp.SetLinger(0) // RST instead of FIN
			tcp.Close()
		}},
		{"write fails on a reset peer", 50, hub.Config{}, func(t *testing.T, e *env, c *client, tcp *net.TCPConn) {
			// The peer resets while the node is writing a stream to it.
			before := e.node.Stats.Conns.Load()
			tcp.SetLinger(0)
			tcp.Close()
			for i := 0; i < 10000 && e.node.Stats.Conns.Load() == before; i++ {
				e.bus.Publish(context.Background(), k, hub.SignalMessage(9, []byte(`{"n":1}`)))
			}
		}},
		{"ping unanswered", 30, hub.Config{PingInterval: 20 * time.Second, PingTimeout: 50 * time.Millisecond}, func(t *testing.T, e *env, c *client, _ *net.TCPConn) {
			// The client stops reading, so it answers no ping.
			before := closes(e.node, hub.CloseByPingTimeout)
			e.clk.Advance(20 * time.Second)
			waitFor(t, func() bool { return closes(e.node, hub.CloseByPingTimeout) > before })
			c.ws.CloseNow()
		}},
		{"slow reader cut off", 30, hub.Config{SendQueue: 4}, func(t *testing.T, e *env, c *client, _ *net.TCPConn) {
			// The client stops reading; the node's queue for it overflows.
			before := e.node.Stats.SlowDrops.Load()
			for i := 0; i < 100000 && e.node.Stats.SlowDrops.Load() == before; i++ {
				e.bus.Publish(context.Background(), k, hub.SignalMessage(9, []byte(big)))
			}
			c.ws.CloseNow()
		}},
		{"kick", 100, hub.Config{}, func(t *testing.T, e *env, c *client, _ *net.TCPConn) {
			if _, err := e.node.Leave(context.Background(), k, 1, hub.ReasonKicked); err != nil {
				t.Fatal(err)
			}
			if code := c.closed(); code != hub.CloseKicked {
				t.Fatalf("kicked socket closed with %d", code)
			}
			e.join(t, "r", 1, "Ada")
		}},
		{"room closed", 100, hub.Config{}, func(t *testing.T, e *env, c *client, _ *net.TCPConn) {
			if _, err := e.node.Leave(context.Background(), k, 1, hub.ReasonClosed); err != nil {
				t.Fatal(err)
			}
			if code := c.closed(); code != hub.CloseRoomClosed {
				t.Fatalf("socket of a closed room closed with %d", code)
			}
			e.join(t, "r", 1, "Ada")
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.cfg)
			e.join(t, "r", 1, "Ada")
			cycle := func() {
				c, tcp := e.rawDial(t, "r", 1)
				c.must("snapshot")
				tc.end(t, e, c, tcp)
				waitFor(t, func() bool { return e.node.Stats.Conns.Load() == 0 })
				c.ws.CloseNow()
			}
			cycle() // warm up: pools and lazily made state exist from here on
			base := measure(t)
			for i := 0; i < tc.cycles; i++ {
				cycle()
			}
			expectReleased(t, base, tc.cycles)
		})
	}
}

// TestShutdownReleasesSockets: a node that shuts down closes its sockets
// going away and gives back what they held.
func TestShutdownReleasesSockets(t *testing.T) {
	run := func() {
		e := &env{}
		*e = *newEnvNoCleanup(t, hub.Config{})
		e.join(t, "r", 1, "Ada")
		c, _ := e.rawDial(t, "r", 1)
		c.must("snapshot")
		done := make(chan error)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			defer cancel()
			done <- e.node.Shutdown(ctx)
		}()
		if code := c.closed(); code != websocket.StatusGoingAway {
			t.Fatalf("closed with %d, want 1001", code)
		}
		if err := <-done; err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
		c.ws.CloseNow()
		e.srv.Close()
	}
	run()
	base := measure(t)
	const cycles = 30
	for i := 0; i < cycles; i++ {
		run()
	}
	expectReleased(t, base, cycles)
}
