package video

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"roomhub"
	"roomhub/agora"
	"roomhub/clock"
	"roomhub/hub"
	"roomhub/secret"
)

// Defaults of Config.
const (
	// DefaultIntruderGrace is how long a uid may be in the video before its
	// member appears in the room: the page joins the video right after
	// create_member, and the two reach Roomhub by different roads.
	DefaultIntruderGrace = 5 * time.Second
	// NoticeMaxAge refuses notifications older than the deduplication
	// memory, so a captured one cannot be replayed once its id is pruned.
	NoticeMaxAge = 24 * time.Hour
	// MaxErrorLen bounds an outcome's stored error.
	MaxErrorLen = 300
)

// Config is the server's own Agora settings, which serve the default
// organization and every organization that uses the server's Agora
// project (no App ID of its own).
type Config struct {
	CustomerID     string // AGORA_CUSTOMER_ID
	CustomerSecret string // AGORA_CUSTOMER_SECRET
	NCSSecret      string // AGORA_NCS_SECRET
	APIURL         string // AGORA_API_URL
	QueueSize      int    // AGORA_QUEUE_SIZE
	Rate           int    // AGORA_API_RATE, calls per second per account
	// TokenTTL is AGORA_TOKEN_TTL: a removal's rule lasts at least as long,
	// so a removed uid cannot come back with the token it still holds.
	TokenTTL      time.Duration
	IntruderGrace time.Duration
}

// Roster is what the service needs of the hub.
type Roster interface {
	Member(ctx context.Context, k hub.Key, uid uint32) (hub.Member, error)
	AnnounceRoom(ctx context.Context, k hub.Key)
	PublishVideo(ctx context.Context, k hub.Key, uid uint32, in bool) error
}

// Store is what the service needs of the database.
type Store interface {
	roomhub.Video
	AppendAudit(ctx context.Context, e roomhub.AuditEntry) error
	EnqueueWebhook(ctx context.Context, orgID int64, eventID, typ string, payload []byte, at time.Time) error
	OrgByID(ctx context.Context, id int64) (roomhub.Org, error)
	ListRooms(ctx context.Context, orgID int64) ([]roomhub.Room, error)
}

// Stats are the service's counters, for metrics.
type Stats struct {
	Intruders   atomic.Int64 // uids found in a video with no member behind them
	Removed     atomic.Int64 // kicking rules Agora accepted
	Failed      atomic.Int64 // removals that failed for good
	NoticesOK   atomic.Int64 // notifications accepted (duplicates included)
	Unsigned    atomic.Int64 // refused: no or a wrong signature
	Malformed   atomic.Int64 // refused: not a notification, or too old
	Unconfigure atomic.Int64 // refused: no notification secret set
}

// Service connects rooms to their Agora channels.
type Service struct {
	cfg    Config
	store  Store
	tokens *agora.Tenants
	box    *secret.Box
	roster Roster
	clk    clock.Clock
	log    *slog.Logger
	queue  *Queue
	Stats  Stats
}

// New makes the service; Run starts its queue.
func New(cfg Config, st Store, tokens *agora.Tenants, box *secret.Box, roster Roster, clk clock.Clock, log *slog.Logger) *Service {
	s := &Service{cfg: cfg, store: st, tokens: tokens, box: box, roster: roster, clk: clk, log: log}
	s.queue = NewQueue(&Client{BaseURL: cfg.APIURL}, clk, cfg.QueueSize, cfg.Rate, log, s.finished)
	return s
}

// Run works the removal queue, and forgets old notification ids, until
// ctx ends.
func (s *Service) Run(ctx context.Context) {
	s.prune(ctx)
	s.queue.Run(ctx)
}

// SecretAAD binds a sealed secret of video_settings to its column and row.
func SecretAAD(column string, org int64) string {
	return secret.AAD(roomhub.SealedSecret{Table: "video_settings", Column: column, ID: org})
}

// Setup is what an organization has configured, for the Settings page.
type Setup struct {
	Project  bool   // an App ID and certificate, its own or the server's
	OwnApp   bool   // its own Agora project
	REST     bool   // Customer ID and Secret: kicks reach the video
	NCS      bool   // a notification secret: who is in the video is known
	Endpoint string // where Agora must send this organization's notifications
	Missing  []string
	Settings roomhub.VideoSettings
}

