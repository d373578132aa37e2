package server

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"

	"roomhub"
	"roomhub/account"
	"roomhub/hub"
)

// Server API rate limits, from the seed: per key for authenticated calls,
// per client IP for calls without a valid key.
var (
	LimitAPIKey       = Limit{Requests: 1000, Window: time.Hour}
	LimitAPIAnonymous = Limit{Requests: 50, Window: time.Hour}
)

// apiKeyKey carries the authenticated key in the request context.
type apiKeyKey struct{}

func apiKeyOf(r *http.Request) roomhub.APIKey {
	k, _ := r.Context().Value(apiKeyKey{}).(roomhub.APIKey)
	return k
}

// apiRoutes is the JSON server API, authenticated by
// "Authorization: Bearer rk_...". The key names its organization; every
// lookup is scoped to it, so another organization's room is simply absent.
func (s *Server) apiRoutes() chi.Router {
	r := chi.NewRouter()
	anon := s.limit("api_anonymous", LimitAPIAnonymous)(http.HandlerFunc(s.apiUnauthorized))
	perKey := s.limitBy("api_key", LimitAPIKey, func(r *http.Request) string {
		return strconv.FormatInt(apiKeyOf(r).ID, 10)
	})
	r.Use(s.apiAuth(anon), perKey)
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		s.apiFail(w, r, roomhub.Errorf(roomhub.ENOTFOUND, "No such API route."))
	})
	r.Get("/rooms", s.apiRooms)
	r.Get("/rooms/{room}/members", s.apiMembers)
	r.Delete("/rooms/{room}/members/{uid}", s.apiKick)
	r.Post("/rooms/{room}/close", s.apiClose)
	return r
}

