package server

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"

	"roomhub"
	"roomhub/hub"
	"roomhub/video"
)

// Agora's side of the rooms (package video): the notification endpoint,
// the hooks that make kicks and closes reach the video, and what the live
// and settings pages show of it. Without Deps.Video all of it is inert.

// DefaultMaxNoticeBytes bounds a notification's body when
// AGORA_NCS_MAX_BYTES is unset.
const DefaultMaxNoticeBytes = video.DefaultMaxNoticeBytes

// MaxVideoActions is how many recent video removals the live page lists.
const MaxVideoActions = 10

// agoraNCS receives Agora's channel events: POST /agora/ncs for the
// server's Agora project, /o/{org}/agora/ncs for an organization's own.
// Only a body signed with the organization's notification secret
// (Agora-Signature-V2) is read; every refusal is logged as a security event
// and counted.
func (s *Server) agoraNCS(w http.ResponseWriter, r *http.Request) {
	st := reqState(r)
	if s.video == nil {
		s.fail(w, r, video.ErrNotConfigured)
		return
	}
	limit := s.cfg.AgoraNCSMaxBytes
	if limit <= 0 {
		limit = DefaultMaxNoticeBytes
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, int64(limit)))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			s.video.Stats.Malformed.Add(1)
			s.security(r, "agora_ncs_refused", "reason", "too_large", "org", st.org.ID)
			writeJSON(w, http.StatusRequestEntityTooLarge, errorBody{Error: "The notification is larger than this server accepts.", RequestID: st.id})
			return
		}
		s.fail(w, r, roomhub.Invalid("body", "The body could not be read."))
		return
	}
	if err := s.video.Notify(r.Context(), st.org.ID, s.defaultOrg.ID, body, r.Header.Get("Agora-Signature-V2")); err != nil {
		if c := roomhub.ErrorCode(err); c != roomhub.EUNAVAILABLE && c != roomhub.EINTERNAL {
			s.security(r, "agora_ncs_refused", "reason", c, "org", st.org.ID)
		}
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
}

// videoKicked makes a kick reach the video: a kicking rule keeps the uid
// out of the channel for KickBan (or the token's lifetime, if longer).
func (s *Server) videoKicked(ctx context.Context, key hub.Key, uid uint32, name string) {
	if s.video == nil {
		return
	}
	if _, err := s.video.Remove(ctx, key, uid, name, roomhub.VideoKick, KickBan); err != nil {
		s.log.Error("video removal not queued", "room", key.String(), "uid", uid, "err", err)
	}
}

// videoClosed removes everyone in a closed room's video, members and not.
func (s *Server) videoClosed(ctx context.Context, key hub.Key, members []hub.Member) {
	if s.video == nil {
		return
	}
	if err := s.video.RemoveRoom(ctx, key, members, 0); err != nil {
		s.log.Error("video removals not queued", "room", key.String(), "err", err)
	}
}

// liveVideo is the video side of a room card.
type liveVideo struct {
	Known     bool
	Intruders []roomhub.VideoPresence
}

// readVideo adds the video state to a room card.
func (s *Server) readVideo(ctx context.Context, key hub.Key, lr *liveRoom, members []hub.Member) error {
	if s.video == nil {
		return nil
	}
	v, err := s.video.RoomView(ctx, key, members)
	if err != nil {
		return err
	}
	lr.Video = liveVideo{Known: v.Known, Intruders: v.Intruders}
	for i := range lr.Members {
		switch {
		case !v.Known:
		case v.InVideo[lr.Members[i].UID]:
			lr.Members[i].Video = "in video"
		default:
			lr.Members[i].Video = "not in video"
		}
	}
	return nil
}

// liveAction is a video removal as the live page lists it.
type liveAction struct {
	roomhub.VideoAction
	Outcome string
}

// videoPanel is the live page's list of recent video removals.
type videoPanel struct {
	Actions []liveAction
	OOB     bool
}

func (s *Server) readVideoPanel(ctx context.Context, org int64) (videoPanel, error) {
	var p videoPanel
	if s.video == nil {
		return p, nil
	}
	list, err := s.video.Actions(ctx, org, MaxVideoActions)
	if err != nil {
		return p, err
	}
	for _, a := range list {
		p.Actions = append(p.Actions, liveAction{VideoAction: a, Outcome: video.Describe(a)})
	}
	return p, nil
}

// videoSettings is the Settings page's video section.
type videoSettings struct {
	Enabled bool // the server runs the video service
	video.Setup
}

func (s *Server) readVideoSettings(ctx context.Context, org roomhub.Org) (videoSettings, error) {
	if s.video == nil {
		return videoSettings{}, nil
	}
	su, err := s.video.Setup(ctx, org, org.ID == s.defaultOrg.ID)
	return videoSettings{Enabled: true, Setup: su}, err
}

// saveVideo sets the organization's Agora REST credentials, notification
// secret and whether intruders are removed. Secrets are sealed bound to
// their column and row and never rendered again; an empty secret field
// keeps the stored one, "clear" removes both.
func (s *Server) saveVideo(w http.ResponseWriter, r *http.Request) {
	org := reqState(r).dash.org
	if s.video == nil {
		s.renderSettings(w, r, http.StatusBadRequest, "", "This server does not connect to Agora's REST API.")
		return
	}
	ctx := r.Context()
	st, err := s.video.Settings(ctx, org.ID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	cid := strings.TrimSpace(r.PostFormValue("customer_id"))
	csec := strings.TrimSpace(r.PostFormValue("customer_secret"))
	ncs := strings.TrimSpace(r.PostFormValue("ncs_secret"))
	action := "video_settings.update"
	switch {
	case r.PostFormValue("clear") != "":
		st = roomhub.VideoSettings{OrgID: org.ID}
		action = "video_settings.clear"
	case len(cid) > 128 || len(csec) > 128 || len(ncs) > 128:
		s.renderSettings(w, r, http.StatusBadRequest, "", "The Customer ID and the secrets are at most 128 characters.")
		return
	case cid == "" && csec != "":
		s.renderSettings(w, r, http.StatusBadRequest, "", "Enter the Customer ID with its secret.")
		return
	case cid != "" && csec == "" && st.CustomerSecret == "":
		s.renderSettings(w, r, http.StatusBadRequest, "", "Enter the Customer Secret too.")
		return
	default:
		if cid != st.CustomerID && csec == "" {
			st.CustomerSecret = "" // a new account needs its own secret
		}
		st.CustomerID = cid
		if cid == "" {
			st.CustomerSecret = ""
		}
		if csec != "" {
			if st.CustomerSecret, err = s.box.Seal(csec, video.SecretAAD("customer_secret", org.ID)); err != nil {
				s.fail(w, r, err)
				return
			}
		}
		if ncs != "" {
			if st.NCSSecret, err = s.box.Seal(ncs, video.SecretAAD("ncs_secret", org.ID)); err != nil {
				s.fail(w, r, err)
				return
			}
		}
		st.RemoveIntruders = r.PostFormValue("remove_intruders") != ""
	}
	st.OrgID, st.UpdatedAt = org.ID, s.clock.Now()
	if err := s.video.SaveSettings(ctx, st); err != nil {
		s.fail(w, r, err)
		return
	}
	s.auditHere(r, action, "org", org.Slug, "Agora REST and notification settings changed", true,
		map[string]any{"customer_id": st.CustomerID, "customer_secret_changed": csec != "", "ncs_secret_changed": ncs != "", "remove_intruders": st.RemoveIntruders})
	s.renderSettings(w, r, http.StatusOK, "Video moderation settings saved.", "")
}
