package video

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"roomhub/clock"
	"roomhub/video/agoratest"
)

const (
	testAppID = "0123456789abcdef0123456789abcdef"
	testCID   = "customer-id"
	testCSec  = "customer-secret"
)

var testAccount = Account{CustomerID: testCID, CustomerSecret: testCSec}

func TestBanSendsWhatAgoraExpects(t *testing.T) {
	fake := agoratest.New(testCID, testCSec, testAppID)
	defer fake.Close()
	c := &Client{BaseURL: fake.URL}
	ctx := context.Background()
	for _, tc := range []struct {
		name     string
		d        time.Duration
		wantSecs int
	}{
		{"fifteen minutes", 15 * time.Minute, 900},
		{"below Agora's minimum", time.Second, 10},
		{"above Agora's maximum", 48 * time.Hour, 86430},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id, err := c.Ban(ctx, testAccount, testAppID, "standup", 42, tc.d)
			if err != nil || id == 0 {
				t.Fatalf("Ban = %d, %v", id, err)
			}
			rules := fake.Rules()
			r := rules[len(rules)-1]
			if r.ID != id || r.Channel != "standup" || r.UID != 42 || r.TimeInSeconds != tc.wantSecs || r.AppID != testAppID || r.Account != testCID {
				t.Fatalf("rule %+v", r)
			}
		})
	}
	t.Run("wrong secret", func(t *testing.T) {
		_, err := c.Ban(ctx, Account{CustomerID: testCID, CustomerSecret: "guess"}, testAppID, "standup", 42, time.Minute)
		var ae *APIError
		if !errors.As(err, &ae) || ae.Status != http.StatusUnauthorized || ae.Temporary {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("unknown project", func(t *testing.T) {
		_, err := c.Ban(ctx, testAccount, "ffffffffffffffffffffffffffffffff", "standup", 42, time.Minute)
		var ae *APIError
		if !errors.As(err, &ae) || ae.Status != http.StatusBadRequest || ae.Temporary {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("a burst past ten per second is refused", func(t *testing.T) {
		// The fake's limit is real: without the queue's spacing, the 11th
		// call within a second is refused with 429, a temporary error.
		var last error
		for i := range 11 {
			_, last = c.Ban(ctx, Account{CustomerID: "burst", CustomerSecret: "b"}, testAppID, "x", uint32(i+1), time.Minute)
		}
		fake.Accounts["burst"] = "b" // only now valid: the calls above were refused for credentials
		_ = last
		limited := fake.Limited()
		for i := range 11 {
			_, last = c.Ban(ctx, Account{CustomerID: "burst", CustomerSecret: "b"}, testAppID, "x", uint32(i+1), time.Minute)
		}
		if fake.Limited() == limited {
			t.Fatal("eleven calls within a second were all accepted")
		}
		if again, _ := temporary(last); !again {
			t.Fatalf("a 429 is not retried: %v", last)
		}
	})
}

// TestQueueStaysWithinAgorasRateLimit queues more removals than Agora
// accepts in a second for one account: all of them go through and Agora
// never refuses one for the rate.
func TestQueueStaysWithinAgorasRateLimit(t *testing.T) {
	fake := agoratest.New(testCID, testCSec, testAppID)
	defer fake.Close()
	const n = 25
	var mu sync.Mutex
	var outcomes []error
	all := make(chan struct{})
	q := NewQueue(&Client{BaseURL: fake.URL}, clock.Real{}, n, 0, slog.New(slog.DiscardHandler), func(j Job, err error) {
		mu.Lock()
		defer mu.Unlock()
		outcomes = append(outcomes, err)
		if len(outcomes) == n {
			close(all)
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go q.Run(ctx)
	for i := range n {
		if !q.Add(Job{Org: 1, Room: "r", Channel: "r", AppID: testAppID, UID: uint32(i + 1), Rule: time.Minute, Account: testAccount}) {
			t.Fatal("queue refused a job below its size")
		}
	}
	select {
	case <-all:
	case <-time.After(30 * time.Second):
		t.Fatal("the queue did not finish")
	}
	for _, err := range outcomes {
		if err != nil {
			t.Fatalf("a removal failed: %v", err)
		}
	}
	if got := len(fake.Rules()); got != n {
		t.Fatalf("%d rules, want %d", got, n)
	}
	if fake.Limited() != 0 {
		t.Fatalf("Agora refused %d calls for the rate", fake.Limited())
	}
}

func TestQueueFullRefusesWithoutBlocking(t *testing.T) {
	q := NewQueue(&Client{}, clock.Real{}, 2, 0, slog.New(slog.DiscardHandler), func(Job, error) {})
	if !q.Add(Job{}) || !q.Add(Job{}) {
		t.Fatal("refused below size")
	}
	if q.Add(Job{}) {
		t.Fatal("a full queue took a job (or blocked)")
	}
}

// flaky answers 503 to the first fails calls, then passes to the fake.
func flaky(t *testing.T, target string, fails int32) (*httptest.Server, *atomic.Int32) {
	u, _ := url.Parse(target)
	proxy := httputil.NewSingleHostReverseProxy(u)
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) <= fails {
			http.Error(w, `{"message":"service unavailable"}`, http.StatusServiceUnavailable)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &calls
}

func TestQueueRetriesWithBackoff(t *testing.T) {
	fake := agoratest.New(testCID, testCSec, testAppID)
	defer fake.Close()
	for _, tc := range []struct {
		name      string
		fails     int32
		account   Account
		wantCalls int32
		wantErr   bool
	}{
		{"two failures then success", 2, testAccount, 3, false},
		{"gives up after the last attempt", 100, testAccount, QueueAttempts, true},
		{"a refusal is not retried", 0, Account{CustomerID: testCID, CustomerSecret: "wrong"}, 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, calls := flaky(t, fake.URL, tc.fails)
			clk := clock.NewFake(time.Unix(1_800_000_000, 0))
			done := make(chan error, 1)
			q := NewQueue(&Client{BaseURL: srv.URL}, clk, 1, 0, slog.New(slog.DiscardHandler), func(_ Job, err error) { done <- err })
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go q.Run(ctx)
			q.Add(Job{Org: 1, Room: "r", Channel: "r", AppID: testAppID, UID: 7, Rule: time.Minute, Account: tc.account})
			var waited time.Duration
			deadline := time.Now().Add(10 * time.Second)
			for {
				select {
				case err := <-done:
					if (err != nil) != tc.wantErr || calls.Load() != tc.wantCalls {
						t.Fatalf("err = %v after %d calls; want error %v after %d", err, calls.Load(), tc.wantErr, tc.wantCalls)
					}
					if tc.wantCalls == 3 && waited < 3*QueueBackoff {
						t.Fatalf("retried after %v of backoff; want at least %v", waited, 3*QueueBackoff)
					}
					return
				default:
				}
				if time.Now().After(deadline) {
					t.Fatalf("no outcome after %d calls", calls.Load())
				}
				if clk.Pending() > 0 {
					clk.Advance(100 * time.Millisecond)
					waited += 100 * time.Millisecond
				} else {
					time.Sleep(time.Millisecond)
				}
			}
		})
	}
}

func TestLimiterCountsCallsInFlightAndCompleted(t *testing.T) {
	clk := clock.NewFake(time.Unix(0, 0))
	l := newLimiter(clk, 3, time.Second)
	ctx := context.Background()
	var started atomic.Int32
	for range 3 {
		if err := l.acquire(ctx, "a"); err != nil {
			t.Fatal(err)
		}
		started.Add(1)
	}
	go func() {
		if l.acquire(ctx, "a") == nil {
			started.Add(1)
		}
	}()
	if err := l.acquire(ctx, "b"); err != nil {
		t.Fatal("another account waits for a's calls")
	}
	// Three in flight, however long they take: the fourth waits.
	clk.Advance(5 * time.Second)
	time.Sleep(20 * time.Millisecond)
	if n := started.Load(); n != 3 {
		t.Fatalf("%d calls started with three in flight", n)
	}
	// One completes: it still counts for a window after its end.
	l.release("a")
	time.Sleep(20 * time.Millisecond)
	if n := started.Load(); n != 3 {
		t.Fatal("a call started within a window of a completion with the budget used")
	}
	deadline := time.Now().Add(5 * time.Second)
	for clk.Pending() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the waiting call set no timer")
		}
		time.Sleep(time.Millisecond)
	}
	clk.Advance(time.Second)
	for started.Load() != 4 {
		if time.Now().After(deadline) {
			t.Fatal("the fourth call never started once the window passed")
		}
		time.Sleep(time.Millisecond)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := l.acquire(cctx, "a"); err == nil {
		t.Fatal("a cancelled wait acquired")
	}
}
