package webhook_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"roomhub"
	"roomhub/secret"
	"roomhub/store/pgtest"
	"roomhub/store/sqlstore"
	"roomhub/store/sqlstore/sqltest"
	"roomhub/webhook"
)

const testMasterKey = "3q2+7wABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhs="

var loopback = webhook.Policy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}}

func testBox(t *testing.T) *secret.Box {
	t.Helper()
	box, err := secret.New(testMasterKey)
	if err != nil {
		t.Fatal(err)
	}
	return box
}

// twoNodes opens two stores on one fresh database of kind, as two nodes of a
// cluster would.
func twoNodes(t *testing.T, kind string) (*sqlstore.Store, *sqlstore.Store) {
	t.Helper()
	ctx := context.Background()
	var a, b *sqlstore.Store
	var err error
	switch kind {
	case "sqlite":
		dir := t.TempDir()
		if a, err = sqlstore.OpenSQLite(ctx, dir); err == nil {
			b, err = sqlstore.OpenSQLite(ctx, dir)
		}
	case "postgres":
		dsn := pgtest.Schema(t)
		if a, err = sqlstore.OpenPostgres(ctx, dsn); err == nil {
			b, err = sqlstore.OpenPostgres(ctx, dsn)
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

// endpoint creates an endpoint of org for url and returns it with its clear
// secret, sealed as the dashboard seals it.
func endpoint(t *testing.T, s roomhub.Webhooks, box *secret.Box, org int64, url string, events ...string) (roomhub.WebhookEndpoint, string) {
	t.Helper()
	clear := webhook.NewSecret()
	e, err := s.CreateWebhookEndpoint(context.Background(), roomhub.WebhookEndpoint{OrgID: org, URL: url, Events: events, CreatedBy: "test"},
		func(id int64) (string, error) { return box.Seal(clear, webhook.SecretAAD(id)) })
	if err != nil {
		t.Fatal(err)
	}
	return e, clear
}

func event(t *testing.T, org, typ string, data any) (string, []byte) {
	t.Helper()
	ev := roomhub.WebhookEvent{ID: roomhub.NewWebhookEventID(), Type: typ, CreatedAt: time.Now().UnixMilli(), Org: org, Data: data}
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return ev.ID, b
}

// receipt is one request a receiver got.
type receipt struct {
	path    string
	header  http.Header
	body    []byte
	verdict error
}

// receiver is an endpoint owner's server: one Verifier per path (per
// endpoint secret), answering 400 to what does not verify and otherwise
// what respond says.
type receiver struct {
	srv     *httptest.Server
	mu      sync.Mutex
	got     []receipt
	secrets map[string]*webhook.Verifier
	respond func(n int) int // n counts the requests to the path so far
}

func newReceiver(t *testing.T) *receiver {
	rc := &receiver{secrets: map[string]*webhook.Verifier{}, respond: func(int) int { return 204 }}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc.mu.Lock()
		v := rc.secrets[r.URL.Path]
		rc.mu.Unlock()
		if v == nil {
			http.NotFound(w, r)
			return
		}
		body, err := v.VerifyRequest(r)
		if err == nil && r.Header.Get(webhook.EventIDHeader) != "" {
			var ev roomhub.WebhookEvent
			json.Unmarshal(body, &ev)
			if ev.ID != r.Header.Get(webhook.EventIDHeader) || ev.Type != r.Header.Get(webhook.EventTypeHeader) {
				err = fmt.Errorf("headers disagree with the body")
			}
		}
		if body == nil {
			body, _ = io.ReadAll(r.Body)
		}
		rc.mu.Lock()
		rc.got = append(rc.got, receipt{path: r.URL.Path, header: r.Header.Clone(), body: body, verdict: err})
		n := 0
		for _, g := range rc.got {
			if g.path == r.URL.Path && g.verdict == nil {
				n++
			}
		}
		rc.mu.Unlock()
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.WriteHeader(rc.respond(n))
		fmt.Fprint(w, "  receiver says\n hello  ")
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) path(p, secret string, now func() time.Time) string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	v := webhook.NewVerifier(secret)
	if now != nil {
		v.WithClock(now)
	}
	rc.secrets[p] = v
	return rc.srv.URL + p
}

func (rc *receiver) receipts() []receipt {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]receipt(nil), rc.got...)
}

