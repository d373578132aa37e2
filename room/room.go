// Package room holds the rules of a room: who is admitted, kicking a
// member, closing a room, locking it, its member limit and its invite
// links. The participant routes, the dashboard, the JSON API and the
// command line all call it, so a rule is written once; it knows nothing of
// HTTP. Who may call which rule (a moderator, an API key) is decided by the
// caller; what the rule does is decided here.
package room

import (
	"context"
	"log/slog"
	"time"

	"roomhub"
	"roomhub/clock"
	"roomhub/hub"
)

// KickBan is how long a kicked member's browser session is kept out of the
// room: a kick is a removal, not an invitation to reload the page. A
// moderator who wants them back sends an invite link... which does not lift
// the ban either: unlock or wait.
const KickBan = 15 * time.Minute

// Admission refusals, as participants read them.
var (
	errRoomLocked = roomhub.Errorf(roomhub.EFORBIDDEN, "This room is locked: ask its moderator for an invite link.")
	errKickedOut  = roomhub.Errorf(roomhub.EFORBIDDEN, "A moderator removed you from this room. You can join again later.")
)

// Members reads a room's members as the store keeps them: which browser
// session each belongs to.
type Members interface {
	GetMember(ctx context.Context, orgID int64, room string, uid uint32) (roomhub.Member, error)
}

// Node is the part of the hub the rules act on: presence, leaving and
// telling every node that a room's settings changed. *hub.Node implements it.
type Node interface {
	Member(ctx context.Context, k hub.Key, uid uint32) (hub.Member, error)
	Leave(ctx context.Context, k hub.Key, uid uint32, reason string) (bool, error)
	Snapshot(ctx context.Context, k hub.Key) (hub.Snapshot, error)
	AnnounceRoom(ctx context.Context, k hub.Key)
}

// Video is the room's Agora channel: a kick or a close must reach it too,
// or the person removed keeps talking with the token they hold.
// *video.Service implements it; removals are queued, so a rule never
// waits for Agora.
type Video interface {
	Remove(ctx context.Context, k hub.Key, uid uint32, name, kind string, d time.Duration) (queued bool, err error)
	RemoveRoom(ctx context.Context, k hub.Key, members []hub.Member, d time.Duration) error
}

// Deps are what the rules read and change.
type Deps struct {
	Members    Members
	Moderation roomhub.Moderation
	Node       Node
	Clock      clock.Clock
	// SecretKey is SECRET_KEY; invite links are signed with a key derived
	// from it.
	SecretKey string
	// Video is nil when the server does not moderate Agora channels: video
	// moderation is then left to tokens alone.
	Video Video
	// Log records removals that could not be queued.
	Log *slog.Logger
}

// Service applies the rules of rooms.
type Service struct {
	members    Members
	moderation roomhub.Moderation
	node       Node
	clock      clock.Clock
	inviteKey  []byte
	video      Video
	log        *slog.Logger
}

// New returns the rules over d.
func New(d Deps) *Service {
	c := d.Clock
	if c == nil {
		c = clock.Real{}
	}
	log := d.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Service{members: d.Members, moderation: d.Moderation, node: d.Node, clock: c, inviteKey: inviteKey(d.SecretKey),
		video: d.Video, log: log}
}

// Admit applies a room's moderation to a session asking for a token or
// joining with uid (0 for get_token): a session a moderator kicked is kept
// out for KickBan; a locked room takes only members already in it and
// sessions holding an invite pass. It returns the room's own member limit.
//
// get_token is checked as well as create_member: the Agora token is what
// opens the video channel, so a locked room must not hand one out.
func (s *Service) Admit(ctx context.Context, sess *roomhub.Session, key hub.Key, uid uint32) (int, error) {
	now := s.clock.Now()
	banned, err := s.moderation.BannedFromRoom(ctx, key.Org, key.Room, sess.ID, now)
	if err != nil {
		return 0, err
	}
	if banned {
		return 0, errKickedOut
	}
	rs, err := s.moderation.RoomSettings(ctx, key.Org, key.Room)
	if err != nil {
		return 0, err
	}
	if !rs.Locked || sess.HasPass(key.Org, key.Room, now) {
		return rs.MaxMembers, nil
	}
	if uid == 0 {
		if g, ok := sess.RoomGrant(key.Org, key.Room); ok {
			uid = g.UID // a member already in asks again (a reload)
		}
	}
	if uid != 0 {
		if _, err := s.node.Member(ctx, key, uid); err == nil {
			return rs.MaxMembers, nil
		}
	}
	return 0, errRoomLocked
}

