// Package hub is Roomhub's realtime core: rooms, presence, the member
// lifecycle and the event bus that carries room events to every node.
//
// The shape follows centrifuge: a Node is wired from two small interfaces,
// Broker (ordered fan-out of room events) and Presence (who is in a room),
// with in-process and Redis implementations side by side that pass one
// conformance suite (package hubtest).
//
// Every event a client receives is rendered to its JSON frame once, when it
// is published, and the same bytes are written to every recipient.
package hub

import (
	"context"
	"encoding/json"
	"sort"
	"strconv"
	"time"

	"roomhub"
)

// Key names a room of an organization.
type Key struct {
	Org  int64
	Room string
}

func (k Key) String() string { return strconv.FormatInt(k.Org, 10) + "/" + k.Room }

// Member is a room member as the protocol shows it.
type Member struct {
	UID      uint32 `json:"uid"`
	Name     string `json:"name"`
	JoinedAt int64  `json:"joined_at"` // unix milliseconds
}

// Leave reasons, as sent in leave events.
const (
	ReasonLeft         = "left"         // delete_member
	ReasonDisconnected = "disconnected" // no socket for the grace period after one closed
	ReasonKicked       = "kicked"       // a moderator removed the member
	ReasonExpired      = "expired"      // never connected within the grace period, or its node died
	ReasonClosed       = "closed"       // a moderator closed the room
)

// Frame types.
const (
	TypeSnapshot = "snapshot"
	TypeJoin     = "join"
	TypeLeave    = "leave"
	TypeSignal   = "signal"
	TypeToken    = "token"
	TypeError    = "error"
)

// Message is what a publisher hands to the Broker: the frame type, the
// member it is about (joiner, leaver, signal sender) and the frame's other
// JSON fields, without braces.
type Message struct {
	Type   string
	UID    uint32
	Reason string // leave only
	Body   []byte
}

// Event is a published Message: its per-room sequence number is assigned and
// its frame rendered, ready to write to any number of sockets.
type Event struct {
	Room   Key
	Seq    uint64
	Type   string
	UID    uint32
	Reason string
	Frame  []byte
}

// Limits bound what one join may grow.
type Limits struct {
	MaxMembers int // per room
	MaxRooms   int // rooms with at least one member, per organization
}

// Snapshot is the membership of a room as of event Seq.
type Snapshot struct {
	Seq     uint64
	Members []Member // ordered by joined_at, then uid
}

// Reaped is a member removed by Presence.Reap.
type Reaped struct {
	Room   Key
	UID    uint32
	Reason string
}

// Broker delivers room events to every subscribed node, each room's events
// in the order of their sequence numbers, each exactly once.
type Broker interface {
	// Publish assigns msg the room's next sequence number, renders its
	// frame and delivers it to the room's subscribers.
	Publish(ctx context.Context, room Key, msg Message) (Event, error)
	// Subscribe calls fn for every event of room published after Subscribe
	// returns, until cancel is called. fn must not block: it is called on the
	// delivery path of the whole room.
	Subscribe(ctx context.Context, room Key, fn func(Event)) (cancel func(), err error)
}

// Presence is the live membership of rooms. Membership changes and their
// join and leave events are atomic: a Snapshot at sequence N plus the events
// after N is always the true roster.
type Presence interface {
	// Join adds m to room, or keeps the member if its uid is present with the
	// same name (no event then). A new name replaces the old one with a new
	// join event. Refused with ECONFLICT past lim.
	Join(ctx context.Context, room Key, m Member, lim Limits) (ev Event, changed bool, err error)
	// Leave removes uid and publishes a leave event; left is false, and no
	// event is sent, when uid was not a member.
	Leave(ctx context.Context, room Key, uid uint32, reason string) (ev Event, left bool, err error)
	// Attach records a socket of the member; ENOTFOUND if uid is not a member.
	Attach(ctx context.Context, room Key, uid uint32) error
	// Detach records that a socket closed at the given time.
	Detach(ctx context.Context, room Key, uid uint32, at time.Time) error
	// Get returns one member, ENOTFOUND if absent.
	Get(ctx context.Context, room Key, uid uint32) (Member, error)
	Snapshot(ctx context.Context, room Key) (Snapshot, error)
	// Reap removes the members that have had no socket for grace as of now,
	// publishing one leave each: reason disconnected when a socket of theirs
	// had been open, expired when none ever was.
	Reap(ctx context.Context, now time.Time, grace time.Duration) ([]Reaped, error)
}

