package video

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"time"

	"roomhub"
)

// DefaultMaxNoticeBytes bounds a notification's body (AGORA_NCS_MAX_BYTES):
// Agora's channel events are a few hundred bytes.
const DefaultMaxNoticeBytes = 16 << 10

// Channel event types of Agora's Notifications (RTC): a user joining or
// leaving, as a host (103/104), an audience member (105/106) or in the
// communication profile the room page uses (107/108).
var (
	joinEvents  = map[int]bool{103: true, 105: true, 107: true}
	leaveEvents = map[int]bool{104: true, 106: true, 108: true}
)

// Refusals of a notification, as the HTTP layer answers them.
var (
	ErrNotConfigured = roomhub.Errorf(roomhub.ENOTFOUND, "Agora notifications are not configured here.")
	ErrBadSignature  = roomhub.Errorf(roomhub.EUNAUTHORIZED, "The Agora-Signature-V2 header is missing or does not match the body.")
	ErrNotANotice    = roomhub.Invalid("body", "The body is not an Agora notification.")
	ErrStaleNotice   = roomhub.Invalid("notifyMs", "The notification is too old.")
)

// notice is the part of a notification Roomhub reads.
type notice struct {
	NoticeID  string `json:"noticeId"`
	EventType int    `json:"eventType"`
	NotifyMs  int64  `json:"notifyMs"`
	Payload   struct {
		ChannelName string  `json:"channelName"`
		UID         *uint32 `json:"uid"`
		ClientSeq   int64   `json:"clientSeq"`
	} `json:"payload"`
}

// ncsSecret is the notification secret of an endpoint's organization.
func (s *Service) ncsSecret(ctx context.Context, org int64, isDefault bool) (string, error) {
	st, err := s.store.VideoSettings(ctx, org)
	if err != nil {
		return "", err
	}
	if st.NCSSecret != "" {
		return s.box.Open(st.NCSSecret, SecretAAD("ncs_secret", org))
	}
	if isDefault {
		return s.cfg.NCSSecret, nil
	}
	return "", nil
}

// Verify reports whether sigV2 is the hex HMAC-SHA256 of body under secret.
func Verify(secret string, body []byte, sigV2 string) bool {
	got, err := hex.DecodeString(strings.TrimSpace(sigV2))
	if err != nil || len(got) != sha256.Size || secret == "" {
		return false
	}
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return hmac.Equal(got, m.Sum(nil))
}

// Notify handles a notification POSTed to the endpoint of org (the default
// organization's endpoint serves the server's Agora project). It returns a
// refusal error for anything not signed with the organization's secret,
// not a notification, or older than NoticeMaxAge; duplicates and events
// Roomhub does not follow are accepted and ignored, so Agora stops
// resending them.
func (s *Service) Notify(ctx context.Context, org, defaultOrg int64, body []byte, sigV2 string) error {
	secret, err := s.ncsSecret(ctx, org, org == defaultOrg)
	if err != nil {
		return err
	}
	if secret == "" {
		s.Stats.Unconfigure.Add(1)
		return ErrNotConfigured
	}
	if !Verify(secret, body, sigV2) {
		s.Stats.Unsigned.Add(1)
		return ErrBadSignature
	}
	var n notice
	if err := json.Unmarshal(body, &n); err != nil || n.NoticeID == "" || len(n.NoticeID) > 128 || n.EventType == 0 {
		s.Stats.Malformed.Add(1)
		return ErrNotANotice
	}
	now := s.clk.Now()
	if n.NotifyMs > 0 && now.Sub(time.UnixMilli(n.NotifyMs)) > NoticeMaxAge {
		s.Stats.Malformed.Add(1)
		return ErrStaleNotice
	}
	s.Stats.NoticesOK.Add(1)
	first, err := s.store.FirstNotice(ctx, org, n.NoticeID, now)
	if err != nil || !first {
		return err
	}
	join, leave := joinEvents[n.EventType], leaveEvents[n.EventType]
	if !join && !leave || n.Payload.UID == nil || *n.Payload.UID == 0 {
		return nil
	}
	k, ok := s.Room(ctx, org, defaultOrg, n.Payload.ChannelName)
	if !ok {
		s.log.Warn("agora notification for an unknown channel", "org", org, "channel", n.Payload.ChannelName)
		return nil
	}
	uid := *n.Payload.UID
	applied, err := s.store.RecordVideo(ctx, k.Org, k.Room, uid, join, n.Payload.ClientSeq, now)
	if err != nil || !applied {
		return err
	}
	if err := s.roster.PublishVideo(ctx, k, uid, join); err != nil {
		s.log.Error("video change not published", "room", k.String(), "err", err)
	}
	s.roster.AnnounceRoom(ctx, k)
	if join {
		s.checkIntruder(k, uid)
	}
	return nil
}

// Prune forgets notification ids older than NoticeMaxAge.
func (s *Service) Prune(ctx context.Context) error {
	return s.store.PruneNotices(ctx, s.clk.Now().Add(-NoticeMaxAge))
}
