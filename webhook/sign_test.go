package webhook

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

const testSecret = "whsec_test-secret-0123456789"

var t0 = time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)

func TestSignFormat(t *testing.T) {
	h := Sign(testSecret, []byte(`{"id":"evt_1"}`), t0)
	ts, sigs, err := parseHeader(h)
	if err != nil || ts != t0.Unix() || len(sigs) != 1 || len(sigs[0]) != 64 || !strings.HasPrefix(h, "t=1773500966,v1=") {
		t.Fatalf("header %q: %d %v %v", h, ts, sigs, err)
	}
	if Sign(testSecret, []byte(`{"id":"evt_1"}`), t0.Add(time.Second)) == h {
		t.Fatal("the timestamp is not signed")
	}
	if s := NewSecret(); !strings.HasPrefix(s, SecretPrefix) || len(s) != len(SecretPrefix)+43 || s == NewSecret() {
		t.Fatalf("NewSecret %q", s)
	}
}

func TestVerify(t *testing.T) {
	body := []byte(`{"id":"evt_1","type":"test"}`)
	h := Sign(testSecret, body, t0)
	for _, tc := range []struct {
		name   string
		secret string
		header string
		body   string
		now    time.Time
		want   error
	}{
		{"valid", testSecret, h, string(body), t0, nil},
		{"valid at the edge of the tolerance", testSecret, h, string(body), t0.Add(DefaultTolerance), nil},
		{"receiver clock behind", testSecret, h, string(body), t0.Add(-DefaultTolerance), nil},
		{"tampered body", testSecret, h, `{"id":"evt_1","type":"tesT"}`, t0, ErrBadSignature},
		{"body with trailing newline", testSecret, h, string(body) + "\n", t0, ErrBadSignature},
		{"wrong secret", "whsec_other", h, string(body), t0, ErrBadSignature},
		{"stale", testSecret, h, string(body), t0.Add(DefaultTolerance + time.Second), ErrStale},
		{"from the future", testSecret, h, string(body), t0.Add(-DefaultTolerance - time.Second), ErrStale},
		{"timestamp changed", testSecret, strings.Replace(h, "t=1773500966", "t=1773500967", 1), string(body), t0, ErrBadSignature},
		{"empty", testSecret, "", string(body), t0, ErrNoSignature},
		{"no v1", testSecret, "t=1773500966", string(body), t0, ErrNoSignature},
		{"no t", testSecret, h[strings.Index(h, "v1="):], string(body), t0, ErrNoSignature},
		{"two t", testSecret, "t=1," + h, string(body), t0, ErrNoSignature},
		{"garbage", testSecret, "sha256=abc", string(body), t0, ErrNoSignature},
		{"second v1 matches (rotation)", testSecret, h + ",v1=00", string(body), t0, nil},
		{"unknown scheme ignored", testSecret, h + ",v0=whatever", string(body), t0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := Verify(tc.secret, tc.header, []byte(tc.body), tc.now); !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("Verify: %v, want %v", err, tc.want)
			}
		})
	}
}

func TestVerifierRefusesReplays(t *testing.T) {
	now := t0
	v := NewVerifier(testSecret).WithClock(func() time.Time { return now })
	body := []byte(`{"id":"evt_1","type":"member_joined"}`)
	h := Sign(testSecret, body, t0)
	if id, err := v.Verify(h, body); err != nil || id != "evt_1" {
		t.Fatalf("first delivery: %q %v", id, err)
	}
	now = now.Add(time.Minute)
	if _, err := v.Verify(h, body); !errors.Is(err, ErrReplay) {
		t.Fatalf("replay: %v, want ErrReplay", err)
	}
	// A retry of the same event is signed again, later: accepted.
	if _, err := v.Verify(Sign(testSecret, body, now), body); err != nil {
		t.Fatalf("retry: %v", err)
	}
	// A forged request is not remembered, so it cannot block the real one.
	other := []byte(`{"id":"evt_2"}`)
	forged := Sign("whsec_attacker", other, now)
	if _, err := v.Verify(forged, other); !errors.Is(err, ErrBadSignature) {
		t.Fatal(err)
	}
	if _, err := v.Verify(Sign(testSecret, other, now), other); err != nil {
		t.Fatalf("real request after a forged one: %v", err)
	}
	// Signed, but not an event.
	if _, err := v.Verify(Sign(testSecret, []byte(`[1]`), now), []byte(`[1]`)); !errors.Is(err, ErrNoEventID) {
		t.Fatalf("non-event: %v", err)
	}
	// Once the tolerance has passed, the replay is stale, and forgotten.
	now = t0.Add(DefaultTolerance + 2*time.Second)
	if _, err := v.Verify(h, body); !errors.Is(err, ErrStale) {
		t.Fatalf("old replay: %v, want ErrStale", err)
	}
	now = now.Add(DefaultTolerance + 2*time.Second)
	v.Verify(Sign(testSecret, []byte(`{"id":"evt_3"}`), now), []byte(`{"id":"evt_3"}`))
	v.mu.Lock()
	n := len(v.seen)
	v.mu.Unlock()
	if n != 1 {
		t.Fatalf("the verifier remembers %d requests, want only the last one", n)
	}
}

func TestVerifierMemoryBounded(t *testing.T) {
	now := t0
	v := NewVerifier(testSecret).WithClock(func() time.Time { return now }).WithMaxSeen(3)
	send := func(id string) error {
		b := []byte(`{"id":"` + id + `"}`)
		_, err := v.Verify(Sign(testSecret, b, now), b)
		return err
	}
	for _, id := range []string{"a", "b", "c"} {
		if err := send(id); err != nil {
			t.Fatal(err)
		}
	}
	if err := send("d"); !errors.Is(err, ErrReplayCacheFull) {
		t.Fatalf("over the bound: %v, want ErrReplayCacheFull (never forget a request still fresh)", err)
	}
	now = now.Add(DefaultTolerance + 2*time.Second)
	if err := send("d"); err != nil {
		t.Fatalf("after the window: %v", err)
	}
}

func TestVerifierConcurrentReplays(t *testing.T) {
	v := NewVerifier(testSecret)
	body := []byte(`{"id":"evt_race"}`)
	h := Sign(testSecret, body, time.Now())
	var wg sync.WaitGroup
	var mu sync.Mutex
	accepted := 0
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := v.Verify(h, body); err == nil {
				mu.Lock()
				accepted++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if accepted != 1 {
		t.Fatalf("%d copies of one request accepted, want 1", accepted)
	}
}

func TestBackoffSchedule(t *testing.T) {
	want := []time.Duration{30 * time.Second, 2 * time.Minute, 8 * time.Minute, 32 * time.Minute, 128 * time.Minute, 4 * time.Hour, 4 * time.Hour}
	for i, w := range want {
		if got := Backoff(i+1, 0.5); got != w {
			t.Errorf("Backoff(%d) = %s, want %s", i+1, got, w)
		}
	}
	if len(want) != MaxAttempts-1 {
		t.Errorf("the schedule lists %d waits; MaxAttempts %d makes %d", len(want), MaxAttempts, MaxAttempts-1)
	}
	if lo, hi := Backoff(1, 0), Backoff(1, 0.999999); lo != 24*time.Second || hi < 35*time.Second || hi > 36*time.Second {
		t.Errorf("jitter bounds %s..%s, want 24s..36s", lo, hi)
	}
}
