package server

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"roomhub"
	"roomhub/hub"
	"roomhub/ui"
)

// Room invite links. A link carries a token: a payload naming the
// organization, the room and the expiry, and an HMAC-SHA256 of it keyed from
// SECRET_KEY. The signature lets the server refuse a forged or altered link
// without touching the database and binds the link to one organization; the
// stored hash of the whole token counts uses and allows revocation.
//
// Opening a link (GET) only shows where it leads, so link previews in chat
// apps use nothing up; "Continue" (POST, CSRF-checked) takes one use and
// gives the browser session a pass for the room, which lets it join while
// the room is locked.

// LimitRoomInvite bounds opening and redeeming invite links per client IP.
var LimitRoomInvite = Limit{Requests: 30, Window: time.Hour}

// Room invite limits.
const (
	MaxInviteHours = 7 * 24 // longest validity a moderator may choose
	MaxInviteUses  = 1000   // most uses a moderator may set (0 is unlimited)
	// PassTTL is how long a redeemed invite keeps admitting its session:
	// long enough to rejoin after a dropped connection.
	PassTTL = 12 * time.Hour
	// maxInviteToken bounds the token accepted in a URL.
	maxInviteToken = 512
)

// inviteKey derives the signing key of room invites from SECRET_KEY, so it
// is never the key of another purpose.
func (s *Server) inviteKey() []byte {
	m := hmac.New(sha256.New, []byte(s.cfg.SecretKey))
	m.Write([]byte("roomhub room invite v1"))
	return m.Sum(nil)
}

