package hub

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"roomhub"
	"roomhub/clock"
)

// Config holds a node's limits and timings. Zero fields take the defaults
// below; every one is named so it can be configured and tested.
type Config struct {
	NodeID            string
	Grace             time.Duration // MEMBER_GRACE: how long a member without a socket stays
	ReapInterval      time.Duration // how often expired members are looked for
	PingInterval      time.Duration // server ping period
	PingTimeout       time.Duration // a pong must arrive within this
	SendQueue         int           // frames queued per socket before it counts as a slow reader
	MaxFrameBytes     int64         // largest client frame accepted
	MaxSignalBytes    int           // largest signal data object
	SignalRate        float64       // signals per second per socket
	SignalBurst       int           // signals allowed at once
	MaxConnsPerMember int           // sockets one member may hold on one node
	HeartbeatInterval time.Duration // node liveness refresh, for buses that track nodes
	Limits            Limits
}

// Defaults.
const (
	DefaultGrace             = 15 * time.Second
	DefaultReapInterval      = time.Second
	DefaultPingInterval      = 20 * time.Second
	DefaultPingTimeout       = 10 * time.Second
	DefaultSendQueue         = 256
	DefaultMaxFrameBytes     = 8 << 10
	DefaultMaxSignalBytes    = 4 << 10
	DefaultSignalRate        = 10
	DefaultSignalBurst       = 10
	DefaultMaxConnsPerMember = 4
	DefaultHeartbeatInterval = 5 * time.Second
	DefaultMaxMembers        = 200
	DefaultMaxRooms          = 1000
)

func (c *Config) setDefaults() {
	set := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	set(&c.Grace, DefaultGrace)
	set(&c.ReapInterval, DefaultReapInterval)
	set(&c.PingInterval, DefaultPingInterval)
	set(&c.PingTimeout, DefaultPingTimeout)
	set(&c.HeartbeatInterval, DefaultHeartbeatInterval)
	if c.SendQueue <= 0 {
		c.SendQueue = DefaultSendQueue
	}
	if c.MaxFrameBytes <= 0 {
		c.MaxFrameBytes = DefaultMaxFrameBytes
	}
	if c.MaxSignalBytes <= 0 {
		c.MaxSignalBytes = DefaultMaxSignalBytes
	}
	if c.SignalRate <= 0 {
		c.SignalRate = DefaultSignalRate
	}
	if c.SignalBurst <= 0 {
		c.SignalBurst = DefaultSignalBurst
	}
	if c.MaxConnsPerMember <= 0 {
		c.MaxConnsPerMember = DefaultMaxConnsPerMember
	}
	if c.Limits.MaxMembers <= 0 {
		c.Limits.MaxMembers = DefaultMaxMembers
	}
	if c.Limits.MaxRooms <= 0 {
		c.Limits.MaxRooms = DefaultMaxRooms
	}
}

// Token is a renewed Agora token for the token frame.
type Token struct {
	Token     *string `json:"token"`
	ExpiresAt *int64  `json:"expires_at"`
}

// Tokens mints Agora tokens for members.
type Tokens interface {
	Mint(ctx context.Context, org int64, room string, uid uint32) (Token, error)
}

// MemberStore is the durable record of members the node keeps in step with
// presence.
type MemberStore interface {
	PutMember(ctx context.Context, m roomhub.Member) (created bool, err error)
	GetMember(ctx context.Context, orgID int64, room string, uid uint32) (roomhub.Member, error)
	DeleteMember(ctx context.Context, orgID int64, room string, uid uint32) (bool, error)
}

// Stats are a node's counters, read with atomic loads.
type Stats struct {
	Conns     atomic.Int64 // sockets open
	Accepted  atomic.Int64 // sockets accepted, ever
	Delivered atomic.Int64 // frames written to sockets
	SlowDrops atomic.Int64 // sockets closed for not reading
	Joins     atomic.Int64 // members joined through this node
	Reaped    atomic.Int64 // members removed by this node's reaper
	ReapRuns  atomic.Int64 // reaper passes completed
	// Leaves counts members that left through this node, by reason, in the
	// order of LeaveReasons.
	Leaves [5]atomic.Int64
	// Closes counts sockets this node ended, by reason, in the order of
	// CloseReasons.
	Closes [len(closeReasons)]atomic.Int64
}

