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

// History is the durable record of room use. Every method is scoped to an
// organization.
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
}
