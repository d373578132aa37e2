package roomhub

import (
	"context"
	"time"
)

// Video is what Roomhub knows about the Agora side of its rooms: each
// organization's Agora REST and Notifications settings, who is in each
// room's video channel (from Agora's channel events), and the removals
// Roomhub asked Agora for. The video package uses it; the SQL store
// implements it.
type Video interface {
	// VideoSettings returns the organization's settings; none saved yet is
	// the zero value.
	VideoSettings(ctx context.Context, orgID int64) (VideoSettings, error)
	SaveVideoSettings(ctx context.Context, st VideoSettings) error

	// FirstNotice records an Agora notification id; first is false when
	// it was recorded before (Agora delivers some notifications twice).
	FirstNotice(ctx context.Context, orgID int64, noticeID string, at time.Time) (first bool, err error)
	// PruneNotices forgets notification ids recorded before before.
	PruneNotices(ctx context.Context, before time.Time) error

	// RecordVideo sets whether uid is in the room's video channel, unless
	// an event of that user with a client sequence at least seq was
	// recorded already (events arrive out of order); applied says which.
	RecordVideo(ctx context.Context, orgID int64, room string, uid uint32, in bool, seq int64, at time.Time) (applied bool, err error)
	// InVideo lists the uids in the room's video channel with the time
	// each joined it.
	InVideo(ctx context.Context, orgID int64, room string) ([]VideoPresence, error)

	// AddVideoAction records a removal asked of Agora, pending.
	AddVideoAction(ctx context.Context, a VideoAction) (int64, error)
	// FinishVideoAction records the outcome of a pending action.
	FinishVideoAction(ctx context.Context, orgID, id int64, status, errMsg string, at time.Time) error
	// ExpireVideoActions fails, with errMsg, every action still pending
	// that was created before before: the node working it stopped.
	ExpireVideoActions(ctx context.Context, before time.Time, errMsg string, at time.Time) (int64, error)
	// ListVideoActions returns the organization's latest actions, newest first.
	ListVideoActions(ctx context.Context, orgID int64, limit int) ([]VideoAction, error)
}

// VideoSettings are an organization's Agora Channel Management (REST) and
// Notifications settings. The two secrets are sealed under APP_MASTER_KEY,
// each bound to its column of the organization's row, and never shown again.
type VideoSettings struct {
	OrgID          int64
	CustomerID     string
	CustomerSecret string // sealed
	NCSSecret      string // sealed
	// RemoveIntruders makes Roomhub remove, with a kicking rule, any uid
	// that joins a room's video with no member behind it.
	RemoveIntruders bool
	UpdatedAt       time.Time
}

// VideoPresence is a uid in a room's video channel.
type VideoPresence struct {
	UID   uint32
	Since time.Time
}

// Video action kinds and statuses.
const (
	VideoKick     = "kick"     // a moderator kicked the member
	VideoClose    = "close"    // a moderator closed the room
	VideoIntruder = "intruder" // a uid with no member behind it, removed automatically

	VideoPending = "pending"
	VideoRemoved = "removed"
	VideoFailed  = "failed"
)

// VideoAction is a removal from a room's video asked of Agora (a kicking
// rule) and its outcome.
type VideoAction struct {
	ID        int64
	OrgID     int64
	Room      string
	UID       uint32
	Name      string // the member's name, "" for an intruder
	Kind      string
	Status    string
	Error     string
	CreatedAt time.Time
	UpdatedAt time.Time
}
