// Package server is Roomhub's HTTP layer: the chi router, the participant
// API and pages, the WebSocket endpoint, and the security middleware in
// front of them all.
package server

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/httprate"

	"roomhub"
	"roomhub/account"
	"roomhub/agora"
	"roomhub/clock"
	"roomhub/config"
	"roomhub/hub"
	"roomhub/secret"
	"roomhub/sso"
	"roomhub/ui"
	"roomhub/video"
)

// Rate limits per client IP, from the seed.
var (
	LimitGetToken     = Limit{Requests: 10, Window: time.Minute}
	LimitCreateMember = Limit{Requests: 30, Window: time.Minute}
	LimitGetMember    = Limit{Requests: 60, Window: time.Minute}
	LimitDeleteMember = Limit{Requests: 30, Window: time.Minute}
	LimitWebSocket    = Limit{Requests: 60, Window: time.Minute}
)

// Limit is a number of requests per window.
type Limit struct {
	Requests int
	Window   time.Duration
}

// Observer receives what the server measures; the metrics package
// implements it. The zero Deps observe nothing.
type Observer interface {
	Request(route, method string, code int, d time.Duration)
	RateLimited(limit string)
	CSRFFailure()
	TokenMinted(ok bool)
	LoginFailed()
	Lockout()
	CrossOrgAttempt()
}

type noObserver struct{}

func (noObserver) Request(string, string, int, time.Duration) {}
func (noObserver) RateLimited(string)                         {}
func (noObserver) CSRFFailure()                               {}
func (noObserver) TokenMinted(bool)                           {}
func (noObserver) LoginFailed()                               {}
func (noObserver) Lockout()                                   {}
func (noObserver) CrossOrgAttempt()                           {}

// Deps are what the server is wired from; cmd/roomhub builds them.
type Deps struct {
	Config config.Config
	Store  roomhub.Store
	// Accounts and Rooms are the dashboard's and the server API's state;
	// the SQL store implements them next to Store.
	Accounts roomhub.Accounts
	Rooms    roomhub.Rooms
	// History is room history, moderation settings and room invites.
	History roomhub.History
	Node    *hub.Node
	// Tokens mints Agora tokens with each organization's credentials.
	Tokens *agora.Tenants
	// Box seals and opens stored secrets (APP_MASTER_KEY).
	Box *secret.Box
	// Policy checks new passwords.
	Policy *account.Policy
	// SSO is nil when no provider is configured.
	SSO   *sso.SSO
	UI    *ui.UI
	Log   *slog.Logger
	Clock clock.Clock
	// LimitCounter makes the counter behind the named rate limit; nil keeps
	// counts in process (one node). A cluster passes a shared one.
	LimitCounter func(name string, window time.Duration) httprate.LimitCounter
	// Ready reports whether dependencies answer, for /readyz.
	Ready func(ctx context.Context) error
	// Observer receives request, rate-limit, CSRF and token measurements.
	Observer Observer
	// Video connects rooms to their Agora channels (kicking rules,
	// notifications); nil leaves video moderation to tokens alone.
	Video *video.Service
}

// Server handles HTTP.
type Server struct {
	cfg      config.Config
	store    roomhub.Store
	accounts roomhub.Accounts
	rooms    roomhub.Rooms
	history  roomhub.History
	// liveStreams counts the open live dashboard streams (MaxLiveStreams).
	liveStreams atomic.Int64
	node        *hub.Node
	tokens      *agora.Tenants
	box         *secret.Box
	policy      *account.Policy
	hasher      *account.Hasher
	sso         *sso.SSO
	ui          *ui.UI
	log         *slog.Logger
	clock       clock.Clock
	cop         *http.CrossOriginProtection
	counter     func(name string, window time.Duration) httprate.LimitCounter
	ready       func(ctx context.Context) error
	obs         Observer
	video       *video.Service
	defaultOrg  roomhub.Org
	router      chi.Router
	limiters    map[string]func(http.Handler) http.Handler // by limit name, built with the routes

	// streams counts the open live streams per user and per organization.
	streams streamCounts
}

