// Package webhook delivers organizations' events to their webhook endpoints
// and holds what receivers need to trust them.
//
//   - Signing: every request carries Roomhub-Signature: t=<unix seconds>,v1=<hex>,
//     the HMAC-SHA256 under the endpoint's secret of t + "." + body.
//   - Verifying: Verify checks a signature and its timestamp; a Verifier
//     also refuses a request it has already accepted (a replay).
//   - SSRF: a Policy validates endpoint URLs when they are created and
//     builds the HTTP client that re-checks every address at connect time,
//     so loopback, private, link-local and other internal addresses are never
//     reached, whatever DNS answers later.
//   - Delivery: a Worker claims due deliveries from the store with a lease
//     (each is sent once even with workers on several nodes), POSTs them
//     and retries failures with exponential backoff.
//
// docs/webhooks.md is the receivers' documentation.
package webhook

import (
	"container/heap"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"roomhub"
	"roomhub/secret"
)

// Headers of a delivery.
const (
	SignatureHeader = "Roomhub-Signature"  // t=<unix seconds>,v1=<hex HMAC-SHA256>
	EventIDHeader   = "Roomhub-Event-Id"   // the envelope's id, the same in every retry
	EventTypeHeader = "Roomhub-Event-Type" // the envelope's type
	AttemptHeader   = "Roomhub-Attempt"    // 1 for the first attempt, 2 for the first retry, ...
)

// DefaultTolerance is how far a signature's timestamp may be from the
// receiver's clock, either way: older requests are refused as stale, and a
// Verifier remembers accepted ones for as long.
const DefaultTolerance = 5 * time.Minute

// DefaultMaxSeen bounds the requests a Verifier remembers within its
// tolerance; beyond it, it refuses new requests (ErrReplayCacheFull) rather
// than forget one and let its replay in. Refused deliveries are retried.
const DefaultMaxSeen = 100_000

// MaxPayloadBytes bounds the body VerifyRequest reads. Roomhub's events are
// far smaller.
const MaxPayloadBytes = 1 << 20

// SecretPrefix starts every signing secret.
const SecretPrefix = "whsec_"

// Errors of verification. They say what is wrong, never the expected value.
var (
	ErrNoSignature     = errors.New("webhook: missing or malformed " + SignatureHeader + " header")
	ErrBadSignature    = errors.New("webhook: signature does not match the body and secret")
	ErrStale           = errors.New("webhook: signature timestamp outside the tolerance")
	ErrReplay          = errors.New("webhook: request already received (replay)")
	ErrNoEventID       = errors.New("webhook: body is not an event with an id")
	ErrReplayCacheFull = errors.New("webhook: too many recent requests to remember; retry later")
)

// NewSecret returns a new signing secret: SecretPrefix and 256 random bits
// in unpadded base64url. The HMAC key is the whole string, prefix included.
func NewSecret() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails: crypto/rand crashes the program instead
	return SecretPrefix + base64.RawURLEncoding.EncodeToString(b)
}

// SecretAAD binds an endpoint's sealed secret to its row, as secret.AAD does
// for every sealed value ("webhook_endpoints.secret:<id>").
func SecretAAD(endpointID int64) string {
	return secret.AAD(roomhub.SealedSecret{Table: "webhook_endpoints", Column: "secret", ID: endpointID})
}

// mac is the hex HMAC-SHA256 under secret of the signed content.
func mac(secret string, ts int64, body []byte) string {
	h := hmac.New(sha256.New, []byte(secret))
	h.Write([]byte(strconv.FormatInt(ts, 10)))
	h.Write([]byte{'.'})
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil))
}

// Sign returns the Roomhub-Signature header value for body sent at t:
// "t=<unix seconds>,v1=<hex HMAC-SHA256 of t + "." + body>".
func Sign(secret string, body []byte, t time.Time) string {
	ts := t.Unix()
	return "t=" + strconv.FormatInt(ts, 10) + ",v1=" + mac(secret, ts, body)
}

// parseHeader reads "t=...,v1=...[,v1=...]"; unknown keys are ignored, so a
// later scheme can be added beside v1.
func parseHeader(header string) (ts int64, sigs []string, err error) {
	haveTS := false
	for _, part := range strings.Split(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return 0, nil, ErrNoSignature
		}
		switch k {
		case "t":
			n, perr := strconv.ParseInt(v, 10, 64)
			if perr != nil || haveTS {
				return 0, nil, ErrNoSignature
			}
			ts, haveTS = n, true
		case "v1":
			sigs = append(sigs, v)
		}
	}
	if !haveTS || len(sigs) == 0 {
		return 0, nil, ErrNoSignature
	}
	return ts, sigs, nil
}

