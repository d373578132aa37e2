// Package webhook delivers organizations' events to their webhook endpoints
// and holds what receivers need to trust them.
//
//   - Signing: every request carries the Standard Webhooks headers
//     (https://www.standardwebhooks.com): webhook-id, webhook-timestamp and
//     webhook-signature: v1,<base64 HMAC-SHA256 of id + "." + timestamp +
//     "." + body>, keyed by the base64-decoded part of the whsec_ secret,
//     so any Standard Webhooks library verifies them.
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

// Headers of a delivery: the three of Standard Webhooks, and two of
// Roomhub's own.
const (
	EventIDHeader   = "webhook-id"         // the envelope's id, the same in every retry
	TimestampHeader = "webhook-timestamp"  // unix seconds of this attempt
	SignatureHeader = "webhook-signature"  // v1,<base64 HMAC-SHA256>, space-separated if several
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
	ErrNoSignature     = errors.New("webhook: missing or malformed " + SignatureHeader + " or " + TimestampHeader + " header")
	ErrBadSignature    = errors.New("webhook: signature does not match the body and secret")
	ErrStale           = errors.New("webhook: signature timestamp outside the tolerance")
	ErrReplay          = errors.New("webhook: request already received (replay)")
	ErrNoEventID       = errors.New("webhook: missing " + EventIDHeader + " header")
	ErrReplayCacheFull = errors.New("webhook: too many recent requests to remember; retry later")
)

// NewSecret returns a new signing secret: SecretPrefix and 256 random bits
// in standard, padded base64, the form Standard Webhooks libraries decode.
func NewSecret() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails: crypto/rand crashes the program instead
	return SecretPrefix + base64.StdEncoding.EncodeToString(b)
}

// key is the HMAC key of secret: the bytes its base64 part encodes.
// Secrets made before Roomhub adopted Standard Webhooks are unpadded
// base64url and decode as such; anything else is used as it is.
func key(secret string) []byte {
	s := strings.TrimPrefix(secret, SecretPrefix)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil && len(b) > 0 {
			return b
		}
	}
	return []byte(secret)
}

// SecretAAD binds an endpoint's sealed secret to its row, as secret.AAD does
// for every sealed value ("webhook_endpoints.secret:<id>").
func SecretAAD(endpointID int64) string {
	return secret.AAD(roomhub.SealedSecret{Table: "webhook_endpoints", Column: "secret", ID: endpointID})
}

// mac is the base64 HMAC-SHA256 under secret of id.ts.body.
func mac(secret, id string, ts int64, body []byte) string {
	h := hmac.New(sha256.New, key(secret))
	h.Write([]byte(id))
	h.Write([]byte{'.'})
	h.Write([]byte(strconv.FormatInt(ts, 10)))
	h.Write([]byte{'.'})
	h.Write(body)
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// Sign returns the Standard Webhooks headers of body, sent as message id
// at t: webhook-id, webhook-timestamp and webhook-signature.
func Sign(secret, id string, body []byte, t time.Time) http.Header {
	ts := t.Unix()
	h := http.Header{}
	h.Set(EventIDHeader, id)
	h.Set(TimestampHeader, strconv.FormatInt(ts, 10))
	h.Set(SignatureHeader, "v1,"+mac(secret, id, ts, body))
	return h
}

// check verifies h's signature of body at now and returns its id and
// timestamp. Signatures of versions other than v1 are skipped, so a later
// scheme can be sent beside v1.
func check(secret string, h http.Header, body []byte, now time.Time, tolerance time.Duration) (string, int64, error) {
	id := h.Get(EventIDHeader)
	if id == "" {
		return "", 0, ErrNoEventID
	}
	ts, err := strconv.ParseInt(h.Get(TimestampHeader), 10, 64)
	sigs := strings.Fields(h.Get(SignatureHeader))
	if err != nil || len(sigs) == 0 {
		return "", 0, ErrNoSignature
	}
	if d := now.Sub(time.Unix(ts, 0)); d > tolerance || d < -tolerance {
		return "", 0, ErrStale
	}
	want := []byte(mac(secret, id, ts, body))
	for _, s := range sigs {
		if v, sig, ok := strings.Cut(s, ","); ok && v == "v1" && hmac.Equal([]byte(sig), want) {
			return id, ts, nil
		}
	}
	return "", 0, ErrBadSignature
}

// Verify checks that h's webhook-signature signs its webhook-id,
// webhook-timestamp and body under secret, and that the timestamp is
// within DefaultTolerance of now. It does not remember requests, so it
// cannot refuse a replay within the tolerance: use a Verifier for that.
func Verify(secret string, h http.Header, body []byte, now time.Time) error {
	_, _, err := check(secret, h, body, now, DefaultTolerance)
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

// Verify checks h and body like the package's Verify, then refuses a
// replay. It returns the message id (the event's id).
func (v *Verifier) Verify(h http.Header, body []byte) (string, error) {
	now := v.now()
	id, ts, err := check(v.secret, h, body, now, v.tolerance)
	if err != nil {
		return "", err
	}
	key := id + "@" + strconv.FormatInt(ts, 10)
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
	return id, nil
}

// VerifyRequest reads r's body (at most MaxPayloadBytes) and verifies it
// with its headers. It returns the body, to be decoded as the event.
func (v *Verifier) VerifyRequest(r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxPayloadBytes+1))
	if err != nil {
		return nil, fmt.Errorf("webhook: read body: %w", err)
	}
	if len(body) > MaxPayloadBytes {
		return nil, fmt.Errorf("webhook: body over %d bytes", MaxPayloadBytes)
	}
	if _, err := v.Verify(r.Header, body); err != nil {
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