// fakeNow is a settable clock shared by the worker and the receiver.
type fakeNow struct {
	mu sync.Mutex
	t  time.Time
}

func (f *fakeNow) Now() time.Time      { f.mu.Lock(); defer f.mu.Unlock(); return f.t }
func (f *fakeNow) Add(d time.Duration) { f.mu.Lock(); f.t = f.t.Add(d); f.mu.Unlock() }

func deliveries(t *testing.T, s roomhub.Webhooks, org int64) []roomhub.WebhookDelivery {
	t.Helper()
	ds, err := s.ListWebhookDeliveries(context.Background(), org, roomhub.WebhookDeliveryFilter{})
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

// TestExactlyOnceAcrossWorkers: two workers on two nodes' stores race over
// one queue; the receiver gets each event once per endpoint, every request
// verifies, and a replay of a delivered request is refused by the Verifier.
func TestExactlyOnceAcrossWorkers(t *testing.T) {
	for _, kind := range sqltest.Kinds() {
		t.Run(kind, func(t *testing.T) {
			ctx := context.Background()
			box := testBox(t)
			n1, n2 := twoNodes(t, kind)
			org, err := n1.CreateOrg(ctx, "acme", "Acme")
			if err != nil {
				t.Fatal(err)
			}
			rc := newReceiver(t)
			slow := rc.respond
			rc.respond = func(n int) int { time.Sleep(2 * time.Millisecond); return slow(n) }
			var paths []string
			for i, evs := range [][]string{{roomhub.EventMemberJoined, roomhub.EventMemberLeft}, roomhub.WebhookEventTypes, {roomhub.EventMemberLeft}} {
				clear := webhook.NewSecret()
				p := fmt.Sprintf("/hook/%d", i)
				url := rc.path(p, clear, nil)
				if _, err := n1.CreateWebhookEndpoint(ctx, roomhub.WebhookEndpoint{OrgID: org.ID, URL: url, Events: evs},
					func(id int64) (string, error) { return box.Seal(clear, webhook.SecretAAD(id)) }); err != nil {
					t.Fatal(err)
				}
				paths = append(paths, p)
			}
			const events = 25
			want := map[string]int{}
			for i := range events {
				typ := roomhub.EventMemberJoined
				if i%2 == 1 {
					typ = roomhub.EventMemberLeft
				}
				id, body := event(t, "acme", typ, map[string]any{"room": "standup", "uid": i, "name": "Ada"})
				node := []*sqlstore.Store{n1, n2}[i%2]
				if err := node.EnqueueWebhook(ctx, org.ID, id, typ, body, time.Now()); err != nil {
					t.Fatal(err)
				}
				want[paths[1]+" "+id] = 1
				if typ == roomhub.EventMemberJoined {
					want[paths[0]+" "+id] = 1
				} else {
					want[paths[0]+" "+id] = 1
					want[paths[2]+" "+id] = 1
				}
			}
			var workers []*webhook.Worker
			for _, node := range []*sqlstore.Store{n1, n2, n1, n2} {
				w := webhook.NewWorker(node, box, loopback, nil)
				w.Poll, w.Batch = 5*time.Millisecond, 3
				w.Start(ctx)
				workers = append(workers, w)
			}
			deadline := time.Now().Add(20 * time.Second)
			for {
				done := 0
				for _, d := range deliveries(t, n2, org.ID) {
					if d.Status == roomhub.DeliveryDelivered {
						done++
					}
				}
				if done == len(want) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%d of %d deliveries delivered", done, len(want))
				}
				time.Sleep(10 * time.Millisecond)
			}
			for _, w := range workers {
				if err := w.Stop(ctx); err != nil {
					t.Fatal(err)
				}
			}
			got := map[string]int{}
			var sample receipt
			for _, r := range rc.receipts() {
				if r.verdict != nil {
					t.Fatalf("a delivery did not verify: %v", r.verdict)
				}
				got[r.path+" "+r.header.Get(webhook.EventIDHeader)]++
				if r.header.Get(webhook.AttemptHeader) != "1" || r.header.Get("Content-Type") != "application/json" || r.header.Get("User-Agent") != webhook.UserAgent {
					t.Fatalf("headers %v", r.header)
				}
				sample = r
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("receipts per endpoint and event:\n got %v\nwant %v", got, want)
			}
			for _, d := range deliveries(t, n1, org.ID) {
				if d.Attempts != 1 || d.LastStatus != 204 || d.LastError != "" {
					t.Fatalf("delivery log %+v", d)
				}
			}

			// Someone who captured a delivery sends it again: same body, same
			// headers. The receiver's Verifier refuses it.
			req, _ := http.NewRequest("POST", rc.srv.URL+sample.path, bytes.NewReader(sample.body))
			req.Header = sample.header.Clone()
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			msg, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusBadRequest || !strings.Contains(string(msg), webhook.ErrReplay.Error()) {
				t.Fatalf("replay answered %d %q, want 400 replay", res.StatusCode, msg)
			}
			// And with the body changed, the signature fails.
			req, _ = http.NewRequest("POST", rc.srv.URL+sample.path, bytes.NewReader(bytes.Replace(sample.body, []byte("Ada"), []byte("Eve"), 1)))
			req.Header = sample.header.Clone()
			res, err = http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			msg, _ = io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusBadRequest || !strings.Contains(string(msg), webhook.ErrBadSignature.Error()) {
				t.Fatalf("tampered body answered %d %q, want 400 bad signature", res.StatusCode, msg)
			}
		})
	}
}

