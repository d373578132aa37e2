// Package server assembles Roomhub's HTTP layer: the security middleware of
// server/web in front of the handlers of each audience (server/participant,
// server/auth, server/dashboard, server/live, server/apiv1, and server/ncs
// for Agora's notifications), each mounting its own routes, plus the health
// probes and static files. It holds no handler of its own beyond the probes.
package server

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/go-chi/httprate"

	"roomhub"
	"roomhub/account"
	"roomhub/agora"
	"roomhub/clock"
	"roomhub/config"
	"roomhub/hub"
	"roomhub/room"
	"roomhub/secret"
	"roomhub/server/apiv1"
	"roomhub/server/auth"
	"roomhub/server/dashboard"
	"roomhub/server/live"
	"roomhub/server/ncs"
	"roomhub/server/participant"
	"roomhub/server/web"
	"roomhub/sso"
	"roomhub/ui"
	"roomhub/video"
)

// Deps are what the server is wired from; cmd/roomhub builds them.
type Deps struct {
	Config config.Config
	Store  roomhub.Store
	// Accounts and Rooms are the dashboard's and the server API's state;
	// the SQL store implements them next to Store.
	Accounts roomhub.Accounts
	Rooms    roomhub.Rooms
	// History is room history.
	History roomhub.History
	// Moderation is what moderators decide about rooms: settings, invite
	// links, kicks; the room rules read and change it.
	Moderation roomhub.Moderation
	Node       *hub.Node
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

// Observer receives what the server measures; the metrics package
// implements it.
type Observer = web.Observer

// Server handles HTTP.
type Server struct {
	*web.Kit
	cfg      config.Config
	store    roomhub.Store
	accounts roomhub.Accounts
	rooms    roomhub.Rooms
	history  roomhub.History
	// rules are the rules of rooms (admit, kick, close, lock, invites).
	rules      *room.Service
	live       *live.Handler
	node       *hub.Node
	tokens     *agora.Tenants
	box        *secret.Box
	policy     *account.Policy
	sso        *sso.SSO
	ui         *ui.UI
	log        *slog.Logger
	clock      clock.Clock
	video      *video.Service
	ready      func(ctx context.Context) error
	defaultOrg roomhub.Org
	router     chi.Router
}

// New builds the server and its routes. It loads the default organization,
// so the store must be migrated.
func New(ctx context.Context, d Deps) (*Server, error) {
	s := &Server{cfg: d.Config, store: d.Store, accounts: d.Accounts, rooms: d.Rooms, history: d.History, node: d.Node, tokens: d.Tokens,
		box: d.Box, policy: d.Policy, sso: d.SSO, ui: d.UI,
		log: d.Log, clock: d.Clock, ready: d.Ready, video: d.Video}
	if s.accounts == nil || s.rooms == nil || d.Moderation == nil || s.tokens == nil || s.box == nil || s.policy == nil {
		return nil, errors.New("server: Accounts, Rooms, Moderation, Tokens, Box and Policy are required")
	}
	kit, err := web.New(web.Deps{Config: d.Config, Store: d.Store, Tokens: d.Tokens, UI: d.UI, Log: d.Log, Clock: d.Clock,
		LimitCounter: d.LimitCounter, Observer: d.Observer})
	if err != nil {
		return nil, err
	}
	s.Kit = kit
	s.log, s.clock = kit.Log(), kit.Clock()
	rd := room.Deps{Members: d.Store, Moderation: d.Moderation, Node: d.Node, Clock: s.clock, SecretKey: s.cfg.SecretKey, Log: s.log}
	if d.Video != nil {
		rd.Video = d.Video // a nil *video.Service must stay a nil interface
	}
	s.rules = room.New(rd)
	if s.ready == nil {
		s.ready = d.Store.Ping
	}
	org, err := d.Store.DefaultOrg(ctx)
	if err != nil {
		return nil, err
	}
	s.defaultOrg = org
	s.router = s.routes()
	return s, nil
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.router.ServeHTTP(w, r) }

// Router exposes the routes, for tests that walk them.
func (s *Server) Router() chi.Router { return s.router }

func (s *Server) routes() chi.Router {
	r := chi.NewRouter()
	// HEAD answers as GET does, without the body (link checkers, uptime
	// probes and some browsers ask for a page's headers first).
	r.Use(s.Begin, s.CheckHost, s.RedirectHTTPS, s.Headers, s.CORS, s.LimitBody, middleware.GetHead)
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		s.Fail(w, r, roomhub.Errorf(roomhub.ENOTFOUND, "Page not found."))
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		web.WriteJSON(w, http.StatusMethodNotAllowed, web.ErrorBody{Error: "Method not allowed.", RequestID: web.StateOf(r).ID})
	})
	r.Get("/healthz", func(w http.ResponseWriter, r *http.Request) {
		web.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	r.Get("/readyz", s.readyz)
	r.Handle("/static/*", s.ui.Static())

	// Accounts and the dashboard.
	signIn := auth.New(s.Kit, auth.Deps{Accounts: s.accounts, Box: s.box, Policy: s.policy, SSO: s.sso})
	dash := dashboard.New(s.Kit, dashboard.Deps{Accounts: s.accounts, Box: s.box, Video: s.video, DefaultOrg: s.defaultOrg})
	s.live = live.New(s.Kit, live.Deps{History: s.history, Rooms: s.rooms, Node: s.node, Rules: s.rules, Video: s.video, UI: s.ui,
		StillSignedIn: signIn.StillSignedIn})
	r.Group(func(r chi.Router) {
		r.Use(s.CSRF)
		signIn.Mount(r)
		r.Route("/dashboard", func(r chi.Router) {
			r.Use(signIn.RequireUser)
			r.Get("/", dash.Home)
			r.Route("/{org}", func(r chi.Router) {
				r.Use(s.DashOrg(s.accounts))
				dash.Mount(r)
				s.live.Mount(r)
			})
		})
	})
	r.Mount("/api/v1", apiv1.New(s.Kit, apiv1.Deps{Keys: s.accounts, Audit: s.store, Rooms: s.rooms, Node: s.node, Rules: s.rules}).Routes())

	people := participant.New(s.Kit, participant.Deps{Store: s.store, Node: s.node, Tokens: s.tokens, Rules: s.rules, DefaultOrg: s.defaultOrg})
	// Agora's notifications: signed by Agora, so outside the CSRF check,
	// for the organization the participant routes resolve.
	notices := ncs.New(s.Kit, ncs.Deps{Video: s.video, DefaultOrg: s.defaultOrg})
	r.With(web.AnswerJSON, people.WithDefaultOrg).Post("/agora/ncs", s.Handle(notices.Notify))
	r.With(web.AnswerJSON, people.WithOrg).Post("/o/{org}/agora/ncs", s.Handle(notices.Notify))
	people.Mount(r)
	return r
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.ready(ctx); err != nil {
		s.log.Error("not ready", "err", err)
		web.WriteJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable"})
		return
	}
	web.WriteJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// LiveStreams reports the open live dashboard streams, for metrics.
func (s *Server) LiveStreams() int64 { return s.live.LiveStreams() }
