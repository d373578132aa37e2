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
	"errors"
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

// RecordTimeout bounds one transaction's database work.
const RecordTimeout = 10 * time.Second

// MaxBatch bounds the changes recorded in one transaction. Under a burst
// the queue holds many; one transaction for several costs one commit
// instead of each paying its own.
const MaxBatch = 64

type change struct {
	key    hub.Key
	uid    uint32
	name   string // joins
	reason string // leaves; "" for a join
	at     time.Time
}

func (c change) kind() string {
	if c.reason == "" {
		return "join"
	}
	return "leave"
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
	// Batches counts transactions that recorded more than one change.
	Batches atomic.Int64
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
	batch := make([]change, 0, MaxBatch)
	for c := range r.q {
		batch = append(batch[:0], c)
	drain:
		for len(batch) < MaxBatch {
			select {
			case c, ok := <-r.q:
				if !ok {
					break drain
				}
				batch = append(batch, c)
			default:
				break drain
			}
		}
		r.record(batch)
	}
}

// record writes a batch in one transaction; if that fails, each change on
// its own, so one bad change does not cost the others. Then it announces
// every change on its organization's feed.
func (r *Recorder) record(batch []change) {
	ctx, cancel := context.WithTimeout(context.Background(), RecordTimeout)
	defer cancel()
	err := errSingle
	if len(batch) > 1 {
		cs := make([]roomhub.Change, len(batch))
		for i, c := range batch {
			cs[i] = roomhub.Change{OrgID: c.key.Org, Room: c.key.Room, UID: c.uid, Name: c.name, Reason: c.reason, At: c.at}
		}
		err = r.hist.RecordChanges(ctx, cs)
		r.Batches.Add(1)
	}
	if err != nil {
		for _, c := range batch {
			r.recordOne(ctx, c)
		}
	}
	for _, c := range batch {
		// The feed names the room that changed; dashboards re-read it.
		body := []byte(`"change":"` + c.kind() + `","uid":` + strconv.FormatUint(uint64(c.uid), 10) + `,"target":`)
		body = strconv.AppendQuote(body, c.key.Room)
		if _, err := r.bus.Publish(ctx, hub.FeedKey(c.key.Org), hub.Message{Type: hub.TypeActivity, UID: c.uid, Body: body}); err != nil {
			r.log.Error("activity not announced", "org", c.key.Org, "room", c.key.Room, "err", err)
		}
	}
}

// errSingle sends a batch of one down the single-change path.
var errSingle = errors.New("activity: a batch of one")

func (r *Recorder) recordOne(ctx context.Context, c change) {
	var err error
	if c.reason == "" {
		_, _, err = r.hist.RecordJoin(ctx, c.key.Org, c.key.Room, c.uid, c.name, c.at)
	} else {
		_, _, err = r.hist.RecordLeave(ctx, c.key.Org, c.key.Room, c.uid, c.reason, c.at)
	}
	if err != nil {
		r.Failures.Add(1)
		r.log.Error("room history not recorded", "org", c.key.Org, "room", c.key.Room, "uid", c.uid, "change", c.kind(), "err", err)
	}
}
