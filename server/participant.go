package server

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"

	"github.com/go-chi/chi/v5"

	"roomhub"
	"roomhub/hub"
	"roomhub/ui"
)

func (s *Server) lobby(w http.ResponseWriter, r *http.Request) {
	s.page(w, r, http.StatusOK, "lobby", ui.Page{Title: "Join a room"})
}

func (s *Server) room(w http.ResponseWriter, r *http.Request) {
	// Only the room page may use the camera and microphone, and only here.
	w.Header().Set("Permissions-Policy", "camera=(self), microphone=(self), display-capture=(self), geolocation=(), payment=(), usb=(), interest-cohort=()")
	s.page(w, r, http.StatusOK, "room", ui.Page{Title: "Room"})
}

// newUID draws a uid uniformly from [1, 2^32-1] with crypto/rand.
func newUID() uint32 {
	var b [4]byte
	for {
		rand.Read(b[:])
		if u := binary.BigEndian.Uint32(b[:]); u != 0 {
			return u
		}
	}
}

type tokenResponse struct {
	Token     *string `json:"token"`
	UID       uint32  `json:"uid"`
	AppID     *string `json:"app_id"`
	Channel   string  `json:"channel"`
	ExpiresAt *int64  `json:"expires_at"`
}

// getToken issues a fresh uid for a room, remembers it in the session and
// returns an Agora token for it (null when video is not configured).
func (s *Server) getToken(w http.ResponseWriter, r *http.Request) {
	st := reqState(r)
	room := r.URL.Query().Get("channel")
	if err := roomhub.ValidateRoom(room); err != nil {
		s.security(r, "validation_failed", "field", "channel")
		err.(*roomhub.Error).Field = "channel"
		s.fail(w, r, err)
		return
	}
	sess, err := s.session(w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if _, err := s.admit(r, sess, hub.Key{Org: st.org.ID, Room: room}, 0); err != nil {
		if roomhub.ErrorCode(err) == roomhub.EFORBIDDEN {
			s.audit(r, sess, "token.denied", parsed{room: room}, false, roomhub.ErrorMessage(err))
		}
		s.fail(w, r, err)
		return
	}
	uid := newUID()
	minter, err := s.tokens.For(r.Context(), st.org.ID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	tok, err := minter.Mint(r.Context(), st.org.ID, room, uid)
	s.obs.TokenMinted(err == nil)
	if err != nil {
		s.log.Error("token mint failed", "request_id", st.id, "err", err)
		s.fail(w, r, roomhub.Unavailable("video token service", err))
		return
	}
	sess.AddGrant(roomhub.Grant{OrgID: st.org.ID, Room: room, UID: uid, IssuedAt: s.clock.Now()})
	if err := s.saveSession(r, sess); err != nil {
		s.fail(w, r, err)
		return
	}
	resp := tokenResponse{Token: tok.Token, UID: uid, Channel: minter.Channel(st.org.ID, room), ExpiresAt: tok.ExpiresAt}
	if minter.Configured() {
		resp.AppID = &minter.AppID
	}
	s.log.Info("token generated", "event", "token_generated", "request_id", st.id, "org", st.org.ID, "room", room, "uid", uid, "video", minter.Configured())
	writeJSON(w, http.StatusOK, resp)
}

// memberInput is the body of create_member and delete_member.
type memberInput struct {
	Name     *string `json:"name"`
	RoomName string  `json:"room_name"`
	UID      any     `json:"UID"`
}

// parsed is a validated memberInput.
type parsed struct {
	name string
	room string
	uid  uint32
}

// readMember decodes and validates a member body: JSON, or a form (as a
// sendBeacon fallback may send). needName requires the name field.
func readMember(w http.ResponseWriter, r *http.Request, needName bool) (parsed, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		return parsed{}, roomhub.Errorf(roomhub.EINVALID, "Request body is too large (at most %d bytes).", MaxBodyBytes)
	}
	var in memberInput
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch ct {
	case "application/x-www-form-urlencoded":
		v, err := url.ParseQuery(string(body))
		if err != nil {
			return parsed{}, roomhub.Errorf(roomhub.EINVALID, "Request body is not a valid form.")
		}
		if v.Has("name") {
			n := v.Get("name")
			in.Name = &n
		}
		in.RoomName, in.UID = v.Get("room_name"), v.Get("UID")
	case "application/json", "text/plain", "":
		if err := json.Unmarshal(body, &in); err != nil {
			return parsed{}, roomhub.Errorf(roomhub.EINVALID, "Request body must be a JSON object.")
		}
	default:
		return parsed{}, roomhub.Errorf(roomhub.EINVALID, "Send JSON (Content-Type: application/json).")
	}
	var p parsed
	if err := roomhub.ValidateRoom(in.RoomName); err != nil {
		return parsed{}, err
	}
	p.room = in.RoomName
	if p.uid, err = roomhub.UIDFromJSON(in.UID); err != nil {
		return parsed{}, err
	}
	if in.Name == nil {
		if needName {
			return parsed{}, roomhub.Invalid("name", "Name is required.")
		}
		return p, nil
	}
	if p.name, err = roomhub.NormalizeName(*in.Name); err != nil {
		return parsed{}, err
	}
	return p, nil
}

// ownedMember reads a member body and checks that the session holds the
// grant for its uid in its room, logging and auditing an attempt on someone
// else's member. On false the response has been written.
func (s *Server) ownedMember(w http.ResponseWriter, r *http.Request, action string, needName bool) (parsed, *roomhub.Session, bool) {
	p, err := readMember(w, r, needName)
	if err != nil {
		s.security(r, "validation_failed", "field", roomhub.ErrorField(err))
		s.fail(w, r, err)
		return p, nil, false
	}
	sess, ok := s.owns(w, r, action, p)
	return p, sess, ok
}

// errNotYourMember answers any attempt on a member the session was not
// issued: 404, like a member that does not exist, so the answer never
// confirms that someone else's member (or another organization's room) is
// there.
var errNotYourMember = roomhub.Errorf(roomhub.ENOTFOUND, "No such member in this room for your session.")

// owns checks that the session holds the grant for uid in room, logging and
// auditing an attempt on someone else's member.
func (s *Server) owns(w http.ResponseWriter, r *http.Request, action string, p parsed) (*roomhub.Session, bool) {
	st := reqState(r)
	sess, err := s.session(w, r)
	if err != nil {
		s.fail(w, r, err)
		return nil, false
	}
	if _, ok := sess.Grant(st.org.ID, p.room, p.uid); !ok {
		s.security(r, "unauthorized_member_access", "action", action, "org", st.org.ID, "room", p.room, "uid", p.uid)
		s.audit(r, sess, action+".denied", p, false, "session does not hold this uid for this room")
		s.fail(w, r, errNotYourMember)
		return nil, false
	}
	return sess, true
}

func (s *Server) createMember(w http.ResponseWriter, r *http.Request) {
	st := reqState(r)
	p, sess, ok := s.ownedMember(w, r, "member.create", true)
	if !ok {
		return
	}
	// A uid belongs to one session; a stale row of another session (it
	// cannot be ours: uids are drawn fresh) is never taken over.
	if m, err := s.store.GetMember(r.Context(), st.org.ID, p.room, p.uid); err == nil && m.SessionID != sess.ID {
		s.security(r, "unauthorized_member_access", "action", "member.create", "room", p.room, "uid", p.uid)
		s.fail(w, r, errNotYourMember)
		return
	} else if err != nil && roomhub.ErrorCode(err) != roomhub.ENOTFOUND {
		s.fail(w, r, err)
		return
	}
	limit, err := s.admit(r, sess, hub.Key{Org: st.org.ID, Room: p.room}, p.uid)
	if err != nil {
		if roomhub.ErrorCode(err) == roomhub.EFORBIDDEN {
			s.audit(r, sess, "member.create.denied", p, false, roomhub.ErrorMessage(err))
		}
		s.fail(w, r, err)
		return
	}
	m := roomhub.Member{OrgID: st.org.ID, Room: p.room, UID: p.uid, Name: p.name, SessionID: sess.ID, JoinedAt: s.clock.Now()}
	if err := s.node.JoinLimited(r.Context(), m, limit); err != nil {
		s.fail(w, r, err)
		return
	}
	s.audit(r, sess, "member.create", p, true, "")
	s.log.Info("member created", "event", "member_created", "request_id", st.id, "org", st.org.ID, "room", p.room, "uid", p.uid)
	writeJSON(w, http.StatusOK, map[string]string{"name": p.name})
}

func (s *Server) getMember(w http.ResponseWriter, r *http.Request) {
	st := reqState(r)
	q := r.URL.Query()
	room := q.Get("room_name")
	if err := roomhub.ValidateRoom(room); err != nil {
		s.fail(w, r, err)
		return
	}
	uid, err := roomhub.ParseUID(q.Get("UID"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	// Names are shown only to people who were issued a uid in the room;
	// anyone else learns nothing, not even whether the member exists.
	sess, err := s.session(w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if _, inRoom := sess.RoomGrant(st.org.ID, room); !inRoom {
		s.security(r, "member_lookup_outside_room", "org", st.org.ID, "room", room)
		s.audit(r, sess, "member.get.denied", parsed{room: room, uid: uid}, false, "session holds no uid in this room")
		s.fail(w, r, roomhub.Errorf(roomhub.ENOTFOUND, "Member not found."))
		return
	}
	m, err := s.store.GetMember(r.Context(), st.org.ID, room, uid)
	if err != nil {
		if roomhub.ErrorCode(err) == roomhub.ENOTFOUND {
			err = roomhub.Errorf(roomhub.ENOTFOUND, "Member not found.")
		}
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"name": m.Name})
}

func (s *Server) deleteMember(w http.ResponseWriter, r *http.Request) {
	st := reqState(r)
	p, sess, ok := s.ownedMember(w, r, "member.delete", false)
	if !ok {
		return
	}
	deleted, err := s.node.Leave(r.Context(), hub.Key{Org: st.org.ID, Room: p.room}, p.uid, hub.ReasonLeft)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if deleted {
		s.audit(r, sess, "member.delete", p, true, "")
		s.log.Info("member deleted", "event", "member_deleted", "request_id", st.id, "org", st.org.ID, "room", p.room, "uid", p.uid)
	}
	writeJSON(w, http.StatusOK, map[string]bool{"deleted": deleted})
}

// websocket upgrades to the room's socket for the member the session was
// issued in that room. Origin must be this host (or an allowed one).
func (s *Server) websocket(w http.ResponseWriter, r *http.Request) {
	st := reqState(r)
	room := chi.URLParam(r, "room")
	if err := roomhub.ValidateRoom(room); err != nil {
		s.fail(w, r, err)
		return
	}
	sess, err := s.session(w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	grant, ok := sess.RoomGrant(st.org.ID, room)
	if !ok {
		s.security(r, "unauthorized_websocket", "org", st.org.ID, "room", room)
		s.audit(r, sess, "websocket.denied", parsed{room: room}, false, "session holds no uid in this room")
		s.fail(w, r, roomhub.Errorf(roomhub.ENOTFOUND, "Join the room from the lobby first."))
		return
	}
	sock, err := hub.Accept(w, r, s.originPatterns())
	if err != nil {
		// Accept has answered (403 for a foreign Origin, 400 for a bad
		// handshake).
		s.security(r, "websocket_refused", "origin", r.Header.Get("Origin"), "err", err.Error())
		return
	}
	// Serve sets the socket up here and hands it to a goroutine of its own:
	// the handler's deep stack (middleware, router) and the request it
	// holds would otherwise stay pinned for the socket's whole life, about
	// 40 KiB per connected member (BENCHMARKS.md).
	s.node.Serve(context.Background(), sock, hub.Key{Org: st.org.ID, Room: room}, grant.UID)
}

// originPatterns are the origins allowed besides this host: the CORS ones.
func (s *Server) originPatterns() []string {
	var out []string
	for _, o := range s.cfg.CORSOrigins {
		if u, err := url.Parse(o); err == nil {
			out = append(out, u.Host)
		}
	}
	return out
}

// audit writes an audit row for a participant action; failures are logged,
// never shown (the action itself succeeded or failed on its own terms).
func (s *Server) audit(r *http.Request, sess *roomhub.Session, action string, p parsed, ok bool, why string) {
	st := reqState(r)
	actor := "session:" + sess.ID[:12]
	err := s.store.AppendAudit(r.Context(), roomhub.AuditEntry{
		OrgID: st.org.ID, At: s.clock.Now(), ActorID: actor, ActorName: p.name,
		Action: action, ObjectType: "member", ObjectID: p.room + "/" + strconv.FormatUint(uint64(p.uid), 10),
		Description: why, IP: st.ip.String(), UserAgent: r.UserAgent(), Path: r.URL.Path, Success: ok,
		Extra: map[string]any{"request_id": st.id},
	})
	if err != nil {
		s.log.Error("audit write failed", "request_id", st.id, "action", action, "err", err)
	}
}