// TestRetryWithBackoff: the receiver fails once with 500, then accepts; the
// worker retries at the backoff, not before, on a fake clock.
func TestRetryWithBackoff(t *testing.T) {
	for _, kind := range sqltest.Kinds() {
		t.Run(kind, func(t *testing.T) {
			ctx := context.Background()
			box := testBox(t)
			st := sqltest.Open(t, kind)
			org, _ := st.CreateOrg(ctx, "acme", "Acme")
			clk := &fakeNow{t: time.Now().Truncate(time.Millisecond)}
			rc := newReceiver(t)
			rc.respond = func(n int) int {
				if n == 1 {
					return http.StatusInternalServerError
				}
				return http.StatusOK
			}
			clear := webhook.NewSecret()
			endpoint := rc.path("/hook", clear, clk.Now)
			if _, err := st.CreateWebhookEndpoint(ctx, roomhub.WebhookEndpoint{OrgID: org.ID, URL: endpoint, Events: []string{roomhub.EventRoomStarted}},
				func(id int64) (string, error) { return box.Seal(clear, webhook.SecretAAD(id)) }); err != nil {
				t.Fatal(err)
			}
			id, body := event(t, "acme", roomhub.EventRoomStarted, map[string]any{"room": "standup", "started_at": clk.Now().UnixMilli()})
			if err := st.EnqueueWebhook(ctx, org.ID, id, roomhub.EventRoomStarted, body, clk.Now()); err != nil {
				t.Fatal(err)
			}
			w := webhook.NewWorker(st, box, loopback, nil)
			w.Now, w.Jitter = clk.Now, func() float64 { return 0.5 }
			run := func(want int) {
				t.Helper()
				if n, err := w.RunOnce(ctx); err != nil || n != want {
					t.Fatalf("RunOnce: %d %v, want %d", n, err, want)
				}
			}
			run(1)
			d := deliveries(t, st, org.ID)[0]
			if d.Status != roomhub.DeliveryPending || d.Attempts != 1 || d.LastStatus != 500 || d.LastError != "HTTP 500: receiver says hello" ||
				!d.NextAttemptAt.Equal(clk.Now().Add(webhook.Backoff(1, 0.5))) {
				t.Fatalf("after the 500: %+v", d)
			}
			clk.Add(webhook.Backoff(1, 0.5) - time.Millisecond)
			run(0) // not yet
			clk.Add(time.Millisecond)
			run(1)
			d = deliveries(t, st, org.ID)[0]
			if d.Status != roomhub.DeliveryDelivered || d.Attempts != 2 || d.LastStatus != 200 || d.LastError != "" {
				t.Fatalf("after the retry: %+v", d)
			}
			got := rc.receipts()
			if len(got) != 2 || got[0].verdict != nil || got[1].verdict != nil ||
				got[0].header.Get(webhook.AttemptHeader) != "1" || got[1].header.Get(webhook.AttemptHeader) != "2" ||
				got[0].header.Get(webhook.SignatureHeader) == got[1].header.Get(webhook.SignatureHeader) ||
				!bytes.Equal(got[0].body, body) || !bytes.Equal(got[1].body, body) {
				t.Fatalf("receipts %+v", got)
			}
			if w.Stats.Retried.Load() != 1 || w.Stats.Delivered.Load() != 1 || w.Stats.Failed.Load() != 0 {
				t.Fatalf("stats: retried %d, delivered %d, failed %d", w.Stats.Retried.Load(), w.Stats.Delivered.Load(), w.Stats.Failed.Load())
			}
			clk.Add(24 * time.Hour)
			run(0)
		})
	}
}