// apiAuth resolves the bearer key. A missing, malformed, unknown or revoked
// key goes to anon, which counts the caller's IP against the anonymous limit
// and answers 401. A revoked key is refused at once and audited.
func (s *Server) apiAuth(anon http.Handler) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			raw, ok := account.ParseBearer(r.Header.Get("Authorization"))
			if !ok {
				anon.ServeHTTP(w, r)
				return
			}
			k, err := s.accounts.APIKeyByHash(r.Context(), account.HashAPIKey(s.cfg.APIKeySecret, raw))
			switch {
			case roomhub.ErrorCode(err) == roomhub.ENOTFOUND:
				s.security(r, "api_key_unknown")
				anon.ServeHTTP(w, r)
				return
			case err != nil:
				s.apiFail(w, r, err)
				return
			case !k.Active():
				s.security(r, "api_key_revoked", "org", k.OrgID, "key", k.ID)
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

func (s *Server) apiUnauthorized(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="roomhub"`)
	s.apiFail(w, r, roomhub.Errorf(roomhub.EUNAUTHORIZED, "Send a valid API key: Authorization: Bearer rk_..."))
}

// apiFail answers JSON whatever the Accept header says.
func (s *Server) apiFail(w http.ResponseWriter, r *http.Request, err error) {
	r.Header.Del("Accept")
	s.fail(w, r, err)
}

func (s *Server) apiAudit(r *http.Request, k roomhub.APIKey, action, objType, objID, desc string, ok bool) {
	st := reqState(r)
	err := s.store.AppendAudit(r.Context(), roomhub.AuditEntry{
		OrgID: k.OrgID, At: s.clock.Now(), ActorID: "apikey:" + strconv.FormatInt(k.ID, 10), ActorName: k.Name,
		Action: action, ObjectType: objType, ObjectID: objID, Description: desc,
		IP: st.ip.String(), UserAgent: truncate(r.UserAgent(), 512), Path: truncate(r.URL.Path, 500), Success: ok,
		Extra: map[string]any{"request_id": st.id},
	})
	if err != nil {
		s.log.Error("audit write failed", "request_id", st.id, "action", action, "err", err)
	}
}

type apiRoom struct {
	Name      string `json:"name"`
	Members   int    `json:"members"`
	CreatedAt int64  `json:"created_at"`
}

func (s *Server) apiRooms(w http.ResponseWriter, r *http.Request) {
	rooms, err := s.rooms.ListRooms(r.Context(), apiKeyOf(r).OrgID)
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	out := make([]apiRoom, 0, len(rooms))
	for _, rm := range rooms {
		out = append(out, apiRoom{Name: rm.Name, Members: rm.Members, CreatedAt: rm.CreatedAt.UnixMilli()})
	}
	writeJSON(w, http.StatusOK, map[string]any{"rooms": out})
}

// apiRoom resolves {room} in the key's organization: a room it never had is
// a 404, audited, whether or not another organization has one so named.
func (s *Server) apiRoom(w http.ResponseWriter, r *http.Request, action string) (hub.Key, bool) {
	k := apiKeyOf(r)
	room := chi.URLParam(r, "room")
	if err := roomhub.ValidateRoom(room); err != nil {
		s.apiFail(w, r, err)
		return hub.Key{}, false
	}
	ok, err := s.rooms.RoomExists(r.Context(), k.OrgID, room)
	if err != nil {
		s.apiFail(w, r, err)
		return hub.Key{}, false
	}
	if !ok {
		s.apiAudit(r, k, action+".denied", "room", room, "no such room in this organization", false)
		s.apiFail(w, r, roomhub.Errorf(roomhub.ENOTFOUND, "No such room."))
		return hub.Key{}, false
	}
	return hub.Key{Org: k.OrgID, Room: room}, true
}

func (s *Server) apiMembers(w http.ResponseWriter, r *http.Request) {
	key, ok := s.apiRoom(w, r, "room.members")
	if !ok {
		return
	}
	snap, err := s.node.Snapshot(r.Context(), key)
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	members := snap.Members
	if members == nil {
		members = []hub.Member{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"room": key.Room, "members": members})
}

// apiKick removes a member with reason "kicked": their sockets close with
// code 4001 and everyone else sees them leave.
func (s *Server) apiKick(w http.ResponseWriter, r *http.Request) {
	k := apiKeyOf(r)
	key, ok := s.apiRoom(w, r, "member.kick")
	if !ok {
		return
	}
	uid, err := roomhub.ParseUID(chi.URLParam(r, "uid"))
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	_, left, err := s.kick(r.Context(), key, uid)
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	objID := key.Room + "/" + strconv.FormatUint(uint64(uid), 10)
	if !left {
		s.apiAudit(r, k, "member.kick.denied", "member", objID, "no such member in this room", false)
		s.apiFail(w, r, roomhub.Errorf(roomhub.ENOTFOUND, "No such member in this room."))
		return
	}
	s.apiAudit(r, k, "member.kick", "member", objID, "member kicked through the API", true)
	writeJSON(w, http.StatusOK, map[string]any{"kicked": true})
}

// apiClose removes every member with reason "closed".
func (s *Server) apiClose(w http.ResponseWriter, r *http.Request) {
	k := apiKeyOf(r)
	key, ok := s.apiRoom(w, r, "room.close")
	if !ok {
		return
	}
	n, err := s.closeRoom(r.Context(), key)
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	s.apiAudit(r, k, "room.close", "room", key.Room, "room closed through the API; "+strconv.Itoa(n)+" members removed", true)
	writeJSON(w, http.StatusOK, map[string]any{"closed": true, "removed": n})
}

// closeRoom makes every present member leave with reason "closed".
func (s *Server) closeRoom(ctx context.Context, key hub.Key) (int, error) {
	snap, err := s.node.Snapshot(ctx, key)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, m := range snap.Members {
		left, err := s.node.Leave(ctx, key, m.UID, hub.ReasonClosed)
		if err != nil {
			return n, err
		}
		if left {
			n++
		}
	}
	s.videoClosed(ctx, key, snap.Members)
	return n, nil
}