// signInvite returns a token for room of org expiring at exp.
func (s *Server) signInvite(org int64, room string, exp time.Time) string {
	nonce := make([]byte, 16)
	rand.Read(nonce)
	payload := strconv.FormatInt(org, 10) + "|" + room + "|" + strconv.FormatInt(exp.Unix(), 10) + "|" + base64.RawURLEncoding.EncodeToString(nonce)
	m := hmac.New(sha256.New, s.inviteKey())
	m.Write([]byte(payload))
	return base64.RawURLEncoding.EncodeToString([]byte(payload)) + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// openInvite checks a token's signature, organization and expiry and
// returns its room. Any failure is the same ENOTFOUND: the visitor learns
// nothing about why.
func (s *Server) openInvite(token string, org int64, now time.Time) (string, error) {
	bad := roomhub.Errorf(roomhub.ENOTFOUND, "This invite link is not valid: it may have expired, been used up or been revoked.")
	if len(token) > maxInviteToken {
		return "", bad
	}
	p64, s64, ok := strings.Cut(token, ".")
	if !ok {
		return "", bad
	}
	payload, err1 := base64.RawURLEncoding.DecodeString(p64)
	sig, err2 := base64.RawURLEncoding.DecodeString(s64)
	if err1 != nil || err2 != nil {
		return "", bad
	}
	m := hmac.New(sha256.New, s.inviteKey())
	m.Write(payload)
	if !hmac.Equal(sig, m.Sum(nil)) {
		return "", bad
	}
	parts := strings.Split(string(payload), "|")
	if len(parts) != 4 {
		return "", bad
	}
	o, err1 := strconv.ParseInt(parts[0], 10, 64)
	exp, err2 := strconv.ParseInt(parts[2], 10, 64)
	if err1 != nil || err2 != nil || o != org || roomhub.ValidateRoom(parts[1]) != nil || !now.Before(time.Unix(exp, 0)) {
		return "", bad
	}
	return parts[1], nil
}

func inviteHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// createRoomInvite makes an invite link and shows it once.
func (s *Server) createRoomInvite(w http.ResponseWriter, r *http.Request) {
	key, ok := s.dashRoom(w, r, "room.invite.create")
	if !ok {
		return
	}
	st := reqState(r)
	hours, err := strconv.Atoi(strings.TrimSpace(r.PostFormValue("hours")))
	if err != nil || hours < 1 || hours > MaxInviteHours {
		s.renderRoom(w, r, key, http.StatusBadRequest, "", "An invite link is valid for 1 to "+strconv.Itoa(MaxInviteHours)+" hours.", "")
		return
	}
	uses := 0
	if v := strings.TrimSpace(r.PostFormValue("max_uses")); v != "" {
		uses, err = strconv.Atoi(v)
		if err != nil || uses < 0 || uses > MaxInviteUses {
			s.renderRoom(w, r, key, http.StatusBadRequest, "", "Uses is a whole number from 0 (unlimited) to "+strconv.Itoa(MaxInviteUses)+".", "")
			return
		}
	}
	exp := s.clock.Now().Add(time.Duration(hours) * time.Hour).Truncate(time.Second)
	token := s.signInvite(key.Org, key.Room, exp)
	inv, err := s.history.CreateRoomInvite(r.Context(), roomhub.RoomInvite{OrgID: key.Org, Room: key.Room,
		CreatedBy: st.user.user.Email, ExpiresAt: exp, MaxUses: uses}, inviteHash(token))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.auditHere(r, "room.invite.create", "room_invite", strconv.FormatInt(inv.ID, 10), "invite link for "+key.Room+" created", true,
		map[string]any{"room": key.Room, "hours": hours, "max_uses": uses})
	s.renderRoom(w, r, key, http.StatusOK, "", "", s.publicURL(r)+s.orgBase(st.dash.org)+"/join/"+token)
}

func (s *Server) revokeRoomInvite(w http.ResponseWriter, r *http.Request) {
	key, ok := s.dashRoom(w, r, "room.invite.revoke")
	if !ok {
		return
	}
	id, err := idParam(r, "id")
	if err == nil {
		err = s.history.RevokeRoomInvite(r.Context(), key.Org, id)
	}
	if err != nil {
		s.notFoundHere(w, r, "room.invite.revoke", "room_invite", chi.URLParam(r, "id"), err)
		return
	}
	s.auditHere(r, "room.invite.revoke", "room_invite", strconv.FormatInt(id, 10), "invite link for "+key.Room+" revoked", true, nil)
	s.renderRoom(w, r, key, http.StatusOK, "Invite link revoked.", "", "")
}

// orgBase is the participant URL prefix of an organization.
func (s *Server) orgBase(o roomhub.Org) string {
	if o.Slug == roomhub.DefaultOrgSlug {
		return ""
	}
	return "/o/" + url.PathEscape(o.Slug)
}

// Participant side.

type joinData struct {
	Room  string
	Token string
}

// joinPage shows where an invite link leads, using nothing up.
func (s *Server) joinPage(w http.ResponseWriter, r *http.Request) {
	st := reqState(r)
	token := chi.URLParam(r, "token")
	room, err := s.openInvite(token, st.org.ID, s.clock.Now())
	if err != nil {
		s.security(r, "room_invite_invalid", "org", st.org.ID)
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Referrer-Policy", "no-referrer")
	s.page(w, r, http.StatusOK, ui.PageJoin, ui.Page{Title: "Invitation to " + room, Data: joinData{Room: room, Token: token}})
}

// redeemInvite takes one use of the link and gives the session a pass for
// the room, then sends the visitor to the lobby with the room filled in.
func (s *Server) redeemInvite(w http.ResponseWriter, r *http.Request) {
	st := reqState(r)
	token := chi.URLParam(r, "token")
	now := s.clock.Now()
	room, err := s.openInvite(token, st.org.ID, now)
	if err == nil {
		_, err = s.history.UseRoomInvite(r.Context(), st.org.ID, inviteHash(token), now)
	}
	if err != nil {
		s.security(r, "room_invite_refused", "org", st.org.ID)
		s.fail(w, r, err)
		return
	}
	sess, err := s.session(w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	sess.AddPass(roomhub.Pass{OrgID: st.org.ID, Room: room, ExpiresAt: now.Add(PassTTL)})
	if err := s.saveSession(r, sess); err != nil {
		s.fail(w, r, err)
		return
	}
	s.audit(r, sess, "room.invite.use", parsed{room: room}, true, "invite link redeemed")
	http.Redirect(w, r, st.base+"/?room="+url.QueryEscape(room), http.StatusSeeOther)
}

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

// admit applies a room's moderation to a session asking for a token or
// joining with uid (0 for get_token): a session a moderator kicked is kept
// out for KickBan; a locked room takes only members already in it and
// sessions holding an invite pass. It returns the room's own member limit.
//
// get_token is checked as well as create_member: the Agora token is what
// opens the video channel, so a locked room must not hand one out.
func (s *Server) admit(r *http.Request, sess *roomhub.Session, key hub.Key, uid uint32) (int, error) {
	ctx := r.Context()
	now := s.clock.Now()
	banned, err := s.history.BannedFromRoom(ctx, key.Org, key.Room, sess.ID, now)
	if err != nil {
		return 0, err
	}
	if banned {
		return 0, errKickedOut
	}
	rs, err := s.history.RoomSettings(ctx, key.Org, key.Room)
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

// kick removes a member with reason "kicked" and keeps their browser
// session out of the room for KickBan. left is false if uid was not in it.
func (s *Server) kick(ctx context.Context, key hub.Key, uid uint32) (name string, left bool, err error) {
	m, gerr := s.store.GetMember(ctx, key.Org, key.Room, uid)
	left, err = s.node.Leave(ctx, key, uid, hub.ReasonKicked)
	if err != nil || !left {
		return "", left, err
	}
	s.videoKicked(ctx, key, uid, m.Name)
	if gerr == nil {
		if err := s.history.BanFromRoom(ctx, key.Org, key.Room, m.SessionID, s.clock.Now().Add(KickBan)); err != nil {
			return m.Name, true, err
		}
	}
	return m.Name, true, nil
}
