package roomhub

import (
	"context"
	"time"
)

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

// Moderation is what moderators decide about a room: its settings, its
// invite links and the participant sessions kept out of it. Every method is
// scoped to an organization. The room package enforces the rules; this only
// stores them.
type Moderation interface {
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