// TestFailedAfterMaxAttempts: a receiver that always fails gets MaxAttempts
// attempts, at the backoff schedule, and then the delivery is failed.
func TestFailedAfterMaxAttempts(t *testing.T) {
	for _, kind := range sqltest.Kinds() {
		t.Run(kind, func(t *testing.T) {
			ctx := context.Background()
			box := testBox(t)
			st := sqltest.Open(t, kind)
			org, _ := st.CreateOrg(ctx, "acme", "Acme")
			clk := &fakeNow{t: time.Now().Truncate(time.Millisecond)}
			rc := newReceiver(t)
			rc.respond = func(int) int { return http.StatusServiceUnavailable }
			clear := webhook.NewSecret()
			url := rc.path("/hook", clear, clk.Now)
			if _, err := st.CreateWebhookEndpoint(ctx, roomhub.WebhookEndpoint{OrgID: org.ID, URL: url, Events: []string{roomhub.EventMemberLeft}},
				func(id int64) (string, error) { return box.Seal(clear, webhook.SecretAAD(id)) }); err != nil {
				t.Fatal(err)
			}
			id, body := event(t, "acme", roomhub.EventMemberLeft, map[string]any{"room": "r", "reason": "left"})
			st.EnqueueWebhook(ctx, org.ID, id, roomhub.EventMemberLeft, body, clk.Now())
			w := webhook.NewWorker(st, box, loopback, nil)
			w.Now, w.Jitter = clk.Now, func() float64 { return 0.5 }
			start := clk.Now()
			for i := 1; i <= webhook.MaxAttempts; i++ {
				if n, err := w.RunOnce(ctx); err != nil || n != 1 {
					t.Fatalf("attempt %d: %d %v", i, n, err)
				}
				d := deliveries(t, st, org.ID)[0]
				if d.Attempts != i || d.LastStatus != 503 {
					t.Fatalf("after attempt %d: %+v", i, d)
				}
				if i < webhook.MaxAttempts {
					if d.Status != roomhub.DeliveryPending {
						t.Fatalf("after attempt %d: %s", i, d.Status)
					}
					clk.Add(webhook.Backoff(i, 0.5))
				} else if d.Status != roomhub.DeliveryFailed {
					t.Fatalf("after the last attempt: %s, want failed", d.Status)
				}
			}
			if total := clk.Now().Sub(start); total != 30*time.Second+2*time.Minute+8*time.Minute+32*time.Minute+128*time.Minute+8*time.Hour {
				t.Fatalf("the attempts spanned %s", total)
			}
			clk.Add(30 * 24 * time.Hour)
			if n, _ := w.RunOnce(ctx); n != 0 {
				t.Fatal("a failed delivery was attempted again")
			}
			if len(rc.receipts()) != webhook.MaxAttempts {
				t.Fatalf("the receiver got %d requests, want %d", len(rc.receipts()), webhook.MaxAttempts)
			}
			if w.Stats.Retried.Load() != webhook.MaxAttempts-1 || w.Stats.Failed.Load() != 1 || w.Stats.Delivered.Load() != 0 {
				t.Fatalf("stats: retried %d, failed %d, delivered %d", w.Stats.Retried.Load(), w.Stats.Failed.Load(), w.Stats.Delivered.Load())
			}
		})
	}
}