// Kick removes a member with reason "kicked" and keeps their browser
// session out of the room for KickBan, and their uid out of the room's
// video channel as long (or the token's lifetime, if longer). left is false
// if uid was not in it.
func (s *Service) Kick(ctx context.Context, key hub.Key, uid uint32) (name string, left bool, err error) {
	m, gerr := s.members.GetMember(ctx, key.Org, key.Room, uid)
	left, err = s.node.Leave(ctx, key, uid, hub.ReasonKicked)
	if err != nil || !left {
		return "", left, err
	}
	s.videoKicked(ctx, key, uid, m.Name)
	if gerr == nil {
		if err := s.moderation.BanFromRoom(ctx, key.Org, key.Room, m.SessionID, s.clock.Now().Add(KickBan)); err != nil {
			return m.Name, true, err
		}
	}
	return m.Name, true, nil
}

// Close makes every present member leave with reason "closed", removes
// everyone in the room's video channel, members and not, and returns how
// many members left.
func (s *Service) Close(ctx context.Context, key hub.Key) (int, error) {
	snap, err := s.node.Snapshot(ctx, key)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, m := range snap.Members {
		left, err := s.node.Leave(ctx, key, m.UID, hub.ReasonClosed)
		if err != nil {
			return n, err
		}
		if left {
			n++
		}
	}
	s.videoClosed(ctx, key, snap.Members)
	// A closed meeting is over: the next one in this room starts unlocked
	// (its member limit stays). Invite passes already given still admit.
	if rs, err := s.moderation.RoomSettings(ctx, key.Org, key.Room); err != nil {
		return n, err
	} else if rs.Locked {
		rs.Locked = false
		if err := s.moderation.SetRoomSettings(ctx, key.Org, key.Room, rs); err != nil {
			return n, err
		}
	}
	return n, nil
}

// videoKicked queues a kicking rule for a kicked uid in the room's channel.
func (s *Service) videoKicked(ctx context.Context, key hub.Key, uid uint32, name string) {
	if s.video == nil {
		return
	}
	if _, err := s.video.Remove(ctx, key, uid, name, roomhub.VideoKick, KickBan); err != nil {
		s.log.Error("video removal not queued", "room", key.String(), "uid", uid, "err", err)
	}
}

// videoClosed queues the removal of everyone in a closed room's channel.
func (s *Service) videoClosed(ctx context.Context, key hub.Key, members []hub.Member) {
	if s.video == nil {
		return
	}
	if err := s.video.RemoveRoom(ctx, key, members, 0); err != nil {
		s.log.Error("video removals not queued", "room", key.String(), "err", err)
	}
}

// Settings returns a room's moderation settings; a room never configured
// is unlocked and has no limit of its own.
func (s *Service) Settings(ctx context.Context, key hub.Key) (roomhub.RoomSettings, error) {
	return s.moderation.RoomSettings(ctx, key.Org, key.Room)
}

// Change is what a moderator changes of a room's settings; nil leaves a
// setting as it is.
type Change struct {
	Locked     *bool
	MaxMembers *int
}

// ErrLimit refuses a member limit out of range.
var ErrLimit = roomhub.Invalid("max_members", "The member limit is a whole number from 0 (no limit of its own) to %d.", roomhub.MaxRoomMembersSetting)

// Configure locks or unlocks a room and sets its member limit, returning
// the settings before and after. The limit runs from 0 (the node's own) to
// roomhub.MaxRoomMembersSetting. Members already in a room stay when it is
// locked or its limit lowered: the rules apply to whoever joins next.
func (s *Service) Configure(ctx context.Context, key hub.Key, c Change) (old, rs roomhub.RoomSettings, err error) {
	if c.MaxMembers != nil && (*c.MaxMembers < 0 || *c.MaxMembers > roomhub.MaxRoomMembersSetting) {
		return old, rs, ErrLimit
	}
	old, err = s.moderation.RoomSettings(ctx, key.Org, key.Room)
	if err != nil {
		return old, rs, err
	}
	rs = old
	if c.Locked != nil {
		rs.Locked = *c.Locked
	}
	if c.MaxMembers != nil {
		rs.MaxMembers = *c.MaxMembers
	}
	if err := s.moderation.SetRoomSettings(ctx, key.Org, key.Room, rs); err != nil {
		return old, rs, err
	}
	return old, rs, nil
}

// Announce tells every node's live pages that a room's settings changed.
func (s *Service) Announce(ctx context.Context, key hub.Key) { s.node.AnnounceRoom(ctx, key) }