// New builds the server and its routes. It loads the default organization,
// so the store must be migrated.
func New(ctx context.Context, d Deps) (*Server, error) {
	s := &Server{cfg: d.Config, store: d.Store, accounts: d.Accounts, rooms: d.Rooms, history: d.History, node: d.Node, tokens: d.Tokens,
		box: d.Box, policy: d.Policy, sso: d.SSO, ui: d.UI,
		log: d.Log, clock: d.Clock, counter: d.LimitCounter, ready: d.Ready, obs: d.Observer, video: d.Video}
	if s.accounts == nil || s.rooms == nil || s.tokens == nil || s.box == nil || s.policy == nil {
		return nil, errors.New("server: Accounts, Rooms, Tokens, Box and Policy are required")
	}
	s.hasher = account.NewHasher()
	if s.obs == nil {
		s.obs = noObserver{}
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.clock == nil {
		s.clock = clock.Real{}
	}
	if s.ready == nil {
		s.ready = d.Store.Ping
	}
	org, err := d.Store.DefaultOrg(ctx)
	if err != nil {
		return nil, err
	}
	s.defaultOrg = org
	s.cop = http.NewCrossOriginProtection()
	for _, o := range s.cfg.CORSOrigins {
		if err := s.cop.AddTrustedOrigin(o); err != nil {
			return nil, err
		}
	}
	s.limiters = map[string]func(http.Handler) http.Handler{}
	s.router = s.routes()
	return s, nil
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.router.ServeHTTP(w, r) }

// Router exposes the routes, for tests that walk them.
func (s *Server) Router() chi.Router { return s.router }

func (s *Server) routes() chi.Router {
	r := chi.NewRouter()
	r.Use(s.begin, s.checkHost, s.redirectHTTPS, s.headers, s.cors, s.limitBody)
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		s.fail(w, r, roomhub.Errorf(roomhub.ENOTFOUND, "Page not found."))
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusMethodNotAllowed, errorBody{Error: "Method not allowed.", RequestID: reqState(r).id})
	})
	r.Get("/healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	r.Get("/readyz", s.readyz)
	r.Handle("/static/*", s.ui.Static())

	// The participant routes, mounted twice: at "/" for the default
	// organization, at "/o/{org}/" for the others.
	// Accounts and the dashboard.
	r.Group(func(r chi.Router) {
		r.Use(s.csrf)
		r.Get("/login", s.loginPage)
		r.With(s.limit("login", LimitLogin)).Post("/login", s.login)
		r.Get("/login/2fa", s.twoFactorPage)
		r.With(s.limit("login", LimitLogin)).Post("/login/2fa", s.twoFactor)
		r.Get("/2fa/enrol", s.enrolPage)
		r.With(s.limit("login", LimitLogin)).Post("/2fa/enrol", s.enrol)
		r.Post("/logout", s.logout)
		r.With(s.requireUser).Post("/logout/all", s.logoutAll)
		r.Get("/auth/sso/{provider}", s.ssoBegin) // only completing a sign-in counts

		r.With(s.limit("login", LimitLogin)).Get("/auth/sso/{provider}/callback", s.ssoCallback)
		// Only the forms count against the limit: a link token has 256
		// random bits, so looking pages up cannot guess one.
		r.Get("/invite/{token}", s.invitePage)
		r.With(s.limit("password_reset", LimitPasswordReset)).Post("/invite/{token}", s.acceptInvite)
		r.Get("/reset/{token}", s.resetPage)
		r.With(s.limit("password_reset", LimitPasswordReset)).Post("/reset/{token}", s.reset)
		r.Route("/dashboard", func(r chi.Router) {
			r.Use(s.requireUser)
			r.Get("/", s.dashHome)
			r.Route("/{org}", func(r chi.Router) {
				r.Use(s.withDashOrg)
				r.Get("/", s.orgHome)
				r.Get("/settings", s.settingsPage)
				r.Get("/users", s.usersPage)
				r.Get("/keys", s.keysPage)
				r.Get("/audit", s.auditPage)
				r.Get("/audit.csv", s.auditCSV)
				// Live rooms, history and moderation (server/live.go).
				r.Get("/live", s.livePage)
				r.Get("/live/events", s.liveEvents)
				r.Get("/history", s.historyPage)
				r.Get("/rooms/{room}", s.roomPage)
				r.Group(func(r chi.Router) {
					r.Use(s.requireManage)
					r.Post("/settings/agora", s.saveAgora)
					r.Post("/settings/video", s.saveVideo)
					r.Post("/settings/sso", s.saveSSO)
					r.Post("/invitations", s.createInvitation)
					r.Post("/invitations/{id}/revoke", s.revokeInvitation)
					r.Post("/users/{id}/role", s.setRole)
					r.Post("/users/{id}/remove", s.removeUser)
					r.Post("/users/{id}/reset-2fa", s.resetTwoFactor)
					r.Post("/users/{id}/reset-password", s.resetPasswordLink)
					r.Post("/rooms/{room}/members/{uid}/kick", s.kickMember)
					r.Post("/rooms/{room}/close", s.closeRoomPage)
					r.Post("/rooms/{room}/settings", s.saveRoomSettings)
					r.Post("/rooms/{room}/invites", s.createRoomInvite)
					r.Post("/rooms/{room}/invites/{id}/revoke", s.revokeRoomInvite)
					keyOps := s.limitBy("api_key_ops", LimitKeyOps, func(r *http.Request) string {
						return strconv.FormatInt(reqState(r).user.user.ID, 10)
					})
					r.With(keyOps).Post("/keys", s.createKey)
					r.With(keyOps).Post("/keys/{id}/revoke", s.revokeKey)
				})
				// Webhooks (server/webhookpages.go): everyone reads the
				// endpoints and the delivery log; owners and admins add,
				// delete and test endpoints (requireManage: viewers get 404),
				// at most LimitWebhookOps per user.
				r.Get("/webhooks", s.webhooksPage)
				r.Group(func(r chi.Router) {
					r.Use(s.requireManage)
					hookOps := s.limitBy("webhook_ops", LimitWebhookOps, func(r *http.Request) string {
						return strconv.FormatInt(reqState(r).user.user.ID, 10)
					})
					r.With(hookOps).Post("/webhooks", s.createWebhook)
					r.With(hookOps).Post("/webhooks/{id}/delete", s.deleteWebhook)
					r.With(hookOps).Post("/webhooks/{id}/test", s.testWebhook)
				})
			})
		})
	})
	r.Mount("/api/v1", s.apiRoutes())
	// Agora's notifications (server/video.go): signed, not CSRF-checked.
	r.Post("/agora/ncs", s.withDefaultOrg(http.HandlerFunc(s.agoraNCS)).ServeHTTP)

	participant := s.participantRoutes()
	r.Group(func(r chi.Router) {
		r.Use(s.withDefaultOrg)
		r.Mount("/", participant)
	})
	r.Route("/o/{org}", func(r chi.Router) {
		r.Use(s.withOrg)
		r.Post("/agora/ncs", s.agoraNCS)
		r.Mount("/", participant)
	})
	return r
}