// Setup reports what org has configured and what is missing.
func (s *Service) Setup(ctx context.Context, org roomhub.Org, defaultOrg bool) (Setup, error) {
	var su Setup
	st, err := s.store.VideoSettings(ctx, org.ID)
	if err != nil {
		return su, err
	}
	su.Settings = st
	m, err := s.tokens.For(ctx, org.ID)
	if err != nil {
		return su, err
	}
	su.Project, su.OwnApp = m.Configured(), m != s.tokens.Default
	shared := !su.OwnApp
	su.REST = st.CustomerID != "" && st.CustomerSecret != "" || shared && s.cfg.CustomerID != "" && s.cfg.CustomerSecret != ""
	su.NCS = st.NCSSecret != "" || shared && s.cfg.NCSSecret != ""
	su.Endpoint = "/agora/ncs"
	if su.OwnApp || st.NCSSecret != "" {
		su.Endpoint = "/o/" + org.Slug + "/agora/ncs"
	}
	if !su.Project {
		su.Missing = append(su.Missing, "an Agora App ID and certificate (video itself)")
	}
	if !su.REST {
		su.Missing = append(su.Missing, "the Customer ID and Customer Secret (kicks and closed rooms reach the video)")
	}
	if !su.NCS {
		su.Missing = append(su.Missing, "the notification secret (Roomhub learns who is in the video and spots intruders)")
	}
	return su, nil
}

// account returns the REST credentials and App ID serving org; ok is false
// when kicks cannot reach Agora.
func (s *Service) account(ctx context.Context, org int64) (acct Account, appID string, ok bool, err error) {
	m, err := s.tokens.For(ctx, org)
	if err != nil || !m.Configured() {
		return acct, "", false, err
	}
	st, err := s.store.VideoSettings(ctx, org)
	if err != nil {
		return acct, "", false, err
	}
	switch {
	case st.CustomerID != "" && st.CustomerSecret != "":
		sec, err := s.box.Open(st.CustomerSecret, SecretAAD("customer_secret", org))
		if err != nil {
			return acct, "", false, err
		}
		acct = Account{CustomerID: st.CustomerID, CustomerSecret: sec}
	case m == s.tokens.Default && s.cfg.CustomerID != "" && s.cfg.CustomerSecret != "":
		acct = Account{CustomerID: s.cfg.CustomerID, CustomerSecret: s.cfg.CustomerSecret}
	default:
		return acct, "", false, nil
	}
	return acct, m.AppID, true, nil
}

// ruleFor is how long a removal keeps a uid out: at least the token's
// lifetime, so the token it holds is useless when the rule expires.
func (s *Service) ruleFor(d time.Duration) time.Duration { return max(d, s.cfg.TokenTTL) }

// Remove asks Agora, in the background, to remove uid from the room's
// video for at least d. It returns at once; without REST credentials it
// does nothing (queued is false). The outcome is recorded, audited and
// announced to the organization's live page.
func (s *Service) Remove(ctx context.Context, k hub.Key, uid uint32, name, kind string, d time.Duration) (queued bool, err error) {
	acct, appID, ok, err := s.account(ctx, k.Org)
	if err != nil || !ok {
		return false, err
	}
	now := s.clk.Now()
	id, err := s.store.AddVideoAction(ctx, roomhub.VideoAction{OrgID: k.Org, Room: k.Room, UID: uid, Name: name, Kind: kind, Status: roomhub.VideoPending, CreatedAt: now})
	if err != nil {
		return false, err
	}
	j := Job{Org: k.Org, Room: k.Room, Channel: s.tokens.Default.Channel(k.Org, k.Room), AppID: appID, UID: uid, Rule: s.ruleFor(d), Account: acct, Action: id}
	if !s.queue.Add(j) {
		s.finished(j, ErrQueueFull)
		return false, nil
	}
	s.roster.AnnounceRoom(ctx, hub.Key{Org: k.Org, Room: FeedTarget})
	return true, nil
}

// RemoveRoom removes every uid in the room's video and every member
// listed, for a closed room.
func (s *Service) RemoveRoom(ctx context.Context, k hub.Key, members []hub.Member, d time.Duration) error {
	seen := map[uint32]bool{}
	for _, m := range members {
		seen[m.UID] = true
		if _, err := s.Remove(ctx, k, m.UID, m.Name, roomhub.VideoClose, d); err != nil {
			return err
		}
	}
	in, err := s.store.InVideo(ctx, k.Org, k.Room)
	if err != nil {
		return err
	}
	for _, p := range in {
		if !seen[p.UID] {
			if _, err := s.Remove(ctx, k, p.UID, "", roomhub.VideoClose, d); err != nil {
				return err
			}
		}
	}
	return nil
}

