package webhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"roomhub"
	"roomhub/secret"
)

// Delivery schedule and limits.
const (
	// RequestTimeout bounds one attempt: connecting, sending, and reading
	// the answer.
	RequestTimeout = 10 * time.Second
	// MaxResponseBytes is how much of an endpoint's answer is read; the
	// start of it is kept in the delivery log when the attempt failed.
	MaxResponseBytes = 4 << 10
	// MaxAttempts is the number of attempts before a delivery is marked
	// failed: the first and MaxAttempts-1 retries.
	MaxAttempts = 8
	// BaseBackoff is the wait after the first failed attempt; each further
	// failure multiplies it by BackoffFactor, up to MaxBackoff, and each wait
	// is varied by up to ±BackoffJitter so that many failing deliveries do
	// not retry in step. The waits: 30s, 2m, 8m, 32m, 2h8m, 4h, 4h (about
	// 10h40m from the first attempt to the last).
	BaseBackoff   = 30 * time.Second
	BackoffFactor = 4
	MaxBackoff    = 4 * time.Hour
	BackoffJitter = 0.2
	// Lease is how long a claimed delivery is kept from other workers. It
	// exceeds RequestTimeout by far, so a delivery is only claimed again
	// when its worker died mid-attempt.
	Lease = 2 * time.Minute
	// PollInterval is how often an idle worker looks for due deliveries.
	PollInterval = time.Second
	// BatchSize is how many deliveries one worker sends at once.
	BatchSize = 8
	// Retention is how long delivered and failed deliveries stay in the
	// log; PruneInterval how often older ones are deleted.
	Retention     = 30 * 24 * time.Hour
	PruneInterval = time.Hour
	// UserAgent identifies deliveries.
	UserAgent = "Roomhub-Webhooks/1"
)

// Backoff returns the wait after the attempts-th failed attempt; jitter in
// [0, 1) varies it by ±BackoffJitter (0.5 varies it by nothing).
func Backoff(attempts int, jitter float64) time.Duration {
	d := float64(BaseBackoff) * math.Pow(BackoffFactor, float64(max(attempts, 1)-1))
	d = min(d, float64(MaxBackoff))
	return time.Duration(d * (1 + BackoffJitter*(2*jitter-1))).Round(time.Millisecond)
}

// Queue is the part of the store a Worker uses (roomhub.Webhooks has it).
type Queue interface {
	ClaimWebhookDeliveries(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]roomhub.WebhookClaim, error)
	RecordWebhookAttempt(ctx context.Context, a roomhub.WebhookAttempt) (bool, error)
	PruneWebhookDeliveries(ctx context.Context, before time.Time) (int, error)
}

// Worker sends due deliveries. Every node may run one over the shared
// store: a delivery is claimed by one worker at a time (Lease), so each
// attempt is made once across the cluster. If a worker dies between sending
// and recording, the lease runs out and the attempt is made again:
// receivers should treat the event id as an idempotency key.
type Worker struct {
	queue  Queue
	box    *secret.Box
	client *http.Client
	log    *slog.Logger

	// Now is the clock (tests inject one); Jitter returns [0, 1) for
	// Backoff; Poll and Batch default to PollInterval and BatchSize. Set
	// them before Start.
	Now    func() time.Time
	Jitter func() float64
	Poll   time.Duration
	Batch  int

	// Stats count attempts by outcome, for metrics.
	Stats Stats

	cancel context.CancelFunc // stops polling
	hard   context.CancelFunc // aborts attempts in flight
	done   chan struct{}
	send   context.Context // attempts run under it
	mu     sync.Mutex
	pruned time.Time
}

// Stats are a worker's attempt counters, read with atomic loads.
type Stats struct {
	Delivered atomic.Int64 // attempts answered 2xx
	Retried   atomic.Int64 // failed attempts to be tried again
	Failed    atomic.Int64 // failed attempts that were the last
}

// NewWorker returns a worker delivering q's deliveries through a client
// that policy restricts, opening signing secrets with box.
func NewWorker(q Queue, box *secret.Box, policy Policy, log *slog.Logger) *Worker {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Worker{queue: q, box: box, client: policy.Client(RequestTimeout), log: log,
		Now: time.Now, Jitter: rand.Float64, Poll: PollInterval, Batch: BatchSize}
}

// Start runs the worker in the background until ctx ends or Stop.
func (w *Worker) Start(ctx context.Context) {
	run, cancel := context.WithCancel(ctx)
	send, hard := context.WithCancel(context.WithoutCancel(ctx))
	w.cancel, w.hard, w.send, w.done = cancel, hard, send, make(chan struct{})
	go func() {
		defer close(w.done)
		w.loop(run)
	}()
}

// Stop stops polling and waits for the attempts in flight, until ctx ends;
// then it aborts them (they are made again once their lease runs out).
func (w *Worker) Stop(ctx context.Context) error {
	if w.done == nil {
		return nil
	}
	w.cancel()
	select {
	case <-w.done:
		w.hard()
		return nil
	case <-ctx.Done():
		w.hard()
		<-w.done
		return ctx.Err()
	}
}

func (w *Worker) loop(ctx context.Context) {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n, err := w.RunOnce(ctx)
		if err != nil && ctx.Err() == nil {
			w.log.Error("webhook deliveries: claim failed", "err", err)
		}
		w.prune(ctx)
		if n >= w.batch() {
			t.Reset(0) // more may be due
		} else {
			t.Reset(w.Poll)
		}
	}
}

func (w *Worker) batch() int {
	if w.Batch <= 0 {
		return BatchSize
	}
	return w.Batch
}