func (s *Server) participantRoutes() chi.Router {
	r := chi.NewRouter()
	r.Use(s.csrf)
	r.Get("/", s.lobby)
	r.Get("/room/", s.room)
	r.With(s.limit("get_token", LimitGetToken)).Get("/get_token/", s.getToken)
	r.With(s.limit("create_member", LimitCreateMember)).Post("/create_member/", s.createMember)
	r.With(s.limit("get_member", LimitGetMember)).Get("/get_member/", s.getMember)
	r.With(s.limit("delete_member", LimitDeleteMember)).Post("/delete_member/", s.deleteMember)
	r.With(s.limit("websocket", LimitWebSocket)).Get("/ws/{room}", s.websocket)
	r.With(s.limit("room_invite", LimitRoomInvite)).Get("/join/{token}", s.joinPage)
	r.With(s.limit("room_invite", LimitRoomInvite)).Post("/join/{token}", s.redeemInvite)
	return r
}

func (s *Server) withDefaultOrg(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := reqState(r)
		st.org, st.base = s.defaultOrg, ""
		next.ServeHTTP(w, r)
	})
}

// withOrg resolves /o/{org}/; an unknown or malformed slug is a 404.
func (s *Server) withOrg(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		slug := chi.URLParam(r, "org")
		if roomhub.ValidateOrgSlug(slug) != nil {
			s.fail(w, r, roomhub.Errorf(roomhub.ENOTFOUND, "Page not found."))
			return
		}
		org, err := s.store.OrgBySlug(r.Context(), slug)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		st := reqState(r)
		st.org, st.base = org, "/o/"+org.Slug
		next.ServeHTTP(w, r)
	})
}

