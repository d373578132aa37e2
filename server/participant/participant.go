// Package participant serves the people in rooms: the lobby and room
// pages, get_token, the member API, the WebSocket and invite links. It is
// mounted twice: at "/" for the default organization and at "/o/{org}/" for
// the others.
package participant

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strconv"

	"github.com/go-chi/chi/v5"

	"roomhub"
	"roomhub/agora"
	"roomhub/clock"
	"roomhub/config"
	"roomhub/hub"
	"roomhub/room"
	"roomhub/server/web"
	"roomhub/ui"
)

// Handler serves the participant routes of every organization.
type Handler struct {
	*web.Kit
	cfg        config.Config
	store      Store
	node       *hub.Node
	tokens     *agora.Tenants
	rules      *room.Service
	clock      clock.Clock
	log        *slog.Logger
	obs        web.Observer
	defaultOrg roomhub.Org
}

// Store is what the participant routes read of the store: organizations,
// member rows (whose session a uid is) and the audit log.
type Store interface {
	OrgBySlug(ctx context.Context, slug string) (roomhub.Org, error)
	GetMember(ctx context.Context, orgID int64, room string, uid uint32) (roomhub.Member, error)
	AppendAudit(ctx context.Context, e roomhub.AuditEntry) error
}

// Deps are what the participant routes are wired from.
type Deps struct {
	Store  Store
	Node   *hub.Node
	Tokens *agora.Tenants
	Rules  *room.Service
	// DefaultOrg is the organization served at "/".
	DefaultOrg roomhub.Org
}

// New returns the participant handler.
func New(kit *web.Kit, d Deps) *Handler {
	return &Handler{Kit: kit, cfg: kit.Config(), store: d.Store, node: d.Node, tokens: d.Tokens, rules: d.Rules,
		clock: kit.Clock(), log: kit.Log(), obs: kit.Observer(), defaultOrg: d.DefaultOrg}
}

// Mount mounts the participant routes twice: at "/" for the default
// organization, at "/o/{org}/" for the others.
func (s *Handler) Mount(r chi.Router) {
	participant := s.Routes()
	r.Group(func(r chi.Router) {
		r.Use(s.WithDefaultOrg)
		r.Mount("/", participant)
	})
	r.Route("/o/{org}", func(r chi.Router) {
		r.Use(s.WithOrg)
		r.Mount("/", participant)
	})
}

// Routes are the participant routes of one organization, which the
// middleware in front of them has resolved.
func (s *Handler) Routes() chi.Router {
	r := chi.NewRouter()
	r.Use(s.CSRF)
	r.Get("/", s.Handle(s.lobby))
	r.Get("/room/", s.Handle(s.room))
	r.With(s.Limit("get_token", web.LimitGetToken)).Get("/get_token/", s.Handle(s.getToken))
	r.With(s.Limit("create_member", web.LimitCreateMember)).Post("/create_member/", s.Handle(s.createMember))
	r.With(s.Limit("get_member", web.LimitGetMember)).Get("/get_member/", s.Handle(s.getMember))
	r.With(s.Limit("delete_member", web.LimitDeleteMember)).Post("/delete_member/", s.Handle(s.deleteMember))
	r.With(s.Limit("websocket", web.LimitWebSocket)).Get("/ws/{room}", s.Handle(s.websocket))
	r.With(s.Limit("room_invite", web.LimitRoomInvite)).Get("/join/{token}", s.Handle(s.joinPage))
	r.With(s.Limit("room_invite", web.LimitRoomInvite)).Post("/join/{token}", s.Handle(s.redeemInvite))
	return r
}

// WithDefaultOrg serves a route for the default organization. Routes of
// another audience that are per organization (Agora's notifications) use it
// and WithOrg too.
func (s *Handler) WithDefaultOrg(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := web.StateOf(r)
		st.Org, st.Base = s.defaultOrg, ""
		next.ServeHTTP(w, r)
	})
}

// WithOrg resolves /o/{org}/; an unknown or malformed slug is a 404.
func (s *Handler) WithOrg(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		slug := chi.URLParam(r, "org")
		if roomhub.ValidateOrgSlug(slug) != nil {
			s.Fail(w, r, roomhub.Errorf(roomhub.ENOTFOUND, "Page not found."))
			return
		}
		org, err := s.store.OrgBySlug(r.Context(), slug)
		if err != nil {
			s.Fail(w, r, err)
			return
		}
		st := web.StateOf(r)
		st.Org, st.Base = org, "/o/"+org.Slug
		next.ServeHTTP(w, r)
	})
}

func (s *Handler) lobby(w http.ResponseWriter, r *http.Request) error {
	s.Page(w, r, http.StatusOK, "lobby", ui.Page{Title: "Join a room"})
	return nil
}

