package redisbus

import (
	"bytes"
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"roomhub"
	"roomhub/hub"
)

// Subscribe registers fn for a room's events. The first subscriber of a room
// on this node subscribes the node's pub/sub connection to the room's
// channel and waits for Redis to confirm, so that a snapshot taken after
// Subscribe returns misses no event.
func (b *Bus) Subscribe(ctx context.Context, k hub.Key, fn func(hub.Event)) (func(), error) {
	ch := b.chanOf(k)
	b.mu.Lock()
	b.nextID++
	id := b.nextID
	hs := b.handlers[ch]
	first := hs == nil
	if first {
		hs = map[int]func(hub.Event){}
		b.handlers[ch] = hs
	}
	hs[id] = fn
	var confirmed chan struct{}
	if first {
		confirmed = make(chan struct{})
		b.waiting[ch] = append(b.waiting[ch], confirmed)
	}
	b.mu.Unlock()

	cancel := func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		if hs := b.handlers[ch]; hs != nil {
			delete(hs, id)
			if len(hs) == 0 {
				delete(b.handlers, ch)
				b.ps.Unsubscribe(context.Background(), ch)
			}
		}
	}
	if !first {
		return sync.OnceFunc(cancel), nil
	}
	if err := b.ps.Subscribe(ctx, ch); err != nil {
		cancel()
		return nil, roomhub.Unavailable("the event bus", err)
	}
	wait, stop := context.WithTimeout(ctx, subscribeTimeout)
	defer stop()
	select {
	case <-confirmed:
		return sync.OnceFunc(cancel), nil
	case <-wait.Done():
		cancel()
		return nil, roomhub.Unavailable("the event bus", wait.Err())
	}
}

// receive reads the pub/sub connection and dispatches each room's events,
// in order, to its handlers. go-redis reconnects and resubscribes after a
// failure; events published meanwhile are lost, so after a recovery the
// node is told to resynchronise.
func (b *Bus) receive() {
	defer close(b.done)
	for {
		msg, err := b.ps.Receive(context.Background())
		if err != nil {
			if err == redis.ErrClosed {
				return
			}
			b.mu.Lock()
			if !b.lost {
				b.log.Warn("event bus subscription lost; reconnecting", "err", err)
			}
			b.lost = true
			b.mu.Unlock()
			time.Sleep(100 * time.Millisecond) // go-redis reconnects on the next Receive
			continue
		}
		switch m := msg.(type) {
		case *redis.Subscription:
			b.mu.Lock()
			if m.Kind == "subscribe" {
				for _, w := range b.waiting[m.Channel] {
					close(w)
				}
				delete(b.waiting, m.Channel)
			}
			recovered := b.lost
			b.lost = false
			f := b.onResubscribe
			b.mu.Unlock()
			if recovered {
				b.reconnects.Add(1)
				b.log.Info("event bus subscription restored")
				if f != nil {
					go f()
				}
			}
		case *redis.Message:
			ev, ok := parse(m.Channel, m.Payload)
			if !ok {
				continue
			}
			b.mu.Lock()
			hs := b.handlers[m.Channel]
			fns := make([]func(hub.Event), 0, len(hs))
			for _, fn := range hs {
				fns = append(fns, fn)
			}
			b.mu.Unlock()
			for _, fn := range fns {
				fn(ev)
			}
		}
	}
}

// parse reads "seq\ntype\nuid\nreason\nframe". The room comes from the
// channel name "...ev:{org:room}".
func parse(channel, payload string) (hub.Event, bool) {
	p := []byte(payload)
	var parts [4][]byte
	for i := range parts {
		j := bytes.IndexByte(p, '\n')
		if j < 0 {
			return hub.Event{}, false
		}
		parts[i], p = p[:j], p[j+1:]
	}
	seq, err := strconv.ParseUint(string(parts[0]), 10, 64)
	if err != nil {
		return hub.Event{}, false
	}
	uid, _ := strconv.ParseUint(string(parts[2]), 10, 32)
	k, ok := roomOfChannel(channel)
	if !ok {
		return hub.Event{}, false
	}
	return hub.Event{Room: k, Seq: seq, Type: string(parts[1]), UID: uint32(uid), Reason: string(parts[3]), Frame: p}, true
}

func roomOfChannel(ch string) (hub.Key, bool) {
	i := bytes.LastIndexByte([]byte(ch), '{')
	if i < 0 || ch[len(ch)-1] != '}' {
		return hub.Key{}, false
	}
	id := ch[i+1 : len(ch)-1]
	j := bytes.IndexByte([]byte(id), ':')
	if j < 0 {
		return hub.Key{}, false
	}
	org, err := strconv.ParseInt(id[:j], 10, 64)
	if err != nil {
		return hub.Key{}, false
	}
	return hub.Key{Org: org, Room: id[j+1:]}, true
}