// Why a socket ended: a bounded set, for the metric.
const (
	CloseByClient      = "client"       // the peer closed, or the network did
	CloseByKick        = "kicked"       // a moderator removed the member (4001)
	CloseByRoomClosed  = "room_closed"  // a moderator closed the room (4002)
	CloseByNotMember   = "not_member"   // the member left or was never there (4003)
	CloseByTooMany     = "too_many"     // too many sockets for the member (4004)
	CloseBySlow        = "slow"         // the send queue overflowed
	CloseByPingTimeout = "ping_timeout" // no pong within PingTimeout
	CloseByWriteFailed = "write_failed" // a frame could not be written
	CloseByBadFrame    = "bad_frame"    // a binary or oversized frame
	CloseByShutdown    = "shutdown"     // the node is stopping (1001)
	CloseByUnavailable = "unavailable"  // the bus failed (1013)
)

var closeReasons = [...]string{CloseByClient, CloseByKick, CloseByRoomClosed, CloseByNotMember, CloseByTooMany,
	CloseBySlow, CloseByPingTimeout, CloseByWriteFailed, CloseByBadFrame, CloseByShutdown, CloseByUnavailable}

// CloseReasons lists the close reasons in the order of Stats.Closes.
func CloseReasons() []string { return closeReasons[:] }

func (s *Stats) closed(reason string) {
	for i, r := range closeReasons {
		if r == reason {
			s.Closes[i].Add(1)
			return
		}
	}
}

// LeaveReasons lists the leave reasons in the order of Stats.Leaves.
func LeaveReasons() [5]string {
	return [5]string{ReasonLeft, ReasonDisconnected, ReasonKicked, ReasonExpired, ReasonClosed}
}

func (s *Stats) left(reason string) {
	for i, r := range LeaveReasons() {
		if r == reason {
			s.Leaves[i].Add(1)
		}
	}
}

// Node is one Roomhub process's share of the hub: it keeps members and their
// sockets in step with the Bus and fans room events out to local sockets.
type Node struct {
	cfg    Config
	bus    Bus
	store  MemberStore
	tokens Tokens
	clock  clock.Clock
	log    *slog.Logger
	Stats  Stats

	// observe, if set, receives each frame's delivery latency: from the
	// event reaching this node to its write on a socket.
	observe func(time.Duration)
	// life, if set, hears of every membership change this node makes.
	life Lifecycle

	mu      sync.Mutex
	rooms   map[Key]*localRoom
	closing bool
	reaper  clock.Timer
	beat    clock.Timer
	conns   sync.WaitGroup
}

// Heartbeater is a bus that tracks which nodes are alive.
type Heartbeater interface {
	Heartbeat(ctx context.Context, now time.Time) error
}

// Resubscriber is a bus whose subscriptions can be lost and restored (a
// network bus); the node resynchronises its sockets when they are.
type Resubscriber interface {
	OnResubscribe(func())
}

// localRoom is a room with sockets on this node: one bus subscription fans
// each event out to all of them.
type localRoom struct {
	last      atomic.Uint64 // seq of the last event fanned out; a jump means events were lost
	resyncing sync.Mutex    // one resynchronisation at a time, so snapshots arrive in order
	cancel    func()
	conns     map[*conn]struct{}
	list      atomic.Pointer[[]*conn] // copy-on-write view for lock-free fan-out
}

// NewNode wires a node. Start begins reaping; Shutdown ends it.
func NewNode(cfg Config, bus Bus, store MemberStore, tokens Tokens, clk clock.Clock, log *slog.Logger) *Node {
	cfg.setDefaults()
	if clk == nil {
		clk = clock.Real{}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Node{cfg: cfg, bus: bus, store: store, tokens: tokens, clock: clk, log: log, rooms: make(map[Key]*localRoom)}
}

// Lifecycle hears of membership changes. Presence makes each change on
// exactly one node (the one serving the request, or the reaper that found
// the member gone), and only that node calls Lifecycle, so across a cluster
// each change is reported once. Calls run on the request or reaper path:
// implementations queue and return.
type Lifecycle interface {
	// Joined reports a new member, or a member whose name changed.
	Joined(k Key, m Member)
	// Left reports a member removed with reason at the given time.
	Left(k Key, uid uint32, reason string, at time.Time)
}

// OnLifecycle sets the Lifecycle; call it before Start.
func (n *Node) OnLifecycle(l Lifecycle) { n.life = l }

// ObserveDelivery sets a function that receives every frame's delivery
// latency; call it before Start.
func (n *Node) ObserveDelivery(f func(time.Duration)) { n.observe = f }

// LocalRooms reports how many rooms have sockets on this node.
func (n *Node) LocalRooms() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.rooms)
}

