package video

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"roomhub/clock"
)

// Queue limits. Agora allows 10 calls per second per account to the
// Channel Management API. Roomhub makes at most DefaultRatePerAccount
// (AGORA_API_RATE): the account may serve other tools too, and calls
// spaced exactly a second apart can still arrive closer together. A rule call that fails for a temporary reason is
// retried QueueAttempts times in all, waiting QueueBackoff, then twice as
// long each time (or what a 429's Retry-After says).
const (
	DefaultRatePerAccount = 8
	MaxRatePerAccount     = 10
	RateWindow            = time.Second
	QueueAttempts         = 5
	QueueBackoff          = time.Second
	// DefaultQueueSize is how many removals may wait; past it a removal
	// fails at once (AGORA_QUEUE_SIZE).
	DefaultQueueSize = 1000
	// QueueWorkers call Agora concurrently, so that one slow answer does
	// not hold the others back.
	QueueWorkers = 4
)

// ErrQueueFull is the outcome of a removal that found the queue full.
var ErrQueueFull = errors.New("too many video removals are waiting; try again")

// Job is one kicking rule to create.
type Job struct {
	Org     int64
	Room    string
	Channel string
	AppID   string
	UID     uint32
	Rule    time.Duration
	Account Account
	Action  int64 // the store's record of it
}

// Queue calls Agora for its jobs in the background.
type Queue struct {
	client *Client
	clk    clock.Clock
	lim    *limiter
	jobs   chan Job
	done   func(Job, error)
	log    *slog.Logger
	wg     sync.WaitGroup
}

// NewQueue makes a queue of size jobs making at most rate calls per second
// per account (DefaultRatePerAccount when 0); done receives each job's outcome
// (nil, or the last error) on a worker goroutine.
func NewQueue(c *Client, clk clock.Clock, size, rate int, log *slog.Logger, done func(Job, error)) *Queue {
	if size <= 0 {
		size = DefaultQueueSize
	}
	if rate <= 0 {
		rate = DefaultRatePerAccount
	}
	rate = min(rate, MaxRatePerAccount)
	return &Queue{client: c, clk: clk, lim: newLimiter(clk, rate, RateWindow), jobs: make(chan Job, size), done: done, log: log}
}

// Add queues j without blocking; false when the queue is full.
func (q *Queue) Add(j Job) bool {
	select {
	case q.jobs <- j:
		return true
	default:
		return false
	}
}

// Run works until ctx ends; jobs still waiting then are dropped (their
// records stay pending).
func (q *Queue) Run(ctx context.Context) {
	for range QueueWorkers {
		q.wg.Add(1)
		go func() {
			defer q.wg.Done()
			for {
				select {
				case <-ctx.Done():
					return
				case j := <-q.jobs:
					q.done(j, q.do(ctx, j))
				}
			}
		}()
	}
	q.wg.Wait()
}

func (q *Queue) do(ctx context.Context, j Job) error {
	wait := QueueBackoff
	var err error
	for attempt := 1; ; attempt++ {
		if err := sleep(ctx, q.clk, q.lim.reserve(j.Account.CustomerID)); err != nil {
			return err
		}
		_, err = q.client.Ban(ctx, j.Account, j.AppID, j.Channel, j.UID, j.Rule)
		if err == nil {
			return nil
		}
		again, after := temporary(err)
		if !again || attempt == QueueAttempts {
			return err
		}
		q.log.Warn("agora kicking rule failed; retrying", "org", j.Org, "room", j.Room, "uid", j.UID, "attempt", attempt, "err", err)
		if after < wait {
			after = wait
		}
		if err := sleep(ctx, q.clk, after); err != nil {
			return err
		}
		wait *= 2
	}
}

// sleep waits d on clk, or until ctx ends.
func sleep(ctx context.Context, clk clock.Clock, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	ch := make(chan struct{})
	t := clk.AfterFunc(d, func() { close(ch) })
	defer t.Stop()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// limiter spaces calls so that no window holds more than per of them for
// one account: each call reserves a start time, at most per within any
// window, and waits for it.
type limiter struct {
	mu     sync.Mutex
	clk    clock.Clock
	per    int
	window time.Duration
	starts map[string][]time.Time // the last per reserved starts, oldest first; never decreasing
}

func newLimiter(clk clock.Clock, per int, window time.Duration) *limiter {
	return &limiter{clk: clk, per: per, window: window, starts: map[string][]time.Time{}}
}

// reserve returns how long the caller must wait before its call.
func (l *limiter) reserve(account string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.clk.Now()
	s := l.starts[account]
	at := now
	if len(s) == l.per {
		// The call per places back must be a whole window earlier.
		if next := s[0].Add(l.window); next.After(at) {
			at = next
		}
		s = s[1:]
	}
	l.starts[account] = append(s, at)
	return at.Sub(now)
}