func (s *Handler) room(w http.ResponseWriter, r *http.Request) error {
	// Only the room page may use the camera and microphone, and only here.
	w.Header().Set("Permissions-Policy", "camera=(self), microphone=(self), display-capture=(self), geolocation=(), payment=(), usb=(), interest-cohort=()")
	s.Page(w, r, http.StatusOK, "room", ui.Page{Title: "Room"})
	return nil
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
func (s *Handler) getToken(w http.ResponseWriter, r *http.Request) error {
	st := web.StateOf(r)
	room := r.URL.Query().Get("channel")
	if err := roomhub.ValidateRoom(room); err != nil {
		s.Security(r, "validation_failed", "field", "channel")
		err.(*roomhub.Error).Field = "channel"
		return err
	}
	sess, err := s.Session(w, r)
	if err != nil {
		return err
	}
	if _, err := s.rules.Admit(r.Context(), sess, hub.Key{Org: st.Org.ID, Room: room}, 0); err != nil {
		if roomhub.ErrorCode(err) == roomhub.EFORBIDDEN {
			s.audit(r, sess, "token.denied", parsed{room: room}, false, roomhub.ErrorMessage(err))
		}
		return err
	}
	uid := newUID()
	minter, err := s.tokens.For(r.Context(), st.Org.ID)
	if err != nil {
		return err
	}
	tok, err := minter.Mint(r.Context(), st.Org.ID, room, uid)
	s.obs.TokenMinted(err == nil)
	if err != nil {
		s.log.Error("token mint failed", "request_id", st.ID, "err", err)
		return roomhub.Unavailable("video token service", err)
	}
	sess.AddGrant(roomhub.Grant{OrgID: st.Org.ID, Room: room, UID: uid, IssuedAt: s.clock.Now()})
	if err := s.SaveSession(r, sess); err != nil {
		return err
	}
	resp := tokenResponse{Token: tok.Token, UID: uid, Channel: minter.Channel(st.Org.ID, room), ExpiresAt: tok.ExpiresAt}
	if minter.Configured() {
		resp.AppID = &minter.AppID
	}
	s.log.Info("token generated", "event", "token_generated", "request_id", st.ID, "org", st.Org.ID, "room", room, "uid", uid, "video", minter.Configured())
	web.WriteJSON(w, http.StatusOK, resp)
	return nil
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
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, web.MaxBodyBytes))
	if err != nil {
		return parsed{}, roomhub.Errorf(roomhub.EINVALID, "Request body is too large (at most %d bytes).", web.MaxBodyBytes)
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
// else's member.
func (s *Handler) ownedMember(w http.ResponseWriter, r *http.Request, action string, needName bool) (parsed, *roomhub.Session, error) {
	p, err := readMember(w, r, needName)
	if err != nil {
		s.Security(r, "validation_failed", "field", roomhub.ErrorField(err))
		return p, nil, err
	}
	sess, err := s.owns(w, r, action, p)
	return p, sess, err
}

// errNotYourMember answers any attempt on a member the session was not
// issued: 404, like a member that does not exist, so the answer never
// confirms that someone else's member (or another organization's room) is
// there.
var errNotYourMember = roomhub.Errorf(roomhub.ENOTFOUND, "No such member in this room for your session.")

// owns checks that the session holds the grant for uid in room, logging and
// auditing an attempt on someone else's member.
func (s *Handler) owns(w http.ResponseWriter, r *http.Request, action string, p parsed) (*roomhub.Session, error) {
	st := web.StateOf(r)
	sess, err := s.Session(w, r)
	if err != nil {
		return nil, err
	}
	if _, ok := sess.Grant(st.Org.ID, p.room, p.uid); !ok {
		s.Security(r, "unauthorized_member_access", "action", action, "org", st.Org.ID, "room", p.room, "uid", p.uid)
		s.audit(r, sess, action+".denied", p, false, "session does not hold this uid for this room")
		return nil, errNotYourMember
	}
	return sess, nil
}

func (s *Handler) createMember(w http.ResponseWriter, r *http.Request) error {
	st := web.StateOf(r)
	p, sess, err := s.ownedMember(w, r, "member.create", true)
	if err != nil {
		return err
	}
	// A uid belongs to one session; a stale row of another session (it
	// cannot be ours: uids are drawn fresh) is never taken over.
	if m, err := s.store.GetMember(r.Context(), st.Org.ID, p.room, p.uid); err == nil && m.SessionID != sess.ID {
		s.Security(r, "unauthorized_member_access", "action", "member.create", "room", p.room, "uid", p.uid)
		return errNotYourMember
	} else if err != nil && roomhub.ErrorCode(err) != roomhub.ENOTFOUND {
		return err
	}
	limit, err := s.rules.Admit(r.Context(), sess, hub.Key{Org: st.Org.ID, Room: p.room}, p.uid)
	if err != nil {
		if roomhub.ErrorCode(err) == roomhub.EFORBIDDEN {
			s.audit(r, sess, "member.create.denied", p, false, roomhub.ErrorMessage(err))
		}
		return err
	}
	m := roomhub.Member{OrgID: st.Org.ID, Room: p.room, UID: p.uid, Name: p.name, SessionID: sess.ID, JoinedAt: s.clock.Now()}
	if err := s.node.JoinLimited(r.Context(), m, limit); err != nil {
		return err
	}
	s.audit(r, sess, "member.create", p, true, "")
	s.log.Info("member created", "event", "member_created", "request_id", st.ID, "org", st.Org.ID, "room", p.room, "uid", p.uid)
	web.WriteJSON(w, http.StatusOK, map[string]string{"name": p.name})
	return nil
}

func (s *Handler) getMember(w http.ResponseWriter, r *http.Request) error {
	st := web.StateOf(r)
	q := r.URL.Query()
	room := q.Get("room_name")
	if err := roomhub.ValidateRoom(room); err != nil {
		return err
	}
	uid, err := roomhub.ParseUID(q.Get("UID"))
	if err != nil {
		return err
	}
	// Names are shown only to people who were issued a uid in the room;
	// anyone else learns nothing, not even whether the member exists.
	sess, err := s.Session(w, r)
	if err != nil {
		return err
	}
	if _, inRoom := sess.RoomGrant(st.Org.ID, room); !inRoom {
		s.Security(r, "member_lookup_outside_room", "org", st.Org.ID, "room", room)
		s.audit(r, sess, "member.get.denied", parsed{room: room, uid: uid}, false, "session holds no uid in this room")
		return roomhub.Errorf(roomhub.ENOTFOUND, "Member not found.")
	}
	m, err := s.store.GetMember(r.Context(), st.Org.ID, room, uid)
	if err != nil {
		if roomhub.ErrorCode(err) == roomhub.ENOTFOUND {
			err = roomhub.Errorf(roomhub.ENOTFOUND, "Member not found.")
		}
		return err
	}
	web.WriteJSON(w, http.StatusOK, map[string]string{"name": m.Name})
	return nil
}

func (s *Handler) deleteMember(w http.ResponseWriter, r *http.Request) error {
	st := web.StateOf(r)
	p, sess, err := s.ownedMember(w, r, "member.delete", false)
	if err != nil {
		return err
	}
	deleted, err := s.node.Leave(r.Context(), hub.Key{Org: st.Org.ID, Room: p.room}, p.uid, hub.ReasonLeft)
	if err != nil {
		return err
	}
	if deleted {
		s.audit(r, sess, "member.delete", p, true, "")
		s.log.Info("member deleted", "event", "member_deleted", "request_id", st.ID, "org", st.Org.ID, "room", p.room, "uid", p.uid)
	}
	web.WriteJSON(w, http.StatusOK, map[string]bool{"deleted": deleted})
	return nil
}

// websocket upgrades to the room's socket for the member the session was
// issued in that room. Origin must be this host (or an allowed one).
func (s *Handler) websocket(w http.ResponseWriter, r *http.Request) error {
	st := web.StateOf(r)
	room := chi.URLParam(r, "room")
	if err := roomhub.ValidateRoom(room); err != nil {
		return err
	}
	sess, err := s.Session(w, r)
	if err != nil {
		return err
	}
	grant, ok := sess.RoomGrant(st.Org.ID, room)
	if !ok {
		s.Security(r, "unauthorized_websocket", "org", st.Org.ID, "room", room)
		s.audit(r, sess, "websocket.denied", parsed{room: room}, false, "session holds no uid in this room")
		return roomhub.Errorf(roomhub.ENOTFOUND, "Join the room from the lobby first.")
	}
	sock, err := hub.Accept(w, r, s.originPatterns())
	if err != nil {
		// Accept has answered (403 for a foreign Origin, 400 for a bad
		// handshake).
		s.Security(r, "websocket_refused", "origin", r.Header.Get("Origin"), "err", err.Error())
		return nil
	}
	// A member presence lost (Redis restarted empty) comes back from the
	// store before its socket attaches.
	s.node.Ensure(r.Context(), hub.Key{Org: st.Org.ID, Room: room}, grant.UID)
	// Serve sets the socket up here and hands it to a goroutine of its own:
	// the handler's deep stack (middleware, router) and the request it
	// holds would otherwise stay pinned for the socket's whole life, about
	// 40 KiB per connected member (BENCHMARKS.md).
	s.node.Serve(context.Background(), sock, hub.Key{Org: st.Org.ID, Room: room}, grant.UID)
	return nil
}

// originPatterns are the origins allowed besides this host: the CORS ones.
func (s *Handler) originPatterns() []string {
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
func (s *Handler) audit(r *http.Request, sess *roomhub.Session, action string, p parsed, ok bool, why string) {
	st := web.StateOf(r)
	actor := "session:" + sess.ID[:12]
	err := s.store.AppendAudit(r.Context(), roomhub.AuditEntry{
		OrgID: st.Org.ID, At: s.clock.Now(), ActorID: actor, ActorName: p.name,
		Action: action, ObjectType: "member", ObjectID: p.room + "/" + strconv.FormatUint(uint64(p.uid), 10),
		Description: why, IP: st.IP.String(), UserAgent: r.UserAgent(), Path: r.URL.Path, Success: ok,
		Extra: map[string]any{"request_id": st.ID},
	})
	if err != nil {
		s.log.Error("audit write failed", "request_id", st.ID, "action", action, "err", err)
	}
}