// Config returns the node's effective configuration.
func (n *Node) Config() Config { return n.cfg }

// Start runs the reaper every ReapInterval and, on a bus that tracks nodes,
// the heartbeat.
func (n *Node) Start() {
	n.mu.Lock()
	n.reaper = n.clock.AfterFunc(n.cfg.ReapInterval, n.reap)
	n.mu.Unlock()
	if hb, ok := n.bus.(Heartbeater); ok {
		n.heartbeat(hb)
	}
	if rs, ok := n.bus.(Resubscriber); ok {
		rs.OnResubscribe(n.resyncAll)
	}
}

// heartbeat keeps this node alive in the bus, then schedules itself.
func (n *Node) heartbeat(hb Heartbeater) {
	ctx, cancel := context.WithTimeout(context.Background(), n.cfg.HeartbeatInterval)
	defer cancel()
	if err := hb.Heartbeat(ctx, n.clock.Now()); err != nil {
		n.log.Error("heartbeat failed", "err", err)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.closing {
		n.beat = n.clock.AfterFunc(n.cfg.HeartbeatInterval, func() { n.heartbeat(hb) })
	}
}

func (n *Node) reap() {
	ctx, cancel := context.WithTimeout(context.Background(), n.cfg.ReapInterval+5*time.Second)
	defer cancel()
	reaped, err := n.bus.Reap(ctx, n.clock.Now(), n.cfg.Grace)
	if err != nil {
		n.log.Error("reap failed", "err", err)
	}
	n.Stats.ReapRuns.Add(1)
	n.Stats.Reaped.Add(int64(len(reaped)))
	for _, r := range reaped {
		n.Stats.left(r.Reason)
		if n.life != nil {
			n.life.Left(r.Room, r.UID, r.Reason, n.clock.Now())
		}
		if _, err := n.store.DeleteMember(ctx, r.Room.Org, r.Room.Room, r.UID); err != nil {
			n.log.Error("reaped member not deleted from store", "room", r.Room.String(), "uid", r.UID, "err", err)
		}
		n.log.Info("member left", "event", "member_left", "org", r.Room.Org, "room", r.Room.Room, "uid", r.UID, "reason", r.Reason)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.closing {
		n.reaper = n.clock.AfterFunc(n.cfg.ReapInterval, n.reap)
	}
}

// Join makes m a member of its room: recorded in the store first, then in
// presence, which announces it. If presence refuses (room full) or fails,
// the store write is undone, so no half-joined member remains.
func (n *Node) Join(ctx context.Context, m roomhub.Member) error {
	return n.JoinLimited(ctx, m, 0)
}

// JoinLimited is Join with a room's own member limit, when it has one below
// the node's: maxMembers <= 0 means the node's limit.
func (n *Node) JoinLimited(ctx context.Context, m roomhub.Member, maxMembers int) error {
	created, err := n.store.PutMember(ctx, m)
	if err != nil {
		return err
	}
	k := Key{Org: m.OrgID, Room: m.Room}
	lim := n.cfg.Limits
	if maxMembers > 0 && maxMembers < lim.MaxMembers {
		lim.MaxMembers = maxMembers
	}
	hm := Member{UID: m.UID, Name: m.Name, JoinedAt: m.JoinedAt.UnixMilli()}
	_, changed, err := n.bus.Join(ctx, k, hm, lim)
	if err != nil {
		if created {
			if _, derr := n.store.DeleteMember(context.WithoutCancel(ctx), m.OrgID, m.Room, m.UID); derr != nil {
				n.log.Error("undo of member create failed", "room", k.String(), "uid", m.UID, "err", derr)
			}
		}
		if roomhub.ErrorCode(err) == roomhub.EINTERNAL {
			return roomhub.Unavailable("the event bus", err)
		}
		return err
	}
	n.Stats.Joins.Add(1)
	if changed && n.life != nil {
		n.life.Joined(k, hm)
	}
	return nil
}

// Leave removes a member from presence (announcing it) and the store. It
// reports whether the member was present in either.
func (n *Node) Leave(ctx context.Context, k Key, uid uint32, reason string) (bool, error) {
	_, left, err := n.bus.Leave(ctx, k, uid, reason)
	if err != nil {
		return false, roomhub.Unavailable("the event bus", err)
	}
	if left {
		n.Stats.left(reason)
		if n.life != nil {
			n.life.Left(k, uid, reason, n.clock.Now())
		}
	}
	deleted, err := n.store.DeleteMember(ctx, k.Org, k.Room, uid)
	if err != nil {
		return left, err
	}
	return left || deleted, nil
}

// Member returns a present member.
func (n *Node) Member(ctx context.Context, k Key, uid uint32) (Member, error) {
	return n.bus.Get(ctx, k, uid)
}

// Snapshot returns a room's membership.
func (n *Node) Snapshot(ctx context.Context, k Key) (Snapshot, error) {
	return n.bus.Snapshot(ctx, k)
}

// Close codes sent to clients. 4001-4099 mean "do not reconnect".
const (
	CloseKicked     websocket.StatusCode = 4001
	CloseRoomClosed websocket.StatusCode = 4002
	CloseNotMember  websocket.StatusCode = 4003
	CloseTooMany    websocket.StatusCode = 4004
)

var errClosing = errors.New("hub: node is shutting down")

// attach registers c with its local room, subscribing the node to the room
// on the bus if c is the room's first local socket.
func (n *Node) attach(ctx context.Context, c *conn) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closing {
		return errClosing
	}
	lr := n.rooms[c.key]
	if lr == nil {
		lr = &localRoom{conns: make(map[*conn]struct{})}
		cancel, err := n.bus.Subscribe(ctx, c.key, func(ev Event) { n.fanout(lr, ev) })
		if err != nil {
			return roomhub.Unavailable("the event bus", err)
		}
		lr.cancel = cancel
		n.rooms[c.key] = lr
	}
	same := 0
	for o := range lr.conns {
		if o.uid == c.uid {
			same++
		}
	}
	if same >= n.cfg.MaxConnsPerMember {
		return errTooMany
	}
	lr.conns[c] = struct{}{}
	c.room = lr
	lr.publish()
	n.conns.Add(1)
	n.Stats.Conns.Add(1)
	n.Stats.Accepted.Add(1)
	return nil
}

var errTooMany = errors.New("too many connections for this member")

func (n *Node) detach(c *conn) {
	n.mu.Lock()
	defer n.mu.Unlock()
	lr := n.rooms[c.key]
	if lr == nil {
		return
	}
	if _, ok := lr.conns[c]; !ok {
		return
	}
	delete(lr.conns, c)
	lr.publish()
	if len(lr.conns) == 0 {
		lr.cancel()
		delete(n.rooms, c.key)
	}
	n.Stats.Conns.Add(-1)
	n.conns.Done()
}

func (lr *localRoom) publish() {
	list := make([]*conn, 0, len(lr.conns))
	for c := range lr.conns {
		list = append(list, c)
	}
	lr.list.Store(&list)
}

// fanout hands one event to every local socket of its room. It runs on the
// bus's delivery path, so it only enqueues.
func (n *Node) fanout(lr *localRoom, ev Event) {
	if last := lr.last.Swap(ev.Seq); last != 0 && ev.Seq != last+1 {
		// A gap or a step back (the bus restarted): events were lost, so
		// every socket of the room starts again from a snapshot.
		go n.resync(lr, ev.Room)
	}
	list := lr.list.Load()
	if list == nil {
		return
	}
	at := time.Now()
	w := wire(ev.Frame) // once for every socket of the room
	for _, c := range *list {
		c.event(ev, w, at)
		if ev.Type == TypeLeave && ev.UID == c.uid {
			c.closeAfterFlush(leaveCode(ev.Reason), "you left the room: "+ev.Reason)
		}
	}
}

func leaveCode(reason string) websocket.StatusCode {
	switch reason {
	case ReasonKicked:
		return CloseKicked
	case ReasonClosed:
		return CloseRoomClosed
	default:
		return CloseNotMember
	}
}

// resyncAll resynchronises every local room after the bus lost and restored
// its subscriptions. Presence may have been lost too (a Redis restart): the
// members connected here are put back from the store first.
func (n *Node) resyncAll() {
	n.mu.Lock()
	rooms := make(map[Key]*localRoom, len(n.rooms))
	for k, lr := range n.rooms {
		rooms[k] = lr
	}
	n.mu.Unlock()
	for k, lr := range rooms {
		n.restore(k, lr)
		n.resync(lr, k)
	}
}

// restore re-registers in presence the members with sockets here that
// presence no longer knows.
func (n *Node) restore(k Key, lr *localRoom) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	list := lr.list.Load()
	if list == nil {
		return
	}
	done := map[uint32]bool{}
	for _, c := range *list {
		if done[c.uid] {
			continue
		}
		done[c.uid] = true
		if _, err := n.bus.Get(ctx, k, c.uid); roomhub.ErrorCode(err) != roomhub.ENOTFOUND {
			continue
		}
		m, err := n.store.GetMember(ctx, k.Org, k.Room, c.uid)
		if err != nil {
			continue // gone from the store too: the socket will be told on renewal
		}
		if _, _, err := n.bus.Join(ctx, k, Member{UID: m.UID, Name: m.Name, JoinedAt: m.JoinedAt.UnixMilli()}, n.cfg.Limits); err != nil {
			n.log.Error("restore of member failed", "room", k.String(), "uid", c.uid, "err", err)
			continue
		}
		n.bus.Attach(ctx, k, c.uid)
	}
}

