package hub

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"roomhub"
	"roomhub/clock"
)

// outFrame is a queued wire frame (header and payload, see wire) and when
// its event reached this node, for the delivery-latency measurement.
type outFrame struct {
	frame []byte
	at    time.Time
}

// pendingEvent is a room event that arrived before the snapshot, with its
// wire frame.
type pendingEvent struct {
	ev   Event
	wire []byte
}

// conn is one member socket. Its only long-lived goroutine is the reader
// (the HTTP handler's own); a writer goroutine exists only while frames are
// queued, and pings run from a timer. That keeps an idle socket cheap.
//
// Room frames are written on the connection itself (raw), not through the
// WebSocket library: each event's frame is framed once per node (wire) and
// the same bytes go to every socket, and frames queued together leave in
// one writev. The library still reads, and writes control frames (ping,
// pong, close); each of those is one write of its small buffer, and a write
// on a connection is never interleaved with another, so frames stay whole.
type conn struct {
	n    *Node
	ws   *websocket.Conn
	raw  net.Conn
	key  Key
	uid  uint32
	ctx  context.Context
	room *localRoom

	mu      sync.Mutex
	ready   bool           // the snapshot is queued; events flow
	pending []pendingEvent // events that arrived before the snapshot
	minSeq  uint64         // the snapshot's seq: older events are already in it
	lastSeq uint64
	queue   []outFrame
	spare   []outFrame
	writing bool
	closing bool
	code    websocket.StatusCode
	reason  string
	done    bool
	ping    clock.Timer
	why     string // first reason the socket is ending, for Stats.Closes

	// Signal token bucket; touched by the reader goroutine only.
	tokens float64
	refill time.Time
}

// Serve sets up the socket of member uid of room k and returns; the socket
// then lives on a goroutine of its own until it closes. The caller has
// accepted the WebSocket and checked that the session owns the member.
//
// The setup (presence, the snapshot) runs on the caller's goroutine, whose
// stack is already grown and is about to be freed; the socket's goroutine
// starts small and only ever holds the read loop. That is most of an idle
// socket's memory.
func (n *Node) Serve(ctx context.Context, s *Socket, k Key, uid uint32) {
	ws := s.WS
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	// However the socket ends, its connection is closed (see release). The
	// library closes it by itself only when a close handshake completes; a
	// peer that vanishes (a crashed tab, a phone in a tunnel) ends the read
	// with an error and nothing else. A websocket.Conn that is never closed
	// is never freed either: its finalizer sits on a structure that points
	// back at itself, which the garbage collector does not finalize, so its
	// buffers and file descriptor would stay for the life of the process.
	refuse := func(why string, code websocket.StatusCode, reason string) {
		n.Stats.closed(why)
		ws.Close(code, reason)
		ws.CloseNow() // after a completed handshake, does nothing
		cancel()
	}
	ws.SetReadLimit(n.cfg.MaxFrameBytes)
	c := &conn{n: n, ws: ws, raw: s.raw, key: k, uid: uid, ctx: ctx, tokens: float64(n.cfg.SignalBurst), refill: n.clock.Now()}

	if err := n.bus.Attach(ctx, k, uid); err != nil {
		if roomhub.ErrorCode(err) == roomhub.ENOTFOUND {
			refuse(CloseByNotMember, CloseNotMember, "not a member of this room")
		} else {
			n.log.Error("attach failed", "room", k.String(), "uid", uid, "err", err)
			refuse(CloseByUnavailable, websocket.StatusTryAgainLater, "temporarily unavailable")
		}
		return
	}
	detachBus := func() {
		if err := n.bus.Detach(context.WithoutCancel(ctx), k, uid, n.clock.Now()); err != nil {
			n.log.Error("detach failed", "room", k.String(), "uid", uid, "err", err)
		}
	}
	if err := n.attach(ctx, c); err != nil {
		detachBus()
		switch err {
		case errClosing:
			refuse(CloseByShutdown, websocket.StatusGoingAway, "server shutting down")
		case errTooMany:
			refuse(CloseByTooMany, CloseTooMany, "too many connections for this member")
		default:
			refuse(CloseByUnavailable, websocket.StatusTryAgainLater, "temporarily unavailable")
		}
		return
	}
	snap, err := n.bus.Snapshot(ctx, k)
	if err != nil {
		n.log.Error("snapshot failed", "room", k.String(), "err", err)
		n.detach(c)
		detachBus()
		refuse(CloseByUnavailable, websocket.StatusTryAgainLater, "temporarily unavailable")
		return
	}
	// The room's first snapshot on this node is where gap detection starts.
	c.room.last.CompareAndSwap(0, snap.Seq)
	c.start(snap)
	go func() {
		c.read()
		c.stop()
		c.mu.Lock()
		why := c.why
		c.mu.Unlock()
		if why == "" {
			why = CloseByClient
		}
		n.Stats.closed(why)
		n.detach(c)
		detachBus()
		ws.CloseNow()
		cancel()
	}()
}

