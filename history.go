package roomhub

import (
	"context"
	"time"
)

// RoomSession is one continuous use of a room: from its first member's
// join to its last member's leave. EndedAt is zero while the session is live.
type RoomSession struct {
	ID        int64
	OrgID     int64
	Room      string
	StartedAt time.Time
	EndedAt   time.Time
	Members   int   // present now (0 once ended)
	Peak      int   // most members present at once
	MemberMs  int64 // summed time in the room of every member who left
}

// Live reports whether the session has not ended.
func (s RoomSession) Live() bool { return s.EndedAt.IsZero() }

// MemberMinutes is the session's total attendance in whole minutes.
func (s RoomSession) MemberMinutes() int64 { return s.MemberMs / 60000 }

// SessionFilter selects room sessions, newest first. Before pages: only
// sessions with a smaller id are returned.
type SessionFilter struct {
	Room   string    // exact room name, or all rooms
	Since  time.Time // started at or after, if set
	Before int64     // id cursor, if > 0
	Limit  int       // at most MaxSessionPage
}

// MaxSessionPage bounds one page of room history.
const MaxSessionPage = 100

// Activity is what the activity recorder reports for one membership change:
// what it changed in the room's session, for the live feed and webhooks.
type Activity struct {
	Session RoomSession
	Started bool // this join opened the session
	Ended   bool // this leave closed it
	Name    string
	Joined  time.Time // the member's join, for leaves
}

// Change is one membership change for RecordChanges: a join when Reason
// is empty, else a leave.
type Change struct {
	OrgID  int64
	Room   string
	UID    uint32
	Name   string // joins
	Reason string // leaves
	At     time.Time
}

// RoomSettings are a room's moderation settings.
type RoomSettings struct {
	Locked     bool // no new members
	MaxMembers int  // 0: the node's limit
}

// MaxRoomMembersSetting bounds the member limit a moderator may set; the
// node's own limit applies on top.
const MaxRoomMembersSetting = 1000

// RoomInvite is a link that admits its holder to one room of one
// organization until it expires or its uses run out.
type RoomInvite struct {
	ID        int64
	OrgID     int64
	Room      string
	CreatedBy string // actor name, kept after the user is gone
	CreatedAt time.Time
	ExpiresAt time.Time
	MaxUses   int // 0: unlimited until expiry
	Uses      int
	Revoked   bool
}

// Usable reports whether the invite admits one more person at now.
func (i RoomInvite) Usable(now time.Time) bool {
	return !i.Revoked && now.Before(i.ExpiresAt) && (i.MaxUses == 0 || i.Uses < i.MaxUses)
}

// History is the durable record of room use and the rooms' moderation
// settings. Every method is scoped to an organization.
type History interface {
	// RecordJoin counts a member into the room's live session, opening one
	// if there is none. A member already counted (a rename) changes nothing.
	RecordJoin(ctx context.Context, orgID int64, room string, uid uint32, name string, at time.Time) (Activity, bool, error)
	// RecordLeave counts a member out, closing the session when it was the
	// last; false if the member was not counted in.
	RecordLeave(ctx context.Context, orgID int64, room string, uid uint32, reason string, at time.Time) (Activity, bool, error)
	// RecordChanges records several joins and leaves, in order, in one
	// transaction: all of them or, on error, none.
	RecordChanges(ctx context.Context, changes []Change) error
	ListSessions(ctx context.Context, orgID int64, f SessionFilter) ([]RoomSession, error)
	// PeaksOn returns each room's peak concurrency on the UTC day of t.
	PeaksOn(ctx context.Context, orgID int64, t time.Time) (map[string]int, error)

	RoomSettings(ctx context.Context, orgID int64, room string) (RoomSettings, error)
	SetRoomSettings(ctx context.Context, orgID int64, room string, rs RoomSettings) error

	// CreateRoomInvite stores an invite whose token hashes to hash.
	CreateRoomInvite(ctx context.Context, inv RoomInvite, hash string) (RoomInvite, error)
	// UseRoomInvite takes one use of the invite of org with hash, ENOTFOUND
	// if it is unknown, expired, revoked or used up.
	UseRoomInvite(ctx context.Context, orgID int64, hash string, now time.Time) (RoomInvite, error)
	ListRoomInvites(ctx context.Context, orgID int64, room string) ([]RoomInvite, error)
	RevokeRoomInvite(ctx context.Context, orgID, id int64) error

	// BanFromRoom keeps a participant session out of a room until the
	// given time (a kick).
	BanFromRoom(ctx context.Context, orgID int64, room, sessionID string, until time.Time) error
	// BannedFromRoom reports whether the session is kept out at now.
	BannedFromRoom(ctx context.Context, orgID int64, room, sessionID string, now time.Time) (bool, error)
}