// resync sends every socket of a room a fresh snapshot. The sockets buffer
// events while it is taken, then keep only those newer than it.
func (n *Node) resync(lr *localRoom, k Key) {
	lr.resyncing.Lock()
	defer lr.resyncing.Unlock()
	list := lr.list.Load()
	if list == nil {
		return
	}
	conns := *list
	for _, c := range conns {
		c.pause()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	snap, err := n.bus.Snapshot(ctx, k)
	if err != nil {
		n.log.Error("resync snapshot failed; dropping the room's sockets so clients reconnect", "room", k.String(), "err", err)
		for _, c := range conns {
			c.ws.CloseNow()
		}
		return
	}
	for _, c := range conns {
		c.start(snap)
	}
	n.log.Info("room resynchronised", "room", k.String(), "seq", snap.Seq)
}

// Shutdown stops the reaper, closes every socket with "going away" and waits
// for their handlers to return or ctx to end.
func (n *Node) Shutdown(ctx context.Context) error {
	n.mu.Lock()
	n.closing = true
	if n.reaper != nil {
		n.reaper.Stop()
	}
	if n.beat != nil {
		n.beat.Stop()
	}
	var all []*conn
	for _, lr := range n.rooms {
		for c := range lr.conns {
			all = append(all, c)
		}
	}
	n.mu.Unlock()
	for _, c := range all {
		c.closeAfterFlush(websocket.StatusGoingAway, "server shutting down")
	}
	done := make(chan struct{})
	go func() { n.conns.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		for _, c := range all {
			c.ws.CloseNow()
		}
		return ctx.Err()
	}
}

// FeedRoom is the reserved room name of an organization's activity feed,
// on which the activity recorder announces every membership change of the
// organization's rooms. Room names cannot contain '#', so it names no room.
const FeedRoom = "#feed"

// FeedKey is the feed of org.
func FeedKey(org int64) Key { return Key{Org: org, Room: FeedRoom} }

// TypeActivity is the frame type of feed events.
const TypeActivity = "activity"

// SubscribeFeed calls fn for every feed event of org, from any node, until
// cancel is called. fn must not block.
func (n *Node) SubscribeFeed(ctx context.Context, org int64, fn func(Event)) (cancel func(), err error) {
	return n.bus.Subscribe(ctx, FeedKey(org), fn)
}

// AnnounceRoom tells the organization's feed that a room changed without a
// membership change (its settings), so that dashboards re-read it.
func (n *Node) AnnounceRoom(ctx context.Context, k Key) {
	body := append([]byte(`"change":"settings","uid":0,"target":`), strconv.Quote(k.Room)...)
	if _, err := n.bus.Publish(ctx, FeedKey(k.Org), Message{Type: TypeActivity, Body: body}); err != nil {
		n.log.Error("room change not announced", "room", k.String(), "err", err)
	}
}