// ending records why the socket ends, if nothing did before; c.mu held.
func (c *conn) ending(why string) {
	if c.why == "" {
		c.why = why
	}
}

// start queues the snapshot, then the events that raced it and are newer.
func (c *conn) start(s Snapshot) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing || c.done {
		return
	}
	c.ready, c.minSeq, c.lastSeq = true, s.Seq, s.Seq
	now := time.Now()
	c.push(wire(SnapshotFrame(c.key.Room, s)), now)
	for _, p := range c.pending {
		if p.ev.Seq > c.minSeq {
			c.lastSeq = p.ev.Seq
			c.push(p.wire, now)
		}
	}
	c.pending = nil
	if !c.done && c.ping == nil {
		c.ping = c.n.clock.AfterFunc(c.n.cfg.PingInterval, c.doPing)
	}
}

// pause makes the socket buffer room events until the next start: a
// resynchronisation takes a snapshot, and events racing it must be sorted
// against its seq exactly as on connect.
func (c *conn) pause() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ready = false
}

func (c *conn) stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.done = true
	if c.ping != nil {
		c.ping.Stop()
	}
	c.queue, c.pending = nil, nil
}

// event queues a room event, framed as w, that reached the node at at;
// called on the bus delivery path.
func (c *conn) event(ev Event, w []byte, at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing || c.done {
		return
	}
	if !c.ready {
		if len(c.pending) >= c.n.cfg.SendQueue {
			c.slow()
			return
		}
		c.pending = append(c.pending, pendingEvent{ev, w})
		return
	}
	if ev.Seq <= c.minSeq {
		return
	}
	c.lastSeq = ev.Seq
	c.push(w, at)
}

// reply queues a frame that answers this socket alone (token, error). It
// repeats the seq of the last room event the socket was sent.
func (c *conn) reply(typ string, body []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing || c.done {
		return
	}
	c.push(wire(Render(c.key.Room, c.lastSeq, typ, body)), time.Now())
}

// push queues a frame; c.mu held. A full queue means the peer is not
// reading: it is cut off rather than allowed to hold the room back.
func (c *conn) push(frame []byte, at time.Time) {
	if len(c.queue) >= c.n.cfg.SendQueue {
		c.slow()
		return
	}
	c.queue = append(c.queue, outFrame{frame, at})
	c.kick()
}

// slow drops a socket that fell behind; c.mu held. Its writer may be
// blocked on a full TCP buffer, so there is no closing handshake: the
// connection is cut and the client reconnects for a fresh snapshot.
func (c *conn) slow() {
	c.n.Stats.SlowDrops.Add(1)
	c.ending(CloseBySlow)
	c.n.log.Warn("slow reader disconnected", "room", c.key.String(), "uid", c.uid, "queued", len(c.queue))
	c.queue, c.pending = nil, nil
	c.closing, c.done = true, true
	go c.ws.CloseNow()
}

