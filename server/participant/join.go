package participant

import (
	"net/http"
	"net/url"
	"roomhub/server/web"
	"roomhub/ui"

	"github.com/go-chi/chi/v5"
)

// Room invite links, the participant's side: opening one shows where it
// leads and uses nothing up (link previews in chat apps open links too);
// "Continue" (POST, CSRF-checked) redeems it. The rules are the room
// package's (room/invite.go).

type joinData struct {
	Room  string
	Token string
}

// joinPage shows where an invite link leads, using nothing up.
func (s *Handler) joinPage(w http.ResponseWriter, r *http.Request) error {
	st := web.StateOf(r)
	token := chi.URLParam(r, "token")
	room, err := s.rules.OpenInvite(token, st.Org.ID)
	if err != nil {
		s.Security(r, "room_invite_invalid", "org", st.Org.ID)
		return err
	}
	w.Header().Set("Referrer-Policy", "no-referrer")
	s.Page(w, r, http.StatusOK, ui.PageJoin, ui.Page{Title: "Invitation to " + room, Data: joinData{Room: room, Token: token}})
	return nil
}

// redeemInvite takes one use of the link and gives the session a pass for
// the room, then sends the visitor to the lobby with the room filled in.
func (s *Handler) redeemInvite(w http.ResponseWriter, r *http.Request) error {
	st := web.StateOf(r)
	token := chi.URLParam(r, "token")
	room, pass, err := s.rules.Redeem(r.Context(), st.Org.ID, token)
	if err != nil {
		s.Security(r, "room_invite_refused", "org", st.Org.ID)
		return err
	}
	sess, err := s.Session(w, r)
	if err != nil {
		return err
	}
	sess.AddPass(pass)
	if err := s.SaveSession(r, sess); err != nil {
		return err
	}
	s.audit(r, sess, "room.invite.use", parsed{room: room}, true, "invite link redeemed")
	http.Redirect(w, r, st.Base+"/?room="+url.QueryEscape(room), http.StatusSeeOther)
	return nil
}
