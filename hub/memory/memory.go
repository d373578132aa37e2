// Package memory is the in-process Bus: presence and fan-out for a single
// node, the embedded default.
package memory

import (
	"context"
	"sync"
	"time"

	"roomhub/hub"
)

// Bus implements hub.Broker and hub.Presence in memory. One mutex guards
// everything: membership changes are rare next to deliveries, and delivery
// under the lock is what keeps every room's events in sequence order.
type Bus struct {
	mu       sync.Mutex
	rooms    map[hub.Key]*room
	orgRooms map[int64]int // rooms with at least one member, per org
	nextSub  int
}

type room struct {
	seq     uint64
	members map[uint32]*entry
	subs    map[int]func(hub.Event)
}

type entry struct {
	m         hub.Member
	sockets   int
	attached  bool      // a socket was open at some point
	idleSince time.Time // when the member last had no socket (or joined)
}

// New returns an empty bus.
func New() *Bus {
	return &Bus{rooms: make(map[hub.Key]*room), orgRooms: make(map[int64]int)}
}

var _ hub.Bus = (*Bus)(nil)

func (b *Bus) room(k hub.Key) *room {
	r := b.rooms[k]
	if r == nil {
		r = &room{members: make(map[uint32]*entry), subs: make(map[int]func(hub.Event))}
		b.rooms[k] = r
	}
	return r
}

// gc drops a room's state once nobody is in it or listening to it.
func (b *Bus) gc(k hub.Key, r *room) {
	if len(r.members) == 0 && len(r.subs) == 0 {
		delete(b.rooms, k)
	}
}

// publish assigns the next seq and delivers; b.mu must be held.
func (b *Bus) publish(k hub.Key, r *room, msg hub.Message) hub.Event {
	r.seq++
	ev := hub.Event{Room: k, Seq: r.seq, Type: msg.Type, UID: msg.UID, Reason: msg.Reason,
		Frame: hub.Render(k.Room, r.seq, msg.Type, msg.Body)}
	for _, fn := range r.subs {
		fn(ev)
	}
	return ev
}

func (b *Bus) Publish(ctx context.Context, k hub.Key, msg hub.Message) (hub.Event, error) {
	if err := ctx.Err(); err != nil {
		return hub.Event{}, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	r := b.room(k)
	ev := b.publish(k, r, msg)
	b.gc(k, r)
	return ev, nil
}

func (b *Bus) Subscribe(ctx context.Context, k hub.Key, fn func(hub.Event)) (func(), error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.nextSub++
	id := b.nextSub
	b.room(k).subs[id] = fn
	var once sync.Once
	return func() {
		once.Do(func() {
			b.mu.Lock()
			defer b.mu.Unlock()
			if r := b.rooms[k]; r != nil {
				delete(r.subs, id)
				b.gc(k, r)
			}
		})
	}, nil
}

func (b *Bus) Join(ctx context.Context, k hub.Key, m hub.Member, lim hub.Limits) (hub.Event, bool, error) {
	if err := ctx.Err(); err != nil {
		return hub.Event{}, false, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	r := b.room(k)
	if e := r.members[m.UID]; e != nil {
		if e.m.Name == m.Name {
			return hub.Event{}, false, nil
		}
		e.m.Name = m.Name
		return b.publish(k, r, hub.JoinMessage(e.m)), true, nil
	}
	if lim.MaxMembers > 0 && len(r.members) >= lim.MaxMembers {
		b.gc(k, r)
		return hub.Event{}, false, hub.ErrRoomFull(lim.MaxMembers)
	}
	if len(r.members) == 0 {
		if lim.MaxRooms > 0 && b.orgRooms[k.Org] >= lim.MaxRooms {
			b.gc(k, r)
			return hub.Event{}, false, hub.ErrTooManyRooms(lim.MaxRooms)
		}
		b.orgRooms[k.Org]++
	}
	r.members[m.UID] = &entry{m: m, idleSince: time.UnixMilli(m.JoinedAt)}
	return b.publish(k, r, hub.JoinMessage(m)), true, nil
}

func (b *Bus) Leave(ctx context.Context, k hub.Key, uid uint32, reason string) (hub.Event, bool, error) {
	if err := ctx.Err(); err != nil {
		return hub.Event{}, false, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	r := b.rooms[k]
	if r == nil || r.members[uid] == nil {
		return hub.Event{}, false, nil
	}
	return b.remove(k, r, uid, reason), true, nil
}

// remove deletes a present member and publishes its leave; b.mu held.
func (b *Bus) remove(k hub.Key, r *room, uid uint32, reason string) hub.Event {
	delete(r.members, uid)
	if len(r.members) == 0 {
		if b.orgRooms[k.Org]--; b.orgRooms[k.Org] <= 0 {
			delete(b.orgRooms, k.Org)
		}
	}
	ev := b.publish(k, r, hub.LeaveMessage(uid, reason))
	b.gc(k, r)
	return ev
}

func (b *Bus) Attach(ctx context.Context, k hub.Key, uid uint32) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	e := b.entry(k, uid)
	if e == nil {
		return hub.ErrNotMember
	}
	e.sockets++
	e.attached = true
	return nil
}

func (b *Bus) Detach(ctx context.Context, k hub.Key, uid uint32, at time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if e := b.entry(k, uid); e != nil && e.sockets > 0 {
		if e.sockets--; e.sockets == 0 {
			e.idleSince = at
		}
	}
	return nil
}

func (b *Bus) entry(k hub.Key, uid uint32) *entry {
	if r := b.rooms[k]; r != nil {
		return r.members[uid]
	}
	return nil
}

func (b *Bus) Get(ctx context.Context, k hub.Key, uid uint32) (hub.Member, error) {
	if err := ctx.Err(); err != nil {
		return hub.Member{}, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if e := b.entry(k, uid); e != nil {
		return e.m, nil
	}
	return hub.Member{}, hub.ErrNotMember
}

func (b *Bus) Snapshot(ctx context.Context, k hub.Key) (hub.Snapshot, error) {
	if err := ctx.Err(); err != nil {
		return hub.Snapshot{}, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	r := b.rooms[k]
	if r == nil {
		return hub.Snapshot{Members: []hub.Member{}}, nil
	}
	s := hub.Snapshot{Seq: r.seq, Members: make([]hub.Member, 0, len(r.members))}
	for _, e := range r.members {
		s.Members = append(s.Members, e.m)
	}
	hub.SortMembers(s.Members)
	return s, nil
}

func (b *Bus) Reap(ctx context.Context, now time.Time, grace time.Duration) ([]hub.Reaped, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []hub.Reaped
	for k, r := range b.rooms {
		for uid, e := range r.members {
			if e.sockets > 0 || now.Sub(e.idleSince) < grace {
				continue
			}
			reason := hub.ReasonExpired
			if e.attached {
				reason = hub.ReasonDisconnected
			}
			b.remove(k, r, uid, reason)
			out = append(out, hub.Reaped{Room: k, UID: uid, Reason: reason})
		}
	}
	return out, nil
}
