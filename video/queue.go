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
// (AGORA_API_RATE): the account may serve other tools too. A rule call that fails for a temporary reason is
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
		if err := q.lim.acquire(ctx, j.Account.CustomerID); err != nil {
			return err
		}
		_, err = q.client.Ban(ctx, j.Account, j.AppID, j.Channel, j.UID, j.Rule)
		q.lim.release(j.Account.CustomerID)
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

// limiter keeps an account's calls within per in any window as Agora
// counts them, on arrival. A call's arrival is unknown here, but it lies
// between its start and its completion; so a call may start only while
// fewer than per calls are in flight or completed within the last window.
// Any call arriving within a window of Agora's before this one's arrival
// completed after this one's start minus the window, and so was counted,
// however long either took on the way.
type limiter struct {
	mu       sync.Mutex
	clk      clock.Clock
	per      int
	window   time.Duration
	inflight map[string]int
	done     map[string][]time.Time // completions, oldest first
	changed  chan struct{}          // closed and replaced at every completion
}

func newLimiter(clk clock.Clock, per int, window time.Duration) *limiter {
	return &limiter{clk: clk, per: per, window: window, inflight: map[string]int{}, done: map[string][]time.Time{}, changed: make(chan struct{})}
}

// acquire waits until account may start a call; release must follow.
func (l *limiter) acquire(ctx context.Context, account string) error {
	for {
		l.mu.Lock()
		now := l.clk.Now()
		d := l.done[account]
		for len(d) > 0 && !d[0].Add(l.window).After(now) {
			d = d[1:]
		}
		l.done[account] = d
		if l.inflight[account]+len(d) < l.per {
			l.inflight[account]++
			l.mu.Unlock()
			return nil
		}
		changed := l.changed
		var wait time.Duration = -1
		if len(d) > 0 {
			wait = d[0].Add(l.window).Sub(now)
		}
		l.mu.Unlock()
		var timer <-chan struct{}
		if wait >= 0 {
			ch := make(chan struct{})
			t := l.clk.AfterFunc(wait, func() { close(ch) })
			defer t.Stop()
			timer = ch
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
		case <-timer:
		}
	}
}

// release records that account's call completed now.
func (l *limiter) release(account string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.inflight[account]--
	l.done[account] = append(l.done[account], l.clk.Now())
	close(l.changed)
	l.changed = make(chan struct{})
}
