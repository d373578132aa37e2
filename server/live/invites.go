package live

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"

	"roomhub"
	"roomhub/room"
	"roomhub/server/web"
)

// Room invite links: the dashboard makes and revokes them, participants
// open and redeem them; signing, checking and counting uses are the room
// package's (room/invite.go).

// createRoomInvite makes an invite link and shows it once.
func (s *Handler) createRoomInvite(w http.ResponseWriter, r *http.Request) error {
	key, err := s.dashRoom(r, "room.invite.create")
	if err != nil {
		return err
	}
	st := web.StateOf(r)
	hours, err := strconv.Atoi(strings.TrimSpace(r.PostFormValue("hours")))
	if err != nil {
		hours = 0 // out of range: the rule refuses it with its message
	}
	uses := 0
	if v := strings.TrimSpace(r.PostFormValue("max_uses")); v != "" {
		if uses, err = strconv.Atoi(v); err != nil {
			uses = -1 // out of range, as above
		}
	}
	token, inv, err := s.rules.Invite(r.Context(), key, st.User.User.Email, hours, uses)
	if err == room.ErrInviteHours || err == room.ErrInviteUses {
		s.renderRoom(w, r, key, http.StatusBadRequest, "", roomhub.ErrorMessage(err), "")
		return nil
	}
	if err != nil {
		return err
	}
	s.AuditHere(r, "room.invite.create", "room_invite", strconv.FormatInt(inv.ID, 10), "invite link for "+key.Room+" created", true,
		map[string]any{"room": key.Room, "hours": hours, "max_uses": uses})
	s.renderRoom(w, r, key, http.StatusOK, "", "", s.PublicURL(r)+web.OrgBase(st.Dash.Org)+"/join/"+token)
	return nil
}

func (s *Handler) revokeRoomInvite(w http.ResponseWriter, r *http.Request) error {
	key, err := s.dashRoom(r, "room.invite.revoke")
	if err != nil {
		return err
	}
	id, err := web.IDParam(r, "id")
	if err == nil {
		err = s.rules.RevokeInvite(r.Context(), key, id)
	}
	if err != nil {
		s.NotFoundHere(w, r, "room.invite.revoke", "room_invite", chi.URLParam(r, "id"), err)
		return nil
	}
	s.AuditHere(r, "room.invite.revoke", "room_invite", strconv.FormatInt(id, 10), "invite link for "+key.Room+" revoked", true, nil)
	s.renderRoom(w, r, key, http.StatusOK, "Invite link revoked.", "", "")
	return nil
}