// prune deletes old finished deliveries, once per PruneInterval.
func (w *Worker) prune(ctx context.Context) {
	now := w.Now()
	w.mu.Lock()
	due := now.Sub(w.pruned) >= PruneInterval
	if due {
		w.pruned = now
	}
	w.mu.Unlock()
	if !due {
		return
	}
	if n, err := w.queue.PruneWebhookDeliveries(ctx, now.Add(-Retention)); err != nil && ctx.Err() == nil {
		w.log.Error("webhook deliveries: prune failed", "err", err)
	} else if n > 0 {
		w.log.Info("webhook deliveries pruned", "count", n)
	}
}

// RunOnce claims the deliveries due now (at most Batch), sends them
// concurrently and records each outcome. It returns how many it claimed.
func (w *Worker) RunOnce(ctx context.Context) (int, error) {
	claims, err := w.queue.ClaimWebhookDeliveries(ctx, w.Now(), Lease, w.batch())
	if err != nil {
		return 0, err
	}
	send := w.send
	if send == nil {
		send = ctx
	}
	var wg sync.WaitGroup
	for _, c := range claims {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.deliver(send, c)
		}()
	}
	wg.Wait()
	return len(claims), nil
}

// deliver makes one attempt at c and records it.
func (w *Worker) deliver(ctx context.Context, c roomhub.WebhookClaim) {
	attempt := c.Attempts + 1
	start := time.Now()
	code, msg := w.post(ctx, c, attempt)
	if ctx.Err() != nil {
		return // shutting down: the lease runs out and another attempt is made
	}
	a := roomhub.WebhookAttempt{OrgID: c.OrgID, ID: c.ID, Token: c.Token, At: w.Now(), Status: code, Error: msg,
		Duration: time.Since(start), Delivered: msg == ""}
	if !a.Delivered && attempt < MaxAttempts {
		a.RetryAt = a.At.Add(Backoff(attempt, w.Jitter()))
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), RequestTimeout)
	defer cancel()
	ok, err := w.queue.RecordWebhookAttempt(rctx, a)
	switch {
	case a.Delivered:
		w.Stats.Delivered.Add(1)
	case !a.RetryAt.IsZero():
		w.Stats.Retried.Add(1)
	default:
		w.Stats.Failed.Add(1)
	}
	switch {
	case err != nil:
		w.log.Error("webhook delivery: recording the attempt failed", "delivery", c.ID, "org", c.OrgID, "err", err)
	case !ok:
		w.log.Warn("webhook delivery: lease lost before the attempt was recorded", "delivery", c.ID, "org", c.OrgID)
	case !a.Delivered && a.RetryAt.IsZero():
		w.log.Warn("webhook delivery failed for good", "delivery", c.ID, "org", c.OrgID, "endpoint", c.EndpointID,
			"attempts", attempt, "status", code, "err", msg)
	}
}

// post sends c and returns the HTTP status (0 if none) and, for a failure,
// what went wrong, in words for the delivery log.
func (w *Worker) post(ctx context.Context, c roomhub.WebhookClaim, attempt int) (int, string) {
	key, err := w.box.Open(c.Secret, SecretAAD(c.EndpointID))
	if err != nil {
		w.log.Error("webhook delivery: signing secret does not open; was APP_MASTER_KEY changed without rotating?", "endpoint", c.EndpointID, "org", c.OrgID)
		return 0, "the signing secret could not be read (server configuration)"
	}
	ctx, cancel := context.WithTimeout(ctx, RequestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.URL, bytes.NewReader(c.Payload))
	if err != nil {
		return 0, "invalid URL"
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", UserAgent)
	for k, v := range Sign(key, c.EventID, c.Payload, w.Now()) {
		req.Header[k] = v
	}
	req.Header.Set(EventTypeHeader, c.Type)
	req.Header.Set(AttemptHeader, strconv.Itoa(attempt))
	res, err := w.client.Do(req)
	if err != nil {
		return 0, describe(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, MaxResponseBytes))
	if res.StatusCode >= 200 && res.StatusCode < 300 {
		return res.StatusCode, ""
	}
	msg := "HTTP " + strconv.Itoa(res.StatusCode)
	if res.StatusCode >= 300 && res.StatusCode < 400 {
		msg += " (redirects are not followed; use the final URL)"
	}
	if snippet := printable(body, 200); snippet != "" {
		msg += ": " + snippet
	}
	return res.StatusCode, msg
}

// describe says why a request got no answer, without the noise of
// url.Error's "Post \"...\":" prefix.
func describe(err error) string {
	switch {
	case errors.Is(err, ErrRefusedAddress):
		for e := err; e != nil; e = errors.Unwrap(e) {
			if errors.Unwrap(e) == ErrRefusedAddress {
				return "refused: " + strings.TrimPrefix(e.Error(), ErrRefusedAddress.Error()+": ")
			}
		}
		return "refused: " + ErrRefusedAddress.Error()
	case errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "Client.Timeout"):
		return fmt.Sprintf("no answer within %s", RequestTimeout)
	}
	s := err.Error()
	if i := strings.LastIndex(s, "\": "); i >= 0 && strings.HasPrefix(s, "Post ") {
		s = s[i+3:]
	}
	return s
}

// printable returns up to n characters of b as one line of text.
func printable(b []byte, n int) string {
	if !utf8.Valid(b) {
		return ""
	}
	s := strings.Join(strings.Fields(string(b)), " ")
	if utf8.RuneCountInString(s) > n {
		s = string([]rune(s)[:n]) + "…"
	}
	return s
}