// TestWorkerRefusesLoopbackWithoutAllowList: an endpoint whose name now
// leads to loopback (DNS rebinding, or an allow-list since removed) is not
// called; the log says why.
func TestWorkerRefusesLoopbackWithoutAllowList(t *testing.T) {
	ctx := context.Background()
	box := testBox(t)
	st := sqltest.Open(t, "sqlite")
	org, _ := st.CreateOrg(ctx, "acme", "Acme")
	rc := newReceiver(t)
	clear := webhook.NewSecret()
	url := strings.Replace(rc.path("/hook", clear, nil), "127.0.0.1", "localhost", 1)
	if _, err := st.CreateWebhookEndpoint(ctx, roomhub.WebhookEndpoint{OrgID: org.ID, URL: url, Events: []string{roomhub.EventMemberJoined}},
		func(id int64) (string, error) { return box.Seal(clear, webhook.SecretAAD(id)) }); err != nil {
		t.Fatal(err)
	}
	id, body := event(t, "acme", roomhub.EventMemberJoined, map[string]any{})
	st.EnqueueWebhook(ctx, org.ID, id, roomhub.EventMemberJoined, body, time.Now())
	w := webhook.NewWorker(st, box, webhook.Policy{}, nil)
	if n, err := w.RunOnce(ctx); n != 1 || err != nil {
		t.Fatal(n, err)
	}
	d := deliveries(t, st, org.ID)[0]
	if d.Status != roomhub.DeliveryPending || d.LastStatus != 0 || !strings.HasPrefix(d.LastError, "refused: ") || !strings.Contains(d.LastError, "not on the public internet") {
		t.Fatalf("delivery %+v", d)
	}
	if len(rc.receipts()) != 0 {
		t.Fatal("the loopback receiver was called")
	}
}

// TestWorkerStopAndSecretKey: a secret sealed under another key fails the
// attempt with a clear message and no request; Stop returns.
func TestWorkerStopAndSecretKey(t *testing.T) {
	ctx := context.Background()
	st := sqltest.Open(t, "sqlite")
	org, _ := st.CreateOrg(ctx, "acme", "Acme")
	rc := newReceiver(t)
	other, _ := secret.New(secret.GenerateKey())
	endpoint(t, st, other, org.ID, rc.path("/hook", "x", nil), roomhub.EventMemberJoined)
	id, body := event(t, "acme", roomhub.EventMemberJoined, map[string]any{})
	st.EnqueueWebhook(ctx, org.ID, id, roomhub.EventMemberJoined, body, time.Now())
	w := webhook.NewWorker(st, testBox(t), loopback, nil)
	w.Poll = 5 * time.Millisecond
	w.Start(ctx)
	deadline := time.Now().Add(5 * time.Second)
	for deliveries(t, st, org.ID)[0].Attempts == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := w.Stop(sctx); err != nil {
		t.Fatal(err)
	}
	d := deliveries(t, st, org.ID)[0]
	if d.Attempts != 1 || !strings.Contains(d.LastError, "signing secret") || len(rc.receipts()) != 0 {
		t.Fatalf("delivery %+v, %d receipts", d, len(rc.receipts()))
	}
}
