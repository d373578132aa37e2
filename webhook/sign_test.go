package webhook

import (
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// testSecret is a Standard Webhooks secret: whsec_ and base64.
const testSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

var t0 = time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)

// with returns a copy of h with header k set to v ("" deletes it).
func with(h http.Header, k, v string) http.Header {
	c := h.Clone()
	if v == "" {
		c.Del(k)
	} else {
		c.Set(k, v)
	}
	return c
}

func TestSignFormat(t *testing.T) {
	h := Sign(testSecret, "evt_1", []byte(`{"id":"evt_1"}`), t0)
	sig := h.Get(SignatureHeader)
	if h.Get(EventIDHeader) != "evt_1" || h.Get(TimestampHeader) != "1773500966" || !strings.HasPrefix(sig, "v1,") || len(sig) != 3+44 {
		t.Fatalf("headers %v", h)
	}
	if Sign(testSecret, "evt_1", []byte(`{"id":"evt_1"}`), t0.Add(time.Second)).Get(SignatureHeader) == sig {
		t.Fatal("the timestamp is not signed")
	}
	if Sign(testSecret, "evt_2", []byte(`{"id":"evt_1"}`), t0).Get(SignatureHeader) == sig {
		t.Fatal("the id is not signed")
	}
	s := NewSecret()
	if k, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(s, SecretPrefix)); !strings.HasPrefix(s, SecretPrefix) || err != nil || len(k) != 32 || s == NewSecret() {
		t.Fatalf("NewSecret %q is not whsec_ and 32 bytes in standard base64", s)
	}
	// A secret made before Standard Webhooks (unpadded base64url) still
	// signs with the bytes it encodes.
	legacy := "whsec_hL3vQ0m8bPz2kR7yWc4sT9nXa1eJd6fGu5iOo0pYq2A"
	if k := key(legacy); len(k) != 32 {
		t.Fatalf("legacy secret key of %d bytes", len(k))
	}
}

func TestVerify(t *testing.T) {
	body := []byte(`{"id":"evt_1","type":"test"}`)
	h := Sign(testSecret, "evt_1", body, t0)
	sig := h.Get(SignatureHeader)
	for _, tc := range []struct {
		name   string
		secret string
		header http.Header
		body   string
		now    time.Time
		want   error
	}{
		{"valid", testSecret, h, string(body), t0, nil},
		{"valid at the edge of the tolerance", testSecret, h, string(body), t0.Add(DefaultTolerance), nil},
		{"receiver clock behind", testSecret, h, string(body), t0.Add(-DefaultTolerance), nil},
		{"tampered body", testSecret, h, `{"id":"evt_1","type":"tesT"}`, t0, ErrBadSignature},
		{"body with trailing newline", testSecret, h, string(body) + "\n", t0, ErrBadSignature},
		{"wrong secret", "whsec_b3RoZXI=", h, string(body), t0, ErrBadSignature},
		{"stale", testSecret, h, string(body), t0.Add(DefaultTolerance + time.Second), ErrStale},
		{"from the future", testSecret, h, string(body), t0.Add(-DefaultTolerance - time.Second), ErrStale},
		{"timestamp changed", testSecret, with(h, TimestampHeader, "1773500967"), string(body), t0, ErrBadSignature},
		{"id changed", testSecret, with(h, EventIDHeader, "evt_2"), string(body), t0, ErrBadSignature},
		{"no signature", testSecret, with(h, SignatureHeader, ""), string(body), t0, ErrNoSignature},
		{"no timestamp", testSecret, with(h, TimestampHeader, ""), string(body), t0, ErrNoSignature},
		{"no id", testSecret, with(h, EventIDHeader, ""), string(body), t0, ErrNoEventID},
		{"v1 without comma", testSecret, with(h, SignatureHeader, "v1="+sig[3:]), string(body), t0, ErrBadSignature},
		{"other version", testSecret, with(h, SignatureHeader, "v2,"+sig[3:]), string(body), t0, ErrBadSignature},
		{"second signature matches (rotation)", testSecret, with(h, SignatureHeader, "v1,AAAA "+sig), string(body), t0, nil},
		{"unknown version ignored", testSecret, with(h, SignatureHeader, "v1a,whatever "+sig), string(body), t0, nil},
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
	h := Sign(testSecret, "evt_1", body, t0)
	if id, err := v.Verify(h, body); err != nil || id != "evt_1" {
		t.Fatalf("first delivery: %q %v", id, err)
	}
	now = now.Add(time.Minute)
	if _, err := v.Verify(h, body); !errors.Is(err, ErrReplay) {
		t.Fatalf("replay: %v, want ErrReplay", err)
	}
	// A retry of the same event is signed again, later: accepted.
	if _, err := v.Verify(Sign(testSecret, "evt_1", body, now), body); err != nil {
		t.Fatalf("retry: %v", err)
	}
	// A forged request is not remembered, so it cannot block the real one.
	other := []byte(`{"id":"evt_2"}`)
	forged := Sign("whsec_YXR0YWNrZXI=", "evt_2", other, now)
	if _, err := v.Verify(forged, other); !errors.Is(err, ErrBadSignature) {
		t.Fatal(err)
	}
	if _, err := v.Verify(Sign(testSecret, "evt_2", other, now), other); err != nil {
		t.Fatalf("real request after a forged one: %v", err)
	}
	// Once the tolerance has passed, the replay is stale, and forgotten.
	now = t0.Add(DefaultTolerance + 2*time.Second)
	if _, err := v.Verify(h, body); !errors.Is(err, ErrStale) {
		t.Fatalf("old replay: %v, want ErrStale", err)
	}
	now = now.Add(DefaultTolerance + 2*time.Second)
	v.Verify(Sign(testSecret, "evt_3", []byte(`{"id":"evt_3"}`), now), []byte(`{"id":"evt_3"}`))
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
		_, err := v.Verify(Sign(testSecret, id, b, now), b)
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
	h := Sign(testSecret, "evt_race", body, time.Now())
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