// closeAfterFlush closes the socket with code once queued frames are written.
func (c *conn) closeAfterFlush(code websocket.StatusCode, reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing || c.done {
		return
	}
	switch code {
	case CloseKicked:
		c.ending(CloseByKick)
	case CloseRoomClosed:
		c.ending(CloseByRoomClosed)
	case CloseNotMember:
		c.ending(CloseByNotMember)
	case websocket.StatusGoingAway:
		c.ending(CloseByShutdown)
	}
	c.closing, c.code, c.reason = true, code, reason
	c.kick()
}

// kick starts the writer if it is not running; c.mu held.
func (c *conn) kick() {
	if !c.writing {
		c.writing = true
		go c.flush()
	}
}

// flush writes queued frames in order until the queue is empty.
func (c *conn) flush() {
	for {
		c.mu.Lock()
		if len(c.queue) == 0 {
			c.writing = false
			// done: the connection was already cut (slow reader, failed
			// write), so there is no closing handshake to send.
			closing, code, reason := c.closing && !c.done, c.code, c.reason
			c.mu.Unlock()
			if closing {
				c.ws.Close(code, reason)
			}
			return
		}
		batch := c.queue
		c.queue = c.spare[:0]
		c.mu.Unlock()
		// No deadline per write: arming one (a timer and a context
		// callback) cost a fifth of the CPU of a delivery. A write stuck on
		// a peer that stopped reading ends when the connection is cut: when
		// the send queue overflows (slow) or a ping goes unanswered
		// (doPing), whichever comes first.
		var err error
		if len(batch) == 1 {
			_, err = c.raw.Write(batch[0].frame)
		} else {
			// Frames queued together leave in one system call.
			bufs := make(net.Buffers, len(batch))
			for i, out := range batch {
				bufs[i] = out.frame
			}
			_, err = bufs.WriteTo(c.raw)
		}
		if err != nil {
			c.ws.CloseNow()
			c.mu.Lock()
			c.ending(CloseByWriteFailed)
			c.writing, c.done, c.queue = false, true, nil
			c.mu.Unlock()
			return
		}
		for i, out := range batch {
			if c.n.observe != nil {
				c.n.observe(time.Since(out.at))
			}
			batch[i] = outFrame{}
		}
		c.n.Stats.Delivered.Add(int64(len(batch)))
		c.mu.Lock()
		c.spare = batch[:0]
		c.mu.Unlock()
	}
}

