// Package apiv1 is the /api/v1 JSON API for API keys: rooms, members,
// kicking and closing, each scoped to the key's organization.
package apiv1

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"

	"roomhub"
	"roomhub/account"
	"roomhub/clock"
	"roomhub/hub"
	"roomhub/room"
	"roomhub/server/web"
)

// Keys finds API keys by their HMAC and records their use.
type Keys interface {
	APIKeyByHash(ctx context.Context, hash string) (roomhub.APIKey, error)
	TouchAPIKey(ctx context.Context, id int64, now time.Time) error
}

// Auditor writes audit rows.
type Auditor interface {
	AppendAudit(ctx context.Context, e roomhub.AuditEntry) error
}

// Presence reads who is in a room, on every node.
type Presence interface {
	Snapshot(ctx context.Context, k hub.Key) (hub.Snapshot, error)
}

// Handler serves the API.
type Handler struct {
	*web.Kit
	accounts     Keys
	apiKeySecret string // API_KEY_SECRET
	store        Auditor
	rooms        roomhub.Rooms
	node         Presence
	rules        *room.Service
	clock        clock.Clock
	log          *slog.Logger
}

// Deps are what the API reads and acts on.
type Deps struct {
	Keys  Keys
	Audit Auditor
	Rooms roomhub.Rooms
	Node  Presence
	Rules *room.Service
}

// New returns the API's handler.
func New(kit *web.Kit, d Deps) *Handler {
	return &Handler{Kit: kit, accounts: d.Keys, apiKeySecret: kit.Config().APIKeySecret, store: d.Audit, rooms: d.Rooms,
		node: d.Node, rules: d.Rules, clock: kit.Clock(), log: kit.Log()}
}

// apiKeyKey carries the authenticated key in the request context.
type apiKeyKey struct{}

func apiKeyOf(r *http.Request) roomhub.APIKey {
	k, _ := r.Context().Value(apiKeyKey{}).(roomhub.APIKey)
	return k
}

// Routes is the JSON server API, authenticated by
// "Authorization: Bearer rk_...". The key names its organization; every
// lookup is scoped to it, so another organization's room is simply absent.
func (s *Handler) Routes() chi.Router {
	r := chi.NewRouter()
	anon := s.Limit("api_anonymous", web.LimitAPIAnonymous)(http.HandlerFunc(s.apiUnauthorized))
	perKey := s.LimitBy("api_key", web.LimitAPIKey, func(r *http.Request) string {
		return strconv.FormatInt(apiKeyOf(r).ID, 10)
	})
	r.Use(web.AnswerJSON, s.apiAuth(anon), perKey)
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		s.Fail(w, r, roomhub.Errorf(roomhub.ENOTFOUND, "No such API route."))
	})
	r.Get("/rooms", s.Handle(s.apiRooms))
	r.Get("/rooms/{room}/members", s.Handle(s.apiMembers))
	r.Delete("/rooms/{room}/members/{uid}", s.Handle(s.apiKick))
	r.Post("/rooms/{room}/close", s.Handle(s.apiClose))
	return r
}

// apiAuth resolves the bearer key. A missing, malformed, unknown or revoked
// key goes to anon, which counts the caller's IP against the anonymous limit
// and answers 401. A revoked key is refused at once and audited.
func (s *Handler) apiAuth(anon http.Handler) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			raw, ok := account.ParseBearer(r.Header.Get("Authorization"))
			if !ok {
				anon.ServeHTTP(w, r)
				return
			}
			k, err := s.accounts.APIKeyByHash(r.Context(), account.HashAPIKey(s.apiKeySecret, raw))
			switch {
			case roomhub.ErrorCode(err) == roomhub.ENOTFOUND:
				s.Security(r, "api_key_unknown")
				anon.ServeHTTP(w, r)
				return
			case err != nil:
				s.Fail(w, r, err)
				return
			case !k.Active():
				s.Security(r, "api_key_revoked", "org", k.OrgID, "key", k.ID)
				s.apiAudit(r, k, "apikey.use.denied", "apikey", strconv.FormatInt(k.ID, 10), "a revoked key was used", false)
				anon.ServeHTTP(w, r)
				return
			}
			now := s.clock.Now()
			if now.Sub(k.LastUsed) >= time.Minute { // one write a minute per key is enough for "last used"
				if err := s.accounts.TouchAPIKey(r.Context(), k.ID, now); err != nil {
					s.log.Warn("api key touch failed", "key", k.ID, "err", err)
				}
			}
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), apiKeyKey{}, k)))
		})
	}
}

