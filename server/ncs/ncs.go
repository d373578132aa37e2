// Package ncs receives the channel events Agora's Notification Center
// Service posts about a room's video: POST /agora/ncs for the server's own
// Agora project, /o/{org}/agora/ncs for an organization on its own. Agora
// signs them instead of a browser sending a CSRF token, so they are mounted
// outside the CSRF check; what they mean is the video package's.
package ncs

import (
	"errors"
	"io"
	"net/http"

	"roomhub"
	"roomhub/server/web"
	"roomhub/video"
)

// DefaultMaxNoticeBytes bounds a notification's body when
// AGORA_NCS_MAX_BYTES is unset.
const DefaultMaxNoticeBytes = video.DefaultMaxNoticeBytes

// Handler receives Agora's notifications.
type Handler struct {
	*web.Kit
	video      *video.Service
	maxBytes   int
	defaultOrg roomhub.Org
}

// Deps are what the endpoint hands notifications to.
type Deps struct {
	// Video is nil when the server does not moderate Agora channels; every
	// notification is then refused as not configured.
	Video *video.Service
	// DefaultOrg is the organization on the server's own Agora project.
	DefaultOrg roomhub.Org
}

// New returns the notification endpoint's handler.
func New(kit *web.Kit, d Deps) *Handler {
	limit := kit.Config().AgoraNCSMaxBytes
	if limit <= 0 {
		limit = DefaultMaxNoticeBytes
	}
	return &Handler{Kit: kit, video: d.Video, maxBytes: limit, defaultOrg: d.DefaultOrg}
}

// Notify receives one of Agora's channel events for the request's
// organization, which the middleware in front of it has resolved. Only a
// body signed with the organization's notification secret
// (Agora-Signature-V2) is read; every refusal is logged as a security event
// and counted.
func (s *Handler) Notify(w http.ResponseWriter, r *http.Request) error {
	st := web.StateOf(r)
	if s.video == nil {
		return video.ErrNotConfigured
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, int64(s.maxBytes)))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			s.video.Stats.Malformed.Add(1)
			s.Security(r, "agora_ncs_refused", "reason", "too_large", "org", st.Org.ID)
			web.WriteJSON(w, http.StatusRequestEntityTooLarge, web.ErrorBody{Error: "The notification is larger than this server accepts.", RequestID: st.ID})
			return nil
		}
		return roomhub.Invalid("body", "The body could not be read.")
	}
	if err := s.video.Notify(r.Context(), st.Org.ID, s.defaultOrg.ID, body, r.Header.Get("Agora-Signature-V2")); err != nil {
		if c := roomhub.ErrorCode(err); c != roomhub.EUNAVAILABLE && c != roomhub.EINTERNAL {
			s.Security(r, "agora_ncs_refused", "reason", c, "org", st.Org.ID)
		}
		return err
	}
	web.WriteJSON(w, http.StatusOK, map[string]bool{"ok": true})
	return nil
}
