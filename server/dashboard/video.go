package dashboard

import (
	"context"
	"net/http"
	"strings"

	"roomhub"
	"roomhub/server/web"
	"roomhub/video"
)

// The Settings page's video section: the organization's Agora REST account
// (used by kicks and closes), its notification secret and whether people in
// the video who are not members are removed. Without a video service it
// says that the server does not connect to Agora's REST API.

// videoSettings is the Settings page's video section.
type videoSettings struct {
	Enabled bool // the server runs the video service
	video.Setup
}

func (s *Handler) readVideoSettings(ctx context.Context, org roomhub.Org) (videoSettings, error) {
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
func (s *Handler) saveVideo(w http.ResponseWriter, r *http.Request) error {
	org := web.StateOf(r).Dash.Org
	if s.video == nil {
		s.renderSettings(w, r, http.StatusBadRequest, "", "This server does not connect to Agora's REST API.")
		return nil
	}
	ctx := r.Context()
	st, err := s.video.Settings(ctx, org.ID)
	if err != nil {
		return err
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
		return nil
	case cid == "" && csec != "":
		s.renderSettings(w, r, http.StatusBadRequest, "", "Enter the Customer ID with its secret.")
		return nil
	case cid != "" && csec == "" && st.CustomerSecret == "":
		s.renderSettings(w, r, http.StatusBadRequest, "", "Enter the Customer Secret too.")
		return nil
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
				return err
			}
		}
		if ncs != "" {
			if st.NCSSecret, err = s.box.Seal(ncs, video.SecretAAD("ncs_secret", org.ID)); err != nil {
				return err
			}
		}
		st.RemoveIntruders = r.PostFormValue("remove_intruders") != ""
	}
	st.OrgID, st.UpdatedAt = org.ID, s.clock.Now()
	if err := s.video.SaveSettings(ctx, st); err != nil {
		return err
	}
	s.AuditHere(r, action, "org", org.Slug, "Agora REST and notification settings changed", true,
		map[string]any{"customer_id": st.CustomerID, "customer_secret_changed": csec != "", "ncs_secret_changed": ncs != "", "remove_intruders": st.RemoveIntruders})
	s.renderSettings(w, r, http.StatusOK, "Video moderation settings saved.", "")
	return nil
}