// Bus is a Broker and a Presence sharing one sequence per room, as every
// implementation provides.
type Bus interface {
	Broker
	Presence
}

// Errors shared by implementations.
var (
	ErrNotMember = &roomhub.Error{Code: roomhub.ENOTFOUND, Message: "You are not a member of this room."}
)

// ErrRoomFull is returned when a room has MaxMembers members.
func ErrRoomFull(max int) error {
	return roomhub.Errorf(roomhub.ECONFLICT, "This room is full (%d members).", max)
}

// ErrTooManyRooms is returned when an organization has MaxRooms rooms in use.
func ErrTooManyRooms(max int) error {
	return roomhub.Errorf(roomhub.ECONFLICT, "This organization already has %d rooms in use.", max)
}

// SortMembers orders members as snapshots list them: by joined_at, then uid.
func SortMembers(ms []Member) {
	sort.Slice(ms, func(i, j int) bool {
		if ms[i].JoinedAt != ms[j].JoinedAt {
			return ms[i].JoinedAt < ms[j].JoinedAt
		}
		return ms[i].UID < ms[j].UID
	})
}

// Render returns the frame of a message: {"type":..,"room":..,"seq":..,<body>}.
func Render(room string, seq uint64, typ string, body []byte) []byte {
	head, tail := RenderParts(room, typ, body)
	b := make([]byte, 0, len(head)+20+len(tail))
	b = append(b, head...)
	b = strconv.AppendUint(b, seq, 10)
	return append(b, tail...)
}

// RenderParts splits a frame around its seq, for buses that assign the
// number where the frame is published (a Redis script): the frame is
// head + seq + tail.
func RenderParts(room, typ string, body []byte) (head, tail []byte) {
	head = make([]byte, 0, 32+len(typ)+len(room))
	head = append(head, `{"type":"`...)
	head = append(head, typ...)
	head = append(head, `","room":`...)
	head = appendString(head, room)
	head = append(head, `,"seq":`...)
	tail = make([]byte, 0, len(body)+2)
	if len(body) > 0 {
		tail = append(tail, ',')
		tail = append(tail, body...)
	}
	return head, append(tail, '}')
}

// JoinMessage is the message announcing m.
func JoinMessage(m Member) Message {
	b := make([]byte, 0, 64+len(m.Name))
	b = append(b, `"member":{"uid":`...)
	b = strconv.AppendUint(b, uint64(m.UID), 10)
	b = append(b, `,"name":`...)
	b = appendString(b, m.Name)
	b = append(b, `,"joined_at":`...)
	b = strconv.AppendInt(b, m.JoinedAt, 10)
	b = append(b, '}')
	return Message{Type: TypeJoin, UID: m.UID, Body: b}
}

// LeaveMessage is the message announcing that uid left for reason.
func LeaveMessage(uid uint32, reason string) Message {
	b := make([]byte, 0, 40)
	b = append(b, `"uid":`...)
	b = strconv.AppendUint(b, uint64(uid), 10)
	b = append(b, `,"reason":`...)
	b = appendString(b, reason)
	return Message{Type: TypeLeave, UID: uid, Reason: reason, Body: b}
}

// SignalMessage relays data, a compact JSON object, from uid.
func SignalMessage(from uint32, data []byte) Message {
	b := make([]byte, 0, 24+len(data))
	b = append(b, `"from":`...)
	b = strconv.AppendUint(b, uint64(from), 10)
	b = append(b, `,"data":`...)
	b = append(b, data...)
	return Message{Type: TypeSignal, UID: from, Body: b}
}

// SnapshotFrame renders a snapshot.
func SnapshotFrame(room string, s Snapshot) []byte {
	members := s.Members
	if members == nil {
		members = []Member{}
	}
	body, _ := json.Marshal(members) // Member cannot fail to marshal
	b := make([]byte, 0, len(body)+12)
	b = append(b, `"members":`...)
	b = append(b, body...)
	return Render(room, s.Seq, TypeSnapshot, b)
}

// appendString appends s as a JSON string. Room names and reasons are plain
// ASCII and take the fast path; anything else goes through encoding/json.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