// check verifies header against body at now and returns its timestamp.
func check(secret, header string, body []byte, now time.Time, tolerance time.Duration) (int64, error) {
	ts, sigs, err := parseHeader(header)
	if err != nil {
		return 0, err
	}
	if d := now.Sub(time.Unix(ts, 0)); d > tolerance || d < -tolerance {
		return 0, ErrStale
	}
	want := []byte(mac(secret, ts, body))
	for _, s := range sigs {
		if hmac.Equal([]byte(s), want) {
			return ts, nil
		}
	}
	return 0, ErrBadSignature
}

// Verify checks that header (the Roomhub-Signature value) signs body under
// secret and that its timestamp is within DefaultTolerance of now. It does
// not remember requests, so it cannot refuse a replay within the tolerance:
// use a Verifier for that.
func Verify(secret, header string, body []byte, now time.Time) error {
	_, err := check(secret, header, body, now, DefaultTolerance)
	return err
}

// Verifier verifies deliveries to one endpoint and refuses replays: a
// request whose event id and timestamp it accepted before. A retry of an
// event is signed anew, with a later timestamp, so it is accepted; an exact
// copy of an accepted request is not. Requests older than the tolerance are
// refused as stale, so a Verifier forgets them: its memory is bounded by
// the requests of one tolerance window, and by MaxSeen.
//
// A Verifier is safe for concurrent use. Its zero value is not usable: make
// one with NewVerifier.
type Verifier struct {
	secret    string
	tolerance time.Duration
	maxSeen   int
	now       func() time.Time

	mu   sync.Mutex
	seen map[string]bool
	exp  expiries
}

// NewVerifier returns a Verifier for secret with DefaultTolerance and
// DefaultMaxSeen.
func NewVerifier(secret string) *Verifier {
	return &Verifier{secret: secret, tolerance: DefaultTolerance, maxSeen: DefaultMaxSeen, now: time.Now, seen: map[string]bool{}}
}

// WithClock makes v read the time from now (tests).
func (v *Verifier) WithClock(now func() time.Time) *Verifier { v.now = now; return v }

// WithTolerance sets how far a timestamp may be from now (and so how long
// v remembers a request).
func (v *Verifier) WithTolerance(d time.Duration) *Verifier { v.tolerance = d; return v }

// WithMaxSeen bounds how many requests v remembers.
func (v *Verifier) WithMaxSeen(n int) *Verifier { v.maxSeen = n; return v }

// Verify checks header and body like the package's Verify, then refuses a
// replay. It returns the event's id.
func (v *Verifier) Verify(header string, body []byte) (string, error) {
	now := v.now()
	ts, err := check(v.secret, header, body, now, v.tolerance)
	if err != nil {
		return "", err
	}
	var ev struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(body, &ev) != nil || ev.ID == "" {
		return "", ErrNoEventID
	}
	key := ev.ID + "@" + strconv.FormatInt(ts, 10)
	v.mu.Lock()
	defer v.mu.Unlock()
	for len(v.exp) > 0 && v.exp[0].at < now.Unix() {
		delete(v.seen, heap.Pop(&v.exp).(expiry).key)
	}
	if v.seen[key] {
		return "", ErrReplay
	}
	if len(v.seen) >= v.maxSeen {
		return "", ErrReplayCacheFull
	}
	v.seen[key] = true
	heap.Push(&v.exp, expiry{at: ts + int64(v.tolerance/time.Second) + 1, key: key})
	return ev.ID, nil
}

// VerifyRequest reads r's body (at most MaxPayloadBytes) and verifies it
// with its Roomhub-Signature header. It returns the body, to be decoded as
// the event.
func (v *Verifier) VerifyRequest(r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxPayloadBytes+1))
	if err != nil {
		return nil, fmt.Errorf("webhook: read body: %w", err)
	}
	if len(body) > MaxPayloadBytes {
		return nil, fmt.Errorf("webhook: body over %d bytes", MaxPayloadBytes)
	}
	if _, err := v.Verify(r.Header.Get(SignatureHeader), body); err != nil {
		return nil, err
	}
	return body, nil
}

// expiries is a min-heap of remembered requests by the time they go stale.
type expiry struct {
	at  int64 // unix seconds
	key string
}

type expiries []expiry

func (h expiries) Len() int           { return len(h) }
func (h expiries) Less(i, j int) bool { return h[i].at < h[j].at }
func (h expiries) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *expiries) Push(x any)        { *h = append(*h, x.(expiry)) }
func (h *expiries) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