func (s *Handler) apiUnauthorized(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="roomhub"`)
	s.Fail(w, r, roomhub.Errorf(roomhub.EUNAUTHORIZED, "Send a valid API key: Authorization: Bearer rk_..."))
}

func (s *Handler) apiAudit(r *http.Request, k roomhub.APIKey, action, objType, objID, desc string, ok bool) {
	st := web.StateOf(r)
	err := s.store.AppendAudit(r.Context(), roomhub.AuditEntry{
		OrgID: k.OrgID, At: s.clock.Now(), ActorID: "apikey:" + strconv.FormatInt(k.ID, 10), ActorName: k.Name,
		Action: action, ObjectType: objType, ObjectID: objID, Description: desc,
		IP: st.IP.String(), UserAgent: web.Truncate(r.UserAgent(), 512), Path: web.Truncate(r.URL.Path, 500), Success: ok,
		Extra: map[string]any{"request_id": st.ID},
	})
	if err != nil {
		s.log.Error("audit write failed", "request_id", st.ID, "action", action, "err", err)
	}
}

type apiRoom struct {
	Name      string `json:"name"`
	Members   int    `json:"members"`
	CreatedAt int64  `json:"created_at"`
}

func (s *Handler) apiRooms(w http.ResponseWriter, r *http.Request) error {
	rooms, err := s.rooms.ListRooms(r.Context(), apiKeyOf(r).OrgID)
	if err != nil {
		return err
	}
	out := make([]apiRoom, 0, len(rooms))
	for _, rm := range rooms {
		out = append(out, apiRoom{Name: rm.Name, Members: rm.Members, CreatedAt: rm.CreatedAt.UnixMilli()})
	}
	web.WriteJSON(w, http.StatusOK, map[string]any{"rooms": out})
	return nil
}

// apiRoom resolves {room} in the key's organization: a room it never had is
// a 404, audited, whether or not another organization has one so named.
func (s *Handler) apiRoom(r *http.Request, action string) (hub.Key, error) {
	k := apiKeyOf(r)
	room := chi.URLParam(r, "room")
	if err := roomhub.ValidateRoom(room); err != nil {
		return hub.Key{}, err
	}
	ok, err := s.rooms.RoomExists(r.Context(), k.OrgID, room)
	if err != nil {
		return hub.Key{}, err
	}
	if !ok {
		s.apiAudit(r, k, action+".denied", "room", room, "no such room in this organization", false)
		return hub.Key{}, roomhub.Errorf(roomhub.ENOTFOUND, "No such room.")
	}
	return hub.Key{Org: k.OrgID, Room: room}, nil
}

func (s *Handler) apiMembers(w http.ResponseWriter, r *http.Request) error {
	key, err := s.apiRoom(r, "room.members")
	if err != nil {
		return err
	}
	snap, err := s.node.Snapshot(r.Context(), key)
	if err != nil {
		return err
	}
	members := snap.Members
	if members == nil {
		members = []hub.Member{}
	}
	web.WriteJSON(w, http.StatusOK, map[string]any{"room": key.Room, "members": members})
	return nil
}

// apiKick removes a member with reason "kicked": their sockets close with
// code 4001 and everyone else sees them leave.
func (s *Handler) apiKick(w http.ResponseWriter, r *http.Request) error {
	k := apiKeyOf(r)
	key, err := s.apiRoom(r, "member.kick")
	if err != nil {
		return err
	}
	uid, err := roomhub.ParseUID(chi.URLParam(r, "uid"))
	if err != nil {
		return err
	}
	_, left, err := s.rules.Kick(r.Context(), key, uid)
	if err != nil {
		return err
	}
	objID := key.Room + "/" + strconv.FormatUint(uint64(uid), 10)
	if !left {
		s.apiAudit(r, k, "member.kick.denied", "member", objID, "no such member in this room", false)
		return roomhub.Errorf(roomhub.ENOTFOUND, "No such member in this room.")
	}
	s.apiAudit(r, k, "member.kick", "member", objID, "member kicked through the API", true)
	web.WriteJSON(w, http.StatusOK, map[string]any{"kicked": true})
	return nil
}

// apiClose removes every member with reason "closed".
func (s *Handler) apiClose(w http.ResponseWriter, r *http.Request) error {
	k := apiKeyOf(r)
	key, err := s.apiRoom(r, "room.close")
	if err != nil {
		return err
	}
	n, err := s.rules.Close(r.Context(), key)
	if err != nil {
		return err
	}
	s.apiAudit(r, k, "room.close", "room", key.Room, "room closed through the API; "+strconv.Itoa(n)+" members removed", true)
	web.WriteJSON(w, http.StatusOK, map[string]any{"closed": true, "removed": n})
	return nil
}
