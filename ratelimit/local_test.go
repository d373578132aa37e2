package ratelimit_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"
	"time"

	"github.com/go-chi/httprate"

	"roomhub/clock"
	"roomhub/ratelimit"
)

// TestLimitsLikeHTTPRate: behind httprate, the counter lets exactly the
// limit through per address and window, and counts addresses apart.
func TestLimitsLikeHTTPRate(t *testing.T) {
	c := ratelimit.NewLocal(time.Minute, clock.Real{})
	h := httprate.Limit(3, time.Minute, httprate.WithKeyFuncs(httprate.KeyByIP), httprate.WithLimitCounter(c))(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	for _, ip := range []string{"192.0.2.1", "192.0.2.2"} {
		for i := 1; i <= 4; i++ {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = ip + ":1234"
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			want := 200
			if i == 4 {
				want = 429
			}
			if w.Code != want {
				t.Fatalf("%s request %d: %d, want %d", ip, i, w.Code, want)
			}
		}
	}
}

// TestSlidingWindow: the previous window's count is reported beside the
// current one, and older windows count nothing.
func TestSlidingWindow(t *testing.T) {
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	c := ratelimit.NewLocal(time.Minute, clk)
	w0 := clk.Now().Truncate(time.Minute)
	w1, w2 := w0.Add(time.Minute), w0.Add(2*time.Minute)
	c.IncrementBy("a", w0, 5)
	if cur, prev, _ := c.Get("a", w0, w0.Add(-time.Minute)); cur != 5 || prev != 0 {
		t.Fatalf("window 0: %d %d", cur, prev)
	}
	if cur, prev, _ := c.Get("a", w1, w0); cur != 0 || prev != 5 {
		t.Fatalf("window 1 before any request: %d %d", cur, prev)
	}
	c.Increment("a", w1)
	if cur, prev, _ := c.Get("a", w1, w0); cur != 1 || prev != 5 {
		t.Fatalf("window 1: %d %d", cur, prev)
	}
	c.Increment("b", w2.Add(time.Minute)) // a window skipped: nothing carries
	if cur, prev, _ := c.Get("a", w2.Add(time.Minute), w2); cur != 0 || prev != 0 {
		t.Fatalf("after a gap: %d %d", cur, prev)
	}
}

// TestManyAddressesGiveMemoryBack: 200,000 distinct addresses in one
// window grow the counter; two windows after they stop, it holds nothing
// and the heap is back where it was.
func TestManyAddressesGiveMemoryBack(t *testing.T) {
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	c := ratelimit.NewLocal(time.Minute, clk)
	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	before := heap()
	w := clk.Now().Truncate(time.Minute)
	const n = 200_000
	for i := 0; i < n; i++ {
		c.Increment(fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255), w)
	}
	if c.Len() != n {
		t.Fatalf("holds %d keys, want %d", c.Len(), n)
	}
	grown := heap()
	if grown < before+2<<20 {
		t.Fatalf("200,000 keys took only %d KiB: the test measures nothing", (grown-before)>>10)
	}
	clk.Advance(time.Minute)
	if c.Len() != n {
		t.Fatalf("after one window: %d keys, want the previous window's %d", c.Len(), n)
	}
	clk.Advance(time.Minute)
	if c.Len() != 0 {
		t.Fatalf("two windows after the last request: %d keys", c.Len())
	}
	if after := heap(); after > before+256<<10 {
		t.Fatalf("heap %d KiB, %d KiB before the burst", after>>10, before>>10)
	}
}
