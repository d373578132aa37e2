// Package ratelimit holds the rate-limit counter a single node keeps in
// memory (without REDIS_URL). It counts like httprate's own sliding-window
// counter, but gives memory back: a burst of distinct client addresses
// grows its maps for two windows at most, and once the addresses stop
// coming the maps are dropped, so many distinct addresses never hold memory
// for good (httprate's counter clears its maps but keeps their size).
package ratelimit

import (
	"sync"
	"time"

	"github.com/go-chi/httprate"
	"github.com/zeebo/xxh3"

	"roomhub/clock"
)

// Local is an httprate.LimitCounter in memory for one node.
type Local struct {
	clk clock.Clock

	mu     sync.Mutex
	window time.Duration
	start  time.Time      // the current window's start, as httprate gives it
	cur    map[uint64]int // counts in the current window
	prev   map[uint64]int // counts in the window before it
	sweep  clock.Timer    // armed while any count is held
}

var _ httprate.LimitCounter = (*Local)(nil)

// NewLocal returns an empty counter for windows of length window.
func NewLocal(window time.Duration, clk clock.Clock) *Local {
	return &Local{clk: clk, window: window}
}

// Config is called by httprate with the limit's own settings.
func (l *Local) Config(_ int, window time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.window = window
}

// Increment counts one request of key in currentWindow.
func (l *Local) Increment(key string, currentWindow time.Time) error {
	return l.IncrementBy(key, currentWindow, 1)
}

// IncrementBy counts amount requests of key in currentWindow.
func (l *Local) IncrementBy(key string, currentWindow time.Time, amount int) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.roll(currentWindow)
	if l.cur == nil {
		l.cur = make(map[uint64]int)
	}
	l.cur[xxh3.HashString(key)] += amount
	if l.sweep == nil {
		l.sweep = l.clk.AfterFunc(l.window, l.expire)
	}
	return nil
}

// Get returns key's counts in currentWindow and the window before it.
func (l *Local) Get(key string, currentWindow, previousWindow time.Time) (int, int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	h := xxh3.HashString(key)
	switch {
	case l.start.Equal(currentWindow):
		return l.cur[h], l.prev[h], nil
	case l.start.Equal(previousWindow):
		return 0, l.cur[h], nil
	}
	return 0, 0, nil
}

// roll moves to window w; l.mu held. A new map is made for each window
// rather than the old one cleared, so a burst's map is freed with it.
func (l *Local) roll(w time.Time) {
	switch {
	case l.start.Equal(w):
		return
	case l.start.Add(l.window).Equal(w):
		l.prev, l.cur = l.cur, nil
	default:
		l.prev, l.cur = nil, nil
	}
	l.start = w
}

// expire runs while counts are held, once a window: it drops the counts of
// windows that have passed with no request to roll them.
func (l *Local) expire() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.window <= 0 {
		return
	}
	now := l.clk.Now()
	if passed := now.Sub(l.start); passed >= l.window {
		l.roll(l.start.Add(passed.Truncate(l.window)))
	}
	if len(l.cur) == 0 && len(l.prev) == 0 {
		l.sweep = nil
		return
	}
	l.sweep = l.clk.AfterFunc(l.window, l.expire)
}

// Len reports how many keys the counter holds, in both windows.
func (l *Local) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.cur) + len(l.prev)
}
