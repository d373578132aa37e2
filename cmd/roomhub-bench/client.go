package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// browser is one simulated person: its own cookie jar (session) and its own
// client address, given to the node through X-Forwarded-For (the nodes trust
// loopback as a proxy), so the per-IP rate limits count each person apart.
type browser struct {
	client *http.Client
	ip     string
	base   string // http://addr of the node it talks to
	csrf   string
}

func newBrowser(tr http.RoundTripper, addr, ip string) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{client: &http.Client{Jar: jar, Transport: tr}, ip: ip, base: "http://" + addr}
}

// clientIP derives a distinct address from an index: 10.a.b.c for members,
// and another /8 per purpose so samples never share a member's limits.
func clientIP(first, i int) string {
	return fmt.Sprintf("%d.%d.%d.%d", first, (i>>16)&255, (i>>8)&255, i&255)
}

var csrfRe = regexp.MustCompile(`name="csrf-token" content="([^"]+)"`)

// do sends one request and returns the status and (bounded) body.
func (b *browser) do(ctx context.Context, method, path, body string, hdr map[string]string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, b.base+path, strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("X-Forwarded-For", b.ip)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := b.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	data, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	return res.StatusCode, data, err
}

// lobby opens the lobby page: it starts the session and yields its CSRF
// token.
func (b *browser) lobby(ctx context.Context) error {
	code, page, err := b.do(ctx, "GET", "/", "", nil)
	if err != nil {
		return err
	}
	m := csrfRe.FindSubmatch(page)
	if code != 200 || m == nil {
		return fmt.Errorf("lobby: status %d, no CSRF token", code)
	}
	b.csrf = string(m[1])
	return nil
}

// token asks for a uid in room.
func (b *browser) token(ctx context.Context, room string) (uint32, error) {
	code, body, err := b.do(ctx, "GET", "/get_token/?channel="+room, "", nil)
	if err != nil {
		return 0, err
	}
	var tr struct {
		UID uint32 `json:"uid"`
	}
	if code != 200 || json.Unmarshal(body, &tr) != nil || tr.UID == 0 {
		return 0, fmt.Errorf("get_token: %d %s", code, bytes.TrimSpace(body))
	}
	return tr.UID, nil
}

// createMember announces the member to its room.
func (b *browser) createMember(ctx context.Context, room, name string, uid uint32) error {
	body := fmt.Sprintf(`{"name":%q,"room_name":%q,"UID":%d}`, name, room, uid)
	code, resp, err := b.do(ctx, "POST", "/create_member/", body,
		map[string]string{"Content-Type": "application/json", "X-CSRF-Token": b.csrf})
	if err != nil {
		return err
	}
	if code != 200 {
		return fmt.Errorf("create_member: %d %s", code, bytes.TrimSpace(resp))
	}
	return nil
}

// dial opens the room's WebSocket with the browser's session.
func (b *browser) dial(ctx context.Context, room string) (*websocket.Conn, error) {
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(b.base, "http")+"/ws/"+room, &websocket.DialOptions{
		HTTPClient: b.client, HTTPHeader: http.Header{"X-Forwarded-For": {b.ip}}})
	return ws, err
}

// member is one connected WebSocket member and what its reader counted.
type member struct {
	node, room int
	uid        uint32
	ws         *websocket.Conn
	signals    atomic.Int64 // signal frames received
	errors     atomic.Int64 // error frames received (e.g. rate_limited)
}

var (
	signalPrefix = []byte(`{"type":"signal"`)
	joinPrefix   = []byte(`{"type":"join"`)
	errorPrefix  = []byte(`{"type":"error"`)
)

// read drains the member's socket until it closes. It looks only at the
// start of each frame (the server writes "type" first) so that the harness
// spends as little CPU as it can next to the nodes; only join frames are
// decoded, and only while a join sample is waiting.
func (m *member) read(ctx context.Context, joins *joinWatch) {
	var buf bytes.Buffer
	for {
		_, r, err := m.ws.Reader(ctx)
		if err != nil {
			return
		}
		buf.Reset()
		if _, err := buf.ReadFrom(r); err != nil {
			return
		}
		now := time.Now()
		b := buf.Bytes()
		switch {
		case bytes.HasPrefix(b, signalPrefix):
			m.signals.Add(1)
		case bytes.HasPrefix(b, joinPrefix):
			joins.saw(m, b, now)
		case bytes.HasPrefix(b, errorPrefix):
			m.errors.Add(1)
		}
	}
}

// joinSample is one join-to-visible measurement: a member created on node
// in room at t0, and when each watching member read its join frame.
type joinSample struct {
	node, room int
	t0         time.Time
	expected   int

	mu   sync.Mutex
	seen []time.Time
}

// joinWatch maps the uids of pending samples to their samples, so readers
// can record join frames without locks while nothing is pending.
type joinWatch struct {
	singleNode bool
	pending    atomic.Int32
	byUID      sync.Map // uint32 -> *joinSample
}

// expect registers a sample before its create_member is sent.
func (w *joinWatch) expect(uid uint32, s *joinSample) {
	w.byUID.Store(uid, s)
	w.pending.Add(1)
}

// saw records a join frame read at now by m, if it is a sample's join that
// m should count: same room, and, in a cluster, another node than the
// joiner's (the latency across nodes is the one a cluster adds).
func (w *joinWatch) saw(m *member, frame []byte, now time.Time) {
	if w.pending.Load() == 0 {
		return
	}
	var f struct {
		Member struct {
			UID uint32 `json:"uid"`
		} `json:"member"`
	}
	if json.Unmarshal(frame, &f) != nil {
		return
	}
	v, ok := w.byUID.Load(f.Member.UID)
	if !ok {
		return
	}
	s := v.(*joinSample)
	if s.room != m.room || (!w.singleNode && s.node == m.node) {
		return
	}
	s.mu.Lock()
	s.seen = append(s.seen, now)
	s.mu.Unlock()
}

// observed counts the observations recorded for s so far.
func (s *joinSample) observed() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.seen)
}