// doPing pings the peer; one that does not answer within PingTimeout is
// dropped.
func (c *conn) doPing() {
	ctx, cancel := context.WithTimeout(c.ctx, c.n.cfg.PingTimeout)
	defer cancel()
	if err := c.ws.Ping(ctx); err != nil {
		c.mu.Lock()
		c.ending(CloseByPingTimeout)
		c.mu.Unlock()
		c.ws.CloseNow()
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.done {
		c.ping = c.n.clock.AfterFunc(c.n.cfg.PingInterval, c.doPing)
	}
}

// read handles client frames until the socket closes.
func (c *conn) read() {
	for {
		// No context: one with a Done channel costs a registration per
		// read (memory held while the socket idles, CPU per frame). The
		// read ends when the connection is closed, which every way a
		// socket ends does.
		typ, data, err := c.ws.Read(context.Background())
		if err != nil {
			// An oversized frame ends the read with 1009 sent by us;
			// anything else is the peer or the network.
			if strings.Contains(err.Error(), "read limited") {
				c.mu.Lock()
				c.ending(CloseByBadFrame)
				c.mu.Unlock()
			}
			return
		}
		if typ != websocket.MessageText {
			c.mu.Lock()
			c.ending(CloseByBadFrame)
			c.mu.Unlock()
			c.ws.Close(websocket.StatusUnsupportedData, "text frames only")
			return
		}
		c.handle(data)
	}
}

// Error frame codes.
const (
	ErrCodeBadFrame         = "bad_frame"
	ErrCodeUnknownType      = "unknown_type"
	ErrCodeBadSignal        = "bad_signal"
	ErrCodeSignalTooLarge   = "signal_too_large"
	ErrCodeRateLimited      = "rate_limited"
	ErrCodeNotMember        = "not_member"
	ErrCodeTokenUnavailable = "token_unavailable"
	ErrCodeUnavailable      = "unavailable"
)

// ErrorCodes lists every error frame code, for the protocol document's test.
var ErrorCodes = []string{ErrCodeBadFrame, ErrCodeUnknownType, ErrCodeBadSignal, ErrCodeSignalTooLarge,
	ErrCodeRateLimited, ErrCodeNotMember, ErrCodeTokenUnavailable, ErrCodeUnavailable}

// clientFrame is a frame from the client.
type clientFrame struct {
	Type string          `json:"type"`
	Data json.RawMessage `json:"data"`
}

func (c *conn) handle(data []byte) {
	var in clientFrame
	if err := json.Unmarshal(data, &in); err != nil {
		c.fail(ErrCodeBadFrame, "Frames must be JSON objects with a type.")
		return
	}
	switch in.Type {
	case TypeSignal:
		c.signal(in.Data)
	case "renew_token":
		c.renew()
	default:
		c.fail(ErrCodeUnknownType, "Unknown frame type; expected signal or renew_token.")
	}
}

func (c *conn) signal(data json.RawMessage) {
	if !c.allow() {
		c.fail(ErrCodeRateLimited, "Too many signals: at most "+strconv.FormatFloat(c.n.cfg.SignalRate, 'f', -1, 64)+" per second.")
		return
	}
	data = bytes.TrimSpace(data)
	if len(data) == 0 || data[0] != '{' {
		c.fail(ErrCodeBadSignal, "Signal data must be a JSON object.")
		return
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, data); err != nil {
		c.fail(ErrCodeBadSignal, "Signal data must be a JSON object.")
		return
	}
	if buf.Len() > c.n.cfg.MaxSignalBytes {
		c.fail(ErrCodeSignalTooLarge, "Signal data must be at most "+strconv.Itoa(c.n.cfg.MaxSignalBytes)+" bytes.")
		return
	}
	if _, err := c.n.bus.Publish(c.ctx, c.key, SignalMessage(c.uid, buf.Bytes())); err != nil {
		c.n.log.Error("signal publish failed", "room", c.key.String(), "err", err)
		c.fail(ErrCodeUnavailable, "The signal could not be sent; try again.")
	}
}

// allow takes a token from the signal bucket.
func (c *conn) allow() bool {
	now := c.n.clock.Now()
	c.tokens += now.Sub(c.refill).Seconds() * c.n.cfg.SignalRate
	c.refill = now
	if max := float64(c.n.cfg.SignalBurst); c.tokens > max {
		c.tokens = max
	}
	if c.tokens < 1 {
		return false
	}
	c.tokens--
	return true
}

func (c *conn) renew() {
	if _, err := c.n.bus.Get(c.ctx, c.key, c.uid); err != nil {
		c.fail(ErrCodeNotMember, "You are no longer a member of this room.")
		c.closeAfterFlush(CloseNotMember, "not a member of this room")
		return
	}
	tok, err := c.n.tokens.Mint(c.ctx, c.key.Org, c.key.Room, c.uid)
	if err != nil {
		c.n.log.Error("token renewal failed", "room", c.key.String(), "uid", c.uid, "err", err)
		c.fail(ErrCodeTokenUnavailable, "A new video token could not be issued; try again.")
		return
	}
	body, _ := json.Marshal(tok)
	c.reply(TypeToken, body[1:len(body)-1])
}

func (c *conn) fail(code, msg string) {
	b := []byte(`"code":`)
	b = appendString(b, code)
	b = append(b, `,"message":`...)
	b = appendString(b, msg)
	c.reply(TypeError, b)
}