// FeedTarget is the live feed's target for a change of the video panel of
// an organization's live page; '#' keeps it apart from every room name.
const FeedTarget = "#video"

func (s *Service) finished(j Job, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	now := s.clk.Now()
	status, msg := roomhub.VideoRemoved, ""
	if err != nil {
		status, msg = roomhub.VideoFailed, err.Error()
		if len(msg) > MaxErrorLen {
			msg = msg[:MaxErrorLen]
		}
		s.Stats.Failed.Add(1)
		s.log.Error("video removal failed", "org", j.Org, "room", j.Room, "uid", j.UID, "err", err)
	} else {
		s.Stats.Removed.Add(1)
	}
	if err := s.store.FinishVideoAction(ctx, j.Org, j.Action, status, msg, now); err != nil {
		s.log.Error("video removal not recorded", "org", j.Org, "action", j.Action, "err", err)
	}
	uid := strconv.FormatUint(uint64(j.UID), 10)
	desc := "removed from the video by an Agora kicking rule (" + j.Rule.String() + ")"
	if err != nil {
		desc = "video removal failed: " + msg
	}
	s.audit(ctx, roomhub.AuditEntry{OrgID: j.Org, At: now, ActorID: "system:agora", ActorName: "Agora", Action: "video.remove",
		ObjectType: "member", ObjectID: j.Room + "/" + uid, Description: desc, Success: err == nil,
		Extra: map[string]any{"rule_seconds": int(j.Rule / time.Second)}})
	s.roster.AnnounceRoom(ctx, hub.Key{Org: j.Org, Room: FeedTarget})
}

func (s *Service) audit(ctx context.Context, e roomhub.AuditEntry) {
	if err := s.store.AppendAudit(ctx, e); err != nil {
		s.log.Error("audit failed", "action", e.Action, "err", err)
	}
}

// Room names the room of a channel. endpointOrg is the organization whose
// notification URL received it: the default organization's URL serves the
// server's Agora project, whose channels belong to the default
// organization (the room's own name) or to an organization without its own
// project ("o<id>-<room>"). Another organization's URL serves its own
// project, whose channels all carry its prefix.
func (s *Service) Room(ctx context.Context, endpointOrg, defaultOrg int64, channel string) (hub.Key, bool) {
	org := defaultOrg
	rest := channel
	if id, r, ok := prefixed(channel); ok {
		org, rest = id, r
	}
	if endpointOrg != defaultOrg && org != endpointOrg {
		return hub.Key{}, false
	}
	if endpointOrg == defaultOrg && org != defaultOrg {
		// Only organizations on the server's project send here.
		if m, err := s.tokens.For(ctx, org); err != nil || m != s.tokens.Default {
			return hub.Key{}, false
		}
	}
	if org == defaultOrg && channel == rest {
		return hub.Key{Org: org, Room: channel}, roomhub.ValidateRoom(channel) == nil
	}
	if s.tokens.Default.Channel(org, rest) == channel && roomhub.ValidateRoom(rest) == nil {
		return hub.Key{Org: org, Room: rest}, true
	}
	// A hashed long name: find the room in use that maps to it.
	rooms, err := s.store.ListRooms(ctx, org)
	if err != nil {
		return hub.Key{}, false
	}
	for _, r := range rooms {
		if s.tokens.Default.Channel(org, r.Name) == channel {
			return hub.Key{Org: org, Room: r.Name}, true
		}
	}
	return hub.Key{}, false
}

// prefixed splits "o<id>-<rest>".
func prefixed(channel string) (int64, string, bool) {
	if !strings.HasPrefix(channel, "o") {
		return 0, "", false
	}
	i := strings.IndexByte(channel, '-')
	if i < 2 {
		return 0, "", false
	}
	id, err := strconv.ParseInt(channel[1:i], 10, 64)
	if err != nil || id <= 0 || strconv.FormatInt(id, 10) != channel[1:i] {
		return 0, "", false
	}
	return id, channel[i+1:], true
}

