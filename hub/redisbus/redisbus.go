// Package redisbus is the hub's Bus on Redis, for several nodes: presence in
// hashes per room, one pub/sub channel per room, node liveness in a sorted
// set, and a reaper any node may run.
package redisbus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"roomhub"
	"roomhub/hub"
)

// Node liveness defaults: each node refreshes its heartbeat every
// HeartbeatInterval; one silent for NodeTTL is dead and its sockets gone.
const (
	HeartbeatInterval = 5 * time.Second
	NodeTTL           = 15 * time.Second
	// subscribeTimeout bounds the wait for Redis to confirm a subscription.
	subscribeTimeout = 5 * time.Second
	// joinRetries bounds optimistic retries of a join that raced another.
	joinRetries = 8
	// EmptyRoomTTL is how long an empty room's sequence number is kept
	// (see scripts.go): far longer than a closing socket takes to go.
	EmptyRoomTTL = 10 * time.Minute
)

// Bus implements hub.Bus on Redis.
type Bus struct {
	rdb    *redis.Client
	prefix string
	node   string
	ttl    time.Duration
	empty  time.Duration // EmptyRoomTTL
	log    *slog.Logger

	mu       sync.Mutex
	ps       *redis.PubSub
	handlers map[string]map[int]func(hub.Event) // channel -> handlers
	waiting  map[string][]chan struct{}         // channel -> waiters for confirmation
	nextID   int
	lost     bool // the subscription connection failed; resync on recovery
	// OnResubscribe is called after the pub/sub connection came back: events
	// may have been lost meanwhile, so subscribers resynchronise.
	onResubscribe func()
	done          chan struct{}

	errors     atomic.Int64 // Redis commands that failed
	reconnects atomic.Int64 // pub/sub connection recoveries
}

// Stats reports failed Redis commands and pub/sub recoveries, for metrics.
func (b *Bus) Stats() (errors, reconnects int64) { return b.errors.Load(), b.reconnects.Load() }

var _ hub.Bus = (*Bus)(nil)

// New returns a bus on rdb for node. prefix namespaces every key, so
// several deployments (or tests) can share one Redis.
func New(rdb *redis.Client, prefix, node string, log *slog.Logger) *Bus {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	b := &Bus{rdb: rdb, prefix: prefix, node: node, ttl: NodeTTL, empty: EmptyRoomTTL, log: log,
		handlers: map[string]map[int]func(hub.Event){}, waiting: map[string][]chan struct{}{}, done: make(chan struct{})}
	b.ps = rdb.Subscribe(context.Background())
	go b.receive()
	return b
}

// SetNodeTTL sets how long a node may stay silent before it counts as dead.
func (b *Bus) SetNodeTTL(d time.Duration) { b.ttl = d }

// SetEmptyRoomTTL sets how long an empty room's sequence number is kept
// before it expires; 0 keeps it for good.
func (b *Bus) SetEmptyRoomTTL(d time.Duration) { b.empty = d }

// emptyTTL is the last argument of every script.
func (b *Bus) emptyTTL() int64 { return b.empty.Milliseconds() }

// OnResubscribe registers f to run after the pub/sub connection recovers.
func (b *Bus) OnResubscribe(f func()) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.onResubscribe = f
}

// Close stops the subscription.
func (b *Bus) Close() error {
	err := b.ps.Close()
	<-b.done
	return err
}

func (b *Bus) key(kind string, k hub.Key) string {
	return b.prefix + kind + ":{" + strconv.FormatInt(k.Org, 10) + ":" + k.Room + "}"
}

func (b *Bus) chanOf(k hub.Key) string { return b.key("ev", k) }

func (b *Bus) roomKeys(k hub.Key) []string {
	return []string{b.key("m", k), b.key("st", k), b.key("seq", k),
		b.prefix + "orgrooms:" + strconv.FormatInt(k.Org, 10), b.prefix + "rooms", b.key("c", k)}
}

func roomID(k hub.Key) string { return strconv.FormatInt(k.Org, 10) + ":" + k.Room }

func meta(msg hub.Message) string {
	return msg.Type + "\n" + strconv.FormatUint(uint64(msg.UID), 10) + "\n" + msg.Reason
}

// unavailable maps a Redis failure to EUNAVAILABLE and counts it.
func (b *Bus) unavailable(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	b.errors.Add(1)
	return roomhub.Unavailable("the event bus", err)
}

func (b *Bus) Publish(ctx context.Context, k hub.Key, msg hub.Message) (hub.Event, error) {
	head, tail := hub.RenderParts(k.Room, msg.Type, msg.Body)
	seq, err := publishScript.Run(ctx, b.rdb, b.roomKeys(k), b.chanOf(k), meta(msg), head, tail, b.emptyTTL()).Int64()
	if err != nil {
		return hub.Event{}, b.unavailable(err)
	}
	return event(k, uint64(seq), msg, head, tail), nil
}

func event(k hub.Key, seq uint64, msg hub.Message, head, tail []byte) hub.Event {
	f := make([]byte, 0, len(head)+20+len(tail))
	f = append(strconv.AppendUint(append(f, head...), seq, 10), tail...)
	return hub.Event{Room: k, Seq: seq, Type: msg.Type, UID: msg.UID, Reason: msg.Reason, Frame: f}
}

