// Package activity turns the hub's membership changes into room history,
// webhook events and each organization's live feed.
//
// The hub calls a Recorder once per change across the cluster (see
// hub.Lifecycle); the Recorder queues the change and one goroutine records
// it, in order, then announces it on the organization's feed, which every
// node's dashboard streams subscribe to.
package activity

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"roomhub"
	"roomhub/hub"
)

// QueueSize bounds the changes waiting to be recorded. When it is full the
// hub's join and leave paths wait: history is never dropped silently.
const QueueSize = 4096

// RecordTimeout bounds one change's database work.
const RecordTimeout = 10 * time.Second

type change struct {
	key    hub.Key
	uid    uint32
	name   string // joins
	reason string // leaves; "" for a join
	at     time.Time
}

// Recorder implements hub.Lifecycle.
type Recorder struct {
	hist roomhub.History
	bus  hub.Broker
	log  *slog.Logger
	now  func() time.Time
	q    chan change
	done chan struct{}

	mu     sync.RWMutex // held to send on q, taken to close it
	closed bool

	// Failures counts changes the database refused; they are logged and
	// still announced on the feed.
	Failures atomic.Int64
}

var _ hub.Lifecycle = (*Recorder)(nil)

// New starts a Recorder; Close stops it.
func New(hist roomhub.History, bus hub.Broker, log *slog.Logger) *Recorder {
	r := &Recorder{hist: hist, bus: bus, log: log, now: time.Now, q: make(chan change, QueueSize), done: make(chan struct{})}
	go r.run()
	return r
}

// RecordFailures reports how many changes the database refused.
func (r *Recorder) RecordFailures() int64 { return r.Failures.Load() }

// Joined implements hub.Lifecycle.
func (r *Recorder) Joined(k hub.Key, m hub.Member) {
	r.send(change{key: k, uid: m.UID, name: m.Name, at: time.UnixMilli(m.JoinedAt)})
}

// Left implements hub.Lifecycle.
func (r *Recorder) Left(k hub.Key, uid uint32, reason string, at time.Time) {
	r.send(change{key: k, uid: uid, reason: reason, at: at})
}

func (r *Recorder) send(c change) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.closed {
		r.log.Warn("change after shutdown not recorded", "org", c.key.Org, "room", c.key.Room, "uid", c.uid)
		return
	}
	r.q <- c
}

// Close records what is queued, then stops; changes reported after Close
// are logged and dropped.
func (r *Recorder) Close(ctx context.Context) error {
	r.mu.Lock()
	if !r.closed {
		r.closed = true
		close(r.q)
	}
	r.mu.Unlock()
	select {
	case <-r.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (r *Recorder) run() {
	defer close(r.done)
	for c := range r.q {
		r.record(c)
	}
}

func (r *Recorder) record(c change) {
	ctx, cancel := context.WithTimeout(context.Background(), RecordTimeout)
	defer cancel()
	var err error
	kind := "join"
	if c.reason == "" {
		_, _, err = r.hist.RecordJoin(ctx, c.key.Org, c.key.Room, c.uid, c.name, c.at)
	} else {
		kind = "leave"
		_, _, err = r.hist.RecordLeave(ctx, c.key.Org, c.key.Room, c.uid, c.reason, c.at)
	}
	if err != nil {
		r.Failures.Add(1)
		r.log.Error("room history not recorded", "org", c.key.Org, "room", c.key.Room, "uid", c.uid, "change", kind, "err", err)
	}
	// The feed names the room that changed; dashboards re-read it.
	body := []byte(`"change":"` + kind + `","uid":` + strconv.FormatUint(uint64(c.uid), 10) + `,"target":`)
	body = strconv.AppendQuote(body, c.key.Room)
	if _, err := r.bus.Publish(ctx, hub.FeedKey(c.key.Org), hub.Message{Type: hub.TypeActivity, UID: c.uid, Body: body}); err != nil {
		r.log.Error("activity not announced", "org", c.key.Org, "room", c.key.Room, "err", err)
	}
}