// intruder is a uid found in a room's video with no member behind it.
func (s *Service) intruder(ctx context.Context, k hub.Key, uid uint32) {
	s.Stats.Intruders.Add(1)
	now := s.clk.Now()
	u := strconv.FormatUint(uint64(uid), 10)
	s.log.Warn("video intruder", "security", true, "event", "video_intruder", "org", k.Org, "room", k.Room, "uid", uid)
	st, err := s.store.VideoSettings(ctx, k.Org)
	if err != nil {
		s.log.Error("video settings unreadable", "org", k.Org, "err", err)
	}
	s.audit(ctx, roomhub.AuditEntry{OrgID: k.Org, At: now, ActorID: "system:agora", ActorName: "Agora", Action: "video.intruder",
		ObjectType: "member", ObjectID: k.Room + "/" + u, Description: "uid " + u + " is in the video with no member behind it",
		Success: false, Extra: map[string]any{"remove": st.RemoveIntruders}})
	if org, err := s.store.OrgByID(ctx, k.Org); err == nil {
		ev := roomhub.WebhookEvent{ID: roomhub.NewWebhookEventID(), Type: roomhub.EventVideoIntruder, CreatedAt: now.UnixMilli(), Org: org.Slug,
			Data: map[string]any{"room": k.Room, "uid": uid, "removing": st.RemoveIntruders, "detected_at": now.UnixMilli()}}
		payload, _ := json.Marshal(ev)
		if err := s.store.EnqueueWebhook(ctx, k.Org, ev.ID, ev.Type, payload, now); err != nil {
			s.log.Error("intruder webhook not queued", "org", k.Org, "err", err)
		}
	}
	if st.RemoveIntruders {
		if _, err := s.Remove(ctx, k, uid, "", roomhub.VideoIntruder, 0); err != nil {
			s.log.Error("intruder not removed", "org", k.Org, "room", k.Room, "uid", uid, "err", err)
		}
	}
	s.roster.AnnounceRoom(ctx, k)
}

// checkIntruder declares uid an intruder if, after the grace, it is still
// in the room's video and still no member.
func (s *Service) checkIntruder(k hub.Key, uid uint32) {
	s.clk.AfterFunc(s.cfg.IntruderGrace, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := s.roster.Member(ctx, k, uid); err == nil || roomhub.ErrorCode(err) != roomhub.ENOTFOUND {
			return
		}
		in, err := s.store.InVideo(ctx, k.Org, k.Room)
		if err != nil {
			return
		}
		for _, p := range in {
			if p.UID == uid {
				s.intruder(ctx, k, uid)
				return
			}
		}
	})
}

// View is the video side of a room for the live page.
type View struct {
	Known     bool            // notifications are configured: the state is meaningful
	InVideo   map[uint32]bool // members in the video
	Intruders []roomhub.VideoPresence
}

// RoomView reads who is in the room's video, given its members.
func (s *Service) RoomView(ctx context.Context, k hub.Key, members []hub.Member) (View, error) {
	v := View{InVideo: map[uint32]bool{}}
	known, err := s.notified(ctx, k.Org)
	if err != nil || !known {
		return v, err
	}
	v.Known = true
	in, err := s.store.InVideo(ctx, k.Org, k.Room)
	if err != nil {
		return v, err
	}
	member := map[uint32]bool{}
	for _, m := range members {
		member[m.UID] = true
	}
	for _, p := range in {
		if member[p.UID] {
			v.InVideo[p.UID] = true
		} else if s.clk.Now().Sub(p.Since) >= s.cfg.IntruderGrace {
			v.Intruders = append(v.Intruders, p)
		}
	}
	return v, nil
}

// notified reports whether Agora's notifications reach Roomhub for org:
// its own secret, or the server's for an organization on its project.
func (s *Service) notified(ctx context.Context, org int64) (bool, error) {
	st, err := s.store.VideoSettings(ctx, org)
	if err != nil || st.NCSSecret != "" {
		return st.NCSSecret != "", err
	}
	if s.cfg.NCSSecret == "" {
		return false, nil
	}
	m, err := s.tokens.For(ctx, org)
	return err == nil && m == s.tokens.Default, err
}

// Actions lists the organization's latest removals.
func (s *Service) Actions(ctx context.Context, org int64, limit int) ([]roomhub.VideoAction, error) {
	return s.store.ListVideoActions(ctx, org, limit)
}

// Describe says an action's outcome as the live page shows it.
func Describe(a roomhub.VideoAction) string {
	switch a.Status {
	case roomhub.VideoRemoved:
		return "removed from video"
	case roomhub.VideoFailed:
		return "video removal failed: " + a.Error
	}
	return fmt.Sprintf("removing from video since %s", a.CreatedAt.Format("15:04:05"))
}

// Settings returns the organization's stored settings (secrets sealed).
func (s *Service) Settings(ctx context.Context, org int64) (roomhub.VideoSettings, error) {
	return s.store.VideoSettings(ctx, org)
}

// SaveSettings stores them; secrets must be sealed with SecretAAD.
func (s *Service) SaveSettings(ctx context.Context, st roomhub.VideoSettings) error {
	return s.store.SaveVideoSettings(ctx, st)
}