// limit applies a per-client-IP rate limit. Over it: 429 with Retry-After
// and a JSON body saying the limit and when to retry.
func (s *Server) limit(name string, l Limit) func(http.Handler) http.Handler {
	return s.limitBy(name, l, func(r *http.Request) string { return reqState(r).ip.String() })
}

// limitBy applies a rate limit counted per key(r): a user, an API key.
// Routes sharing a limit name share one budget (login and its second
// factor, the two link forms), so the limiter is made once per name.
func (s *Server) limitBy(name string, l Limit, key func(*http.Request) string) func(http.Handler) http.Handler {
	if mw, ok := s.limiters[name]; ok {
		return mw
	}
	mw := s.newLimiter(name, l, key)
	s.limiters[name] = mw
	return mw
}

func (s *Server) newLimiter(name string, l Limit, key func(*http.Request) string) func(http.Handler) http.Handler {
	opts := []httprate.Option{
		httprate.WithKeyFuncs(func(r *http.Request) (string, error) {
			return name + "|" + key(r), nil
		}),
		httprate.WithLimitHandler(func(w http.ResponseWriter, r *http.Request) {
			if reqState(r).limitFailed {
				return
			}
			retry, _ := strconv.Atoi(w.Header().Get("Retry-After"))
			if retry <= 0 {
				retry = int(l.Window / time.Second)
				w.Header().Set("Retry-After", strconv.Itoa(retry))
			}
			s.security(r, "rate_limited", "limit", name)
			s.obs.RateLimited(name)
			writeJSON(w, http.StatusTooManyRequests, map[string]any{
				"error":               "Too many requests. Please wait before trying again.",
				"limit":               strconv.Itoa(l.Requests) + " per " + windowName(l.Window),
				"retry_after_seconds": retry,
				"request_id":          reqState(r).id,
			})
		}),
		// A limit that fails closed (get_token while Redis is down) answers
		// one 503 that says so; it is not a rate limiting.
		httprate.WithErrorHandler(func(w http.ResponseWriter, r *http.Request, err error) {
			reqState(r).limitFailed = true
			w.Header().Set("Retry-After", "5")
			s.fail(w, r, &roomhub.Error{Code: roomhub.EUNAVAILABLE, Err: err,
				Message: "This is temporarily unavailable: the rate-limit store cannot be reached. Please try again in a few seconds."})
		}),
	}
	if s.counter != nil {
		opts = append(opts, httprate.WithLimitCounter(s.counter(name, l.Window)))
	}
	return httprate.NewRateLimiter(l.Requests, l.Window, opts...).Handler
}

func windowName(d time.Duration) string {
	switch d {
	case time.Minute:
		return "minute"
	case time.Hour:
		return "hour"
	}
	return d.String()
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.ready(ctx); err != nil {
		s.log.Error("not ready", "err", err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// page renders a page with the request's nonce, CSRF token and org.
func (s *Server) page(w http.ResponseWriter, r *http.Request, code int, name string, p ui.Page) {
	st := reqState(r)
	p.Nonce = st.nonce
	p.CSRFToken = s.pageCSRF(w, r)
	p.Base = st.base
	p.OrgName = st.org.Name
	if st.org.ID != 0 {
		if m, err := s.tokens.For(r.Context(), st.org.ID); err == nil {
			p.VideoConfigured = m.Configured()
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	if err := s.ui.Render(w, code, name, p); err != nil {
		s.log.Error("render failed", "page", name, "err", err)
		http.Error(w, "An internal error occurred.", http.StatusInternalServerError)
	}
}