func (b *Bus) Join(ctx context.Context, k hub.Key, m hub.Member, lim hub.Limits) (hub.Event, bool, error) {
	keys := b.roomKeys(k)
	for try := 0; try < joinRetries; try++ {
		cur, err := b.rdb.HGet(ctx, keys[0], uidStr(m.UID)).Result()
		if err != nil && err != redis.Nil {
			return hub.Event{}, false, b.unavailable(err)
		}
		want := m
		if cur != "" {
			var old hub.Member
			if json.Unmarshal([]byte(cur), &old) == nil {
				if old.Name == m.Name {
					return hub.Event{}, false, nil
				}
				want.JoinedAt = old.JoinedAt
			}
		}
		js, _ := json.Marshal(want)
		msg := hub.JoinMessage(want)
		head, tail := hub.RenderParts(k.Room, msg.Type, msg.Body)
		seq, err := joinScript.Run(ctx, b.rdb, keys, uidStr(m.UID), cur, js, lim.MaxMembers, lim.MaxRooms,
			k.Room, roomID(k), m.JoinedAt, b.chanOf(k), meta(msg), head, tail, b.emptyTTL()).Int64()
		switch {
		case err != nil:
			return hub.Event{}, false, b.unavailable(err)
		case seq == -1:
			continue
		case seq == -2:
			return hub.Event{}, false, hub.ErrRoomFull(lim.MaxMembers)
		case seq == -3:
			return hub.Event{}, false, hub.ErrTooManyRooms(lim.MaxRooms)
		}
		return event(k, uint64(seq), msg, head, tail), true, nil
	}
	return hub.Event{}, false, roomhub.Unavailable("the event bus", errors.New("join kept racing"))
}

func (b *Bus) Leave(ctx context.Context, k hub.Key, uid uint32, reason string) (hub.Event, bool, error) {
	msg := hub.LeaveMessage(uid, reason)
	head, tail := hub.RenderParts(k.Room, msg.Type, msg.Body)
	seq, err := leaveScript.Run(ctx, b.rdb, b.roomKeys(k), uidStr(uid), k.Room, roomID(k), b.chanOf(k), meta(msg), head, tail, b.emptyTTL()).Int64()
	if err != nil {
		return hub.Event{}, false, b.unavailable(err)
	}
	if seq == 0 {
		return hub.Event{}, false, nil
	}
	return event(k, uint64(seq), msg, head, tail), true, nil
}

func (b *Bus) Attach(ctx context.Context, k hub.Key, uid uint32) error {
	ok, err := attachScript.Run(ctx, b.rdb, b.roomKeys(k), uidStr(uid), b.node, b.emptyTTL()).Int64()
	if err != nil {
		return b.unavailable(err)
	}
	if ok == 0 {
		return hub.ErrNotMember
	}
	return nil
}

func (b *Bus) Detach(ctx context.Context, k hub.Key, uid uint32, at time.Time) error {
	_, err := detachScript.Run(ctx, b.rdb, b.roomKeys(k), uidStr(uid), b.node, at.UnixMilli(), b.emptyTTL()).Int64()
	return b.unavailable(err)
}

func (b *Bus) Get(ctx context.Context, k hub.Key, uid uint32) (hub.Member, error) {
	v, err := b.rdb.HGet(ctx, b.key("m", k), uidStr(uid)).Result()
	if err == redis.Nil {
		return hub.Member{}, hub.ErrNotMember
	}
	if err != nil {
		return hub.Member{}, b.unavailable(err)
	}
	var m hub.Member
	if err := json.Unmarshal([]byte(v), &m); err != nil {
		return hub.Member{}, fmt.Errorf("redisbus: member %s: %w", v, err)
	}
	return m, nil
}

func (b *Bus) Snapshot(ctx context.Context, k hub.Key) (hub.Snapshot, error) {
	res, err := snapshotScript.Run(ctx, b.rdb, b.roomKeys(k)).StringSlice()
	if err != nil {
		return hub.Snapshot{}, b.unavailable(err)
	}
	seq, _ := strconv.ParseUint(res[0], 10, 64)
	s := hub.Snapshot{Seq: seq, Members: make([]hub.Member, 0, len(res)-1)}
	for _, v := range res[1:] {
		var m hub.Member
		if json.Unmarshal([]byte(v), &m) == nil {
			s.Members = append(s.Members, m)
		}
	}
	hub.SortMembers(s.Members)
	return s, nil
}

// Heartbeat marks this node alive as of now.
func (b *Bus) Heartbeat(ctx context.Context, now time.Time) error {
	return b.unavailable(b.rdb.ZAdd(ctx, b.prefix+"nodes", redis.Z{Score: float64(now.UnixMilli()), Member: b.node}).Err())
}

func (b *Bus) Reap(ctx context.Context, now time.Time, grace time.Duration) ([]hub.Reaped, error) {
	rooms, err := b.rdb.SMembers(ctx, b.prefix+"rooms").Result()
	if err != nil {
		return nil, b.unavailable(err)
	}
	var out []hub.Reaped
	for _, id := range rooms {
		i := strings.IndexByte(id, ':')
		if i < 0 {
			continue
		}
		org, err := strconv.ParseInt(id[:i], 10, 64)
		if err != nil {
			continue
		}
		k := hub.Key{Org: org, Room: id[i+1:]}
		head, _ := hub.RenderParts(k.Room, hub.TypeLeave, nil)
		keys := append(b.roomKeys(k), b.prefix+"nodes")
		res, err := reapScript.Run(ctx, b.rdb, keys, now.UnixMilli(), grace.Milliseconds(), b.ttl.Milliseconds(),
			k.Room, id, b.chanOf(k), head, b.emptyTTL()).StringSlice()
		if err != nil {
			return out, b.unavailable(err)
		}
		for j := 0; j+1 < len(res); j += 2 {
			uid, _ := strconv.ParseUint(res[j], 10, 32)
			out = append(out, hub.Reaped{Room: k, UID: uint32(uid), Reason: res[j+1]})
		}
	}
	return out, nil
}

func uidStr(uid uint32) string { return strconv.FormatUint(uint64(uid), 10) }
