// Package roomhub holds the domain types shared by every part of Roomhub:
// organizations, members, participant sessions, audit entries, the errors the
// HTTP layer maps to statuses, and the validation rules for user input.
//
// Implementations live in their own packages (hub, store/..., server) and only
// cmd/roomhub knows them all.
package roomhub

import (
	"context"
	"time"
)

// DefaultOrgSlug names the organization created on first start; its
// participant routes are served at "/".
const DefaultOrgSlug = "default"

// Org is a tenant. Every room, member and audit row belongs to exactly one.
type Org struct {
	ID        int64
	Slug      string
	Name      string
	CreatedAt time.Time
}

// Member is a participant present in a room of an organization.
type Member struct {
	OrgID     int64
	Room      string
	UID       uint32
	Name      string
	SessionID string // the participant session that created the member
	JoinedAt  time.Time
}

// Grant records that a participant session was issued a uid for a room by
// get_token. Only the session holding the grant may create, delete or connect
// as that member.
type Grant struct {
	OrgID    int64     `json:"org"`
	Room     string    `json:"room"`
	UID      uint32    `json:"uid"`
	IssuedAt time.Time `json:"issued_at"`
}

// MaxSessionGrants bounds how many rooms one browser session can hold a uid
// in at once (several tabs in several rooms); the oldest grant is dropped.
const MaxSessionGrants = 8

// Session is a server-side participant session. ID is the SHA-256 of the
// cookie value, so a leaked database does not leak usable cookies.
type Session struct {
	ID     string
	Grants []Grant
	// Passes admit the session to locked rooms: each was taken from a room
	// invite link.
	Passes    []Pass
	CreatedAt time.Time
	LastSeen  time.Time
	ExpiresAt time.Time
}

// Pass records that a session redeemed an invite link of a room.
type Pass struct {
	OrgID     int64     `json:"org_id"`
	Room      string    `json:"room"`
	ExpiresAt time.Time `json:"expires_at"`
}

// MaxSessionPasses bounds the invite passes one session holds; the oldest
// is dropped.
const MaxSessionPasses = 8

// HasPass reports whether the session may enter room of org while it is
// locked.
func (s *Session) HasPass(orgID int64, room string, now time.Time) bool {
	for _, p := range s.Passes {
		if p.OrgID == orgID && p.Room == room && now.Before(p.ExpiresAt) {
			return true
		}
	}
	return false
}

// AddPass records p, replacing an older pass for the same room.
func (s *Session) AddPass(p Pass) {
	out := s.Passes[:0]
	for _, q := range s.Passes {
		if q.OrgID != p.OrgID || q.Room != p.Room {
			out = append(out, q)
		}
	}
	out = append(out, p)
	if len(out) > MaxSessionPasses {
		out = out[len(out)-MaxSessionPasses:]
	}
	s.Passes = out
}

// Grant returns the session's grant for uid in room of org, if any.
func (s *Session) Grant(orgID int64, room string, uid uint32) (Grant, bool) {
	for _, g := range s.Grants {
		if g.OrgID == orgID && g.Room == room && g.UID == uid {
			return g, true
		}
	}
	return Grant{}, false
}

// RoomGrant returns the session's grant in room of org, if any: a session
// holds at most one uid per room.
func (s *Session) RoomGrant(orgID int64, room string) (Grant, bool) {
	for _, g := range s.Grants {
		if g.OrgID == orgID && g.Room == room {
			return g, true
		}
	}
	return Grant{}, false
}

// AddGrant records g, replacing an older grant for the same org and room and
// dropping the oldest grants beyond MaxSessionGrants.
func (s *Session) AddGrant(g Grant) {
	kept := s.Grants[:0]
	for _, old := range s.Grants {
		if old.OrgID == g.OrgID && old.Room == g.Room {
			continue
		}
		kept = append(kept, old)
	}
	kept = append(kept, g)
	if over := len(kept) - MaxSessionGrants; over > 0 {
		kept = kept[over:]
	}
	s.Grants = kept
}

// AuditEntry is one row of the audit log.
type AuditEntry struct {
	ID          int64
	OrgID       int64
	At          time.Time
	ActorID     string // user id, or "session:<prefix>" for a participant
	ActorName   string
	Action      string // e.g. "member.create", "member.delete.denied"
	ObjectType  string
	ObjectID    string
	Description string
	IP          string
	UserAgent   string
	Path        string
	Success     bool
	Extra       map[string]any
}

// Store is the durable state of Roomhub. Every method that touches tenant
// data takes the organization and filters by it.
type Store interface {
	// DefaultOrg returns the default organization, creating it if needed.
	DefaultOrg(ctx context.Context) (Org, error)
	OrgBySlug(ctx context.Context, slug string) (Org, error)
	CreateOrg(ctx context.Context, slug, name string) (Org, error)

	// PutMember inserts m, or replaces the name of the member with the same
	// org, room and uid. created reports whether it was new.
	PutMember(ctx context.Context, m Member) (created bool, err error)
	GetMember(ctx context.Context, orgID int64, room string, uid uint32) (Member, error)
	DeleteMember(ctx context.Context, orgID int64, room string, uid uint32) (deleted bool, err error)
	ListMembers(ctx context.Context, orgID int64, room string) ([]Member, error)
	// DeleteAllMembers empties the member table; a single node with
	// in-process presence calls it on start and on shutdown so that no member
	// outlives the process that knew about it.
	DeleteAllMembers(ctx context.Context) (int, error)

	GetSession(ctx context.Context, id string) (Session, error)
	SaveSession(ctx context.Context, s Session) error
	DeleteSession(ctx context.Context, id string) error
	DeleteExpiredSessions(ctx context.Context, now time.Time) (int, error)
	DeleteAllSessions(ctx context.Context) (int, error)

	AppendAudit(ctx context.Context, e AuditEntry) error
	ListAudit(ctx context.Context, orgID int64, limit int) ([]AuditEntry, error)

	Ping(ctx context.Context) error
	Close() error
}

// Room is a room of an organization with its current member count.
type Room struct {
	Name      string
	Members   int
	CreatedAt time.Time
}

// Rooms lists an organization's rooms, for the server API and dashboard.
type Rooms interface {
	// ListRooms returns the organization's rooms that have members now,
	// by name.
	ListRooms(ctx context.Context, orgID int64) ([]Room, error)
	// RoomExists reports whether the organization ever had the room.
	RoomExists(ctx context.Context, orgID int64, room string) (bool, error)
}
