// Command roomhub is the Roomhub server and its administration commands.
//
//	roomhub [serve]               serve HTTP (the default)
//	roomhub secrets validate      check the configuration is fit for production
//	roomhub secrets generate-key  print a new random secret key
package main

import (
	"context"
	"roomhub/activity"

	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/go-chi/httprate"
	httprateredis "github.com/go-chi/httprate-redis"
	"github.com/redis/go-redis/v9"

	"roomhub"
	"roomhub/account"
	"roomhub/agora"
	"roomhub/clock"
	"roomhub/config"
	"roomhub/hub"
	"roomhub/hub/memory"
	"roomhub/hub/redisbus"
	"roomhub/logging"
	"roomhub/metrics"
	"roomhub/ratelimit"
	"roomhub/secret"
	"roomhub/server"
	"roomhub/sso"
	"roomhub/store/sqlstore"
	"roomhub/ui"
	"roomhub/video"
	"roomhub/webhook"
)

func main() {
	os.Exit(run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

const usage = `usage:
  roomhub [serve]               serve HTTP (the default)
  roomhub secrets validate      check the configuration is fit for production
  roomhub secrets generate-key  print a new random secret key
  roomhub secrets rotate --old-key K --new-key K
                                re-encrypt every stored secret under a new APP_MASTER_KEY
  roomhub org create --slug S [--name N]
  roomhub org verify-domain --org S --domain D
                                let SSO users @D join organization S (if it allows it)
  roomhub user create --org S --email E --role owner|admin|viewer
                                print a one-time setup link
  roomhub apikey create --org S --name N
                                print a new API key for organization S (shown once)
  roomhub lock clear (--email E | --ip IP | --all)
                                clear failed-login locks
  roomhub sessions clear        sign out every dashboard and participant session
  roomhub healthcheck           exit 0 if the server on ADDR answers /healthz (for containers)
  roomhub version               print the version and the Go toolchain it was built with
`

func run(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 0 {
		cmd = args[0]
	}
	if wantsHelp(args) {
		fmt.Fprint(stdout, usage)
		return 0
	}
	switch {
	case cmd == "version" || cmd == "--version":
		fmt.Fprintln(stdout, versionLine())
		return 0
	case cmd == "serve":
		return serve(getenv, stdout, stderr)
	case cmd == "secrets" && len(args) == 2 && args[1] == "validate":
		return validate(getenv, stdout, stderr)
	case cmd == "secrets" && len(args) == 2 && args[1] == "generate-key":
		fmt.Fprintln(stdout, generateKey())
		return 0
	case len(args) >= 2 && (cmd == "org" && (args[1] == "create" || args[1] == "verify-domain") ||
		cmd == "user" && args[1] == "create" || cmd == "apikey" && args[1] == "create" || cmd == "lock" && args[1] == "clear" ||
		cmd == "sessions" && args[1] == "clear" || cmd == "secrets" && args[1] == "rotate"):
		return admin(args, getenv, stdout, stderr)
	case cmd == "healthcheck":
		return healthcheck(getenv, stderr)
	case cmd == "help" || cmd == "-h" || cmd == "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprint(stderr, usage)
	return 2
}

// healthcheck asks the local server's /healthz, for container health checks
// in images without a shell or curl.
func healthcheck(getenv func(string) string, stderr io.Writer) int {
	addr := getenv("ADDR")
	if addr == "" {
		addr = ":8080"
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		fmt.Fprintln(stderr, "healthcheck: ADDR:", err)
		return 1
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	c := &http.Client{Timeout: 3 * time.Second}
	res, err := c.Get("http://" + net.JoinHostPort(host, port) + "/healthz")
	if err != nil {
		fmt.Fprintln(stderr, "healthcheck:", err)
		return 1
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		fmt.Fprintln(stderr, "healthcheck: status", res.StatusCode)
		return 1
	}
	return 0
}

// generateKey returns 64 random bytes, URL-safe base64 (86 characters).
func generateKey() string {
	b := make([]byte, 64)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// validate checks the configuration as production would, whatever DEBUG
// says, and prints every problem.
func validate(getenv func(string) string, stdout, stderr io.Writer) int {
	// Judge the settings as DEBUG=false would, whatever DEBUG says.
	cfg, err := config.Load(func(k string) string {
		if k == "DEBUG" {
			return "false"
		}
		return getenv(k)
	})
	var probs config.Error
	errors.As(err, &probs)
	if debug, _ := strconv.ParseBool(strings.TrimSpace(getenv("DEBUG"))); debug {
		probs = append(config.Error{{Var: "DEBUG", Message: "is true; production must run with DEBUG=false"}}, probs...)
	}
	if cfg.MasterKey != "" {
		if box, err := secret.New(cfg.MasterKey); err != nil || box.Check() != nil {
			probs = append(probs, config.Problem{Var: "APP_MASTER_KEY", Message: "cannot encrypt and decrypt"})
		}
	}
	if !cfg.SecureSSLRedirect {
		fmt.Fprintln(stdout, "note: SECURE_SSL_REDIRECT is off; turn it on unless a proxy redirects to HTTPS")
	}
	if cfg.AgoraAppID == "" {
		fmt.Fprintln(stdout, "note: AGORA_APP_ID and AGORA_APP_CERTIFICATE are not set; video is disabled, presence works")
	}
	if len(probs) > 0 {
		for _, p := range probs {
			fmt.Fprintln(stderr, "missing or insecure:", p)
		}
		return 1
	}
	fmt.Fprintln(stdout, "All secrets configured correctly")
	return 0
}

func serve(getenv func(string) string, stdout, stderr io.Writer) int {
	cfg, err := config.Load(getenv)
	if err != nil {
		fmt.Fprintln(stderr, "roomhub: refusing to start:", err)
		fmt.Fprintln(stderr, "run 'roomhub secrets validate' for details; see .env.example")
		return 2
	}
	out := stdout
	if cfg.LogFile != "" {
		f, err := logging.OpenFile(cfg.LogFile, logging.MaxFileBytes, logging.MaxBackups)
		if err != nil {
			fmt.Fprintln(stderr, "roomhub: LOG_FILE:", err)
			return 2
		}
		defer f.Close()
		out = io.MultiWriter(stdout, f)
	}
	log := logging.NewLimited(out, logging.ParseLevel(getenv("LOG_LEVEL")),
		logging.Limits{MaxValue: cfg.LogMaxValueBytes, Burst: cfg.SecurityLogBurst, Window: cfg.SecurityLogWindow})
	if cfg.SecretKey == "" { // only reachable with DEBUG=true
		cfg.SecretKey = generateKey()
		log.Warn("DEBUG is on and SECRET_KEY is unset: using a throwaway key; sessions end when the server restarts")
	}
	if cfg.Debug {
		log.Warn("DEBUG is on: cookies are not Secure and HSTS is off; never run production like this")
	}
	for _, w := range startupWarnings(cfg) {
		log.Warn(w)
	}
	if cfg.MasterKey == "" || cfg.APIKeySecret == "" { // only reachable with DEBUG=true
		if err := devKeys(&cfg); err != nil {
			fmt.Fprintln(stderr, "roomhub:", err)
			return 2
		}
		log.Warn("DEBUG is on and APP_MASTER_KEY or API_KEY_SECRET is unset: using development keys kept in DATA_DIR/" + devKeysFile)
	}
	if err := serveWith(cfg, log); err != nil {
		log.Error("server stopped", "err", err)
		return 1
	}
	return 0
}

func serveWith(cfg config.Config, log *slog.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	st, err := openStore(ctx, cfg)
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	defer st.Close()
	id := nodeID()
	var (
		bus     hub.Bus
		counter func(string, time.Duration) httprate.LimitCounter
		ready   = st.Ping
	)
	if cfg.RedisURL != "" {
		opt, err := redis.ParseURL(cfg.RedisURL)
		if err != nil {
			return fmt.Errorf("REDIS_URL: %w", err)
		}
		redis.SetLogger(redisLog{log})
		rdb := redis.NewClient(opt)
		defer rdb.Close()
		rb := redisbus.New(rdb, redisPrefix, id, log)
		rb.SetNodeTTL(cfg.NodeTTL)
		rb.SetEmptyRoomTTL(cfg.EmptyRoomTTL)
		defer rb.Close()
		if err := clearIfFresh(ctx, rb, st, log); err != nil {
			return err
		}
		bus = rb
		counter = redisCounter(rdb, log)
		// Readiness stays the database's alone: Redis is shared by every
		// node, so a Redis blip would take the whole cluster out of the
		// load balancer at once. Its state is the roomhub_bus_up metric.
		log.Info("cluster mode: bus, presence and rate limits on Redis", "node", id)
	} else {
		bus = memory.New()
		counter = func(_ string, window time.Duration) httprate.LimitCounter {
			return ratelimit.NewLocal(window, clock.Real{})
		}
		// In-process presence starts empty, so members a previous process
		// left behind (after a crash) are gone too.
		if n, err := st.DeleteAllMembers(ctx); err != nil {
			return fmt.Errorf("clear stale members: %w", err)
		} else if n > 0 {
			log.Info("removed members left by a previous run", "count", n)
		}
		if n, err := st.EndLiveSessions(ctx, time.Now()); err != nil {
			return fmt.Errorf("end stale room sessions: %w", err)
		} else if n > 0 {
			log.Info("ended room sessions left by a previous run", "count", n)
		}
	}
	org, err := st.DefaultOrg(ctx)
	if err != nil {
		return fmt.Errorf("default organization: %w", err)
	}
	minter := &agora.Minter{AppID: cfg.AgoraAppID, Certificate: cfg.AgoraCertificate, TTL: cfg.AgoraTokenTTL, DefaultOrg: org.ID}
	box, err := secret.New(cfg.MasterKey)
	if err != nil {
		return fmt.Errorf("APP_MASTER_KEY: %w", err)
	}
	tokens := &agora.Tenants{Default: minter, Lookup: orgCredentials(st, box)}
	var signOn *sso.SSO
	if cfg.SSOEnabled() {
		signOn, err = sso.New(ctx, ssoConfig(cfg))
		if err != nil {
			return fmt.Errorf("single sign-on: %w", err)
		}
	}
	node := hub.NewNode(hub.Config{
		NodeID:            id,
		HeartbeatInterval: cfg.NodeHeartbeat,
		ReconcileInterval: cfg.PresenceReconcile,
		Grace:             cfg.MemberGrace,
		Limits:            hub.Limits{MaxMembers: cfg.MaxRoomMembers, MaxRooms: cfg.MaxOrgRooms},
	}, bus, st, tokens, clock.Real{}, log)
	recorder := activity.New(st, bus, log)
	node.OnLifecycle(recorder)
	node.Start()
	src := metrics.Sources{Node: node, Store: st, Recorder: recorder, Version: buildVersion()}
	if rb, ok := bus.(*redisbus.Bus); ok {
		src.Bus = rb
	}
	obs := metrics.New(src)
	st.ObserveQueries(obs.StoreQuery)
	st.SetAuditBounds(roomhub.AuditBounds{UserAgent: cfg.AuditMaxUserAgent, Path: cfg.AuditMaxPath, Description: cfg.AuditMaxDescription})
	if cfg.MetricsAddr != "off" {
		// Bound before serving: a node whose metrics cannot be scraped
		// looks down to Prometheus while it serves, so it must not start.
		mln, err := net.Listen("tcp", cfg.MetricsAddr)
		if err != nil {
			return fmt.Errorf("METRICS_ADDR %s: %w", cfg.MetricsAddr, err)
		}
		go serveMetrics(mln, obs, log)
	}
	pages, err := ui.New()
	if err != nil {
		return fmt.Errorf("templates: %w", err)
	}
	// Agora's REST API and notifications (docs/agora.md).
	vid := video.New(video.ConfigFrom(cfg), st, tokens, box, node, clock.Real{}, log)
	go vid.Run(ctx)
	i, rm, fl, ac, un, ma, uc := vid.Counters()
	obs.WatchVideo(metrics.VideoCounters{Intruders: i, Removed: rm, Failed: fl, Accepted: ac, Unsigned: un, Malformed: ma, Unconfigure: uc})
	srv, err := server.New(ctx, server.Deps{Config: cfg, Store: st, Accounts: st, Rooms: st, History: st, Moderation: st, Node: node, Tokens: tokens,
		Box: box, Policy: account.NewPolicy(), SSO: signOn, UI: pages, Log: log,
		LimitCounter: counter, Ready: ready, Observer: obs, Video: vid})
	if err != nil {
		return err
	}
	obs.WatchLive(srv)
	go sweepSessions(ctx, st, log)
	go repairHistory(ctx, st, node, cfg, log)
	go pruneAudit(ctx, st, cfg.AuditRetention, time.Now, log)
	// Webhook deliveries: every node runs a worker; leases keep each
	// delivery to one of them (docs/webhooks.md).
	hooks := webhook.NewWorker(st, box, webhook.Policy{Allow: cfg.WebhookAllowNets}, log)
	hooks.Start(ctx)
	obs.WatchWebhooks(hooks.Stats.Delivered.Load, hooks.Stats.Retried.Load, hooks.Stats.Failed.Load)
	if cfg.PprofAddr != "" {
		go servePprof(cfg.PprofAddr, log)
	}

	hs := &http.Server{
		Addr:              cfg.Addr,
		Handler:           srv,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return err
	}
	log.Info("roomhub serving", "addr", ln.Addr().String(), "video", minter.Configured(), "debug", cfg.Debug)
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	// Stop accepting, close sockets with "going away", then remove every
	// member: with in-process presence nobody else will.
	log.Info("shutting down", "timeout", cfg.ShutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout-time.Second)
	defer cancel()
	done := make(chan struct{})
	go func() { hs.Shutdown(sctx); close(done) }()
	if err := node.Shutdown(sctx); err != nil {
		log.Warn("sockets still open at shutdown deadline", "err", err)
	}
	<-done
	if err := recorder.Close(sctx); err != nil {
		log.Warn("room history still queued at shutdown deadline", "err", err)
	}
	if err := hooks.Stop(sctx); err != nil {
		log.Warn("webhook deliveries still in flight at shutdown deadline; another node or the next start retries them", "err", err)
	}
	if cfg.RedisURL != "" {
		// Other nodes keep the members: their clients reconnect elsewhere
		// within the grace period, or the reaper removes them.
		log.Info("stopped")
		return nil
	}
	n, err := st.DeleteAllMembers(context.Background())
	if err != nil {
		return fmt.Errorf("remove members at shutdown: %w", err)
	}
	if _, err := st.EndLiveSessions(context.Background(), time.Now()); err != nil {
		return fmt.Errorf("end room sessions at shutdown: %w", err)
	}
	log.Info("stopped", "members_removed", n)
	return nil
}

// redisPrefix namespaces Roomhub's keys in Redis.
const redisPrefix = "roomhub:"

// redisCounter shares rate-limit counts through Redis, so a limit holds for
// the cluster. When Redis fails, token minting fails closed (the request is
// refused with 503) and every other route falls back to counting
// on this node alone, so reads keep working; both are logged.
func redisCounter(rdb *redis.Client, log *slog.Logger) func(string, time.Duration) httprate.LimitCounter {
	return func(name string, window time.Duration) httprate.LimitCounter {
		return httprateredis.NewCounter(&httprateredis.Config{
			Client:           rdb,
			WindowLength:     window,
			PrefixKey:        redisPrefix + "ratelimit:" + name,
			FallbackDisabled: name == "get_token",
			OnError:          func(err error) { log.Error("rate limit store failed", "limit", name, "err", err) },
			OnFallbackChange: func(on bool) {
				log.Warn("rate limit fallback to local counting", "limit", name, "active", on)
			},
		})
	}
}

// SessionSweepInterval is how often expired participant sessions are deleted.
const SessionSweepInterval = 10 * time.Minute

func sweepSessions(ctx context.Context, st roomhub.Store, log *slog.Logger) {
	t := time.NewTicker(SessionSweepInterval)
	defer t.Stop()
	for {
		if n, err := st.DeleteExpiredSessions(ctx, time.Now()); err != nil && ctx.Err() == nil {
			log.Error("session sweep failed", "err", err)
		} else if n > 0 {
			log.Info("expired sessions deleted", "count", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func nodeID() string {
	h, _ := os.Hostname()
	b := make([]byte, 4)
	rand.Read(b)
	return fmt.Sprintf("%s-%x", h, b)
}

// openStore opens PostgreSQL when DATABASE_URL is set, else the SQLite file
// in DATA_DIR.
func openStore(ctx context.Context, cfg config.Config) (*sqlstore.Store, error) {
	if cfg.DatabaseURL != "" {
		return sqlstore.OpenPostgres(ctx, cfg.DatabaseURL)
	}
	return sqlstore.OpenSQLite(ctx, cfg.DataDir)
}

// serveMetrics serves Prometheus metrics on their own listener, never on
// the public port. A failure to listen is logged, not fatal: the service
// matters more than its metrics.
func serveMetrics(ln net.Listener, m *metrics.Metrics, log *slog.Logger) {
	mux := http.NewServeMux()
	mux.Handle("/metrics", m.Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	log.Info("metrics listening", "addr", ln.Addr().String())
	if err := srv.Serve(ln); err != nil {
		log.Error("metrics listener stopped", "addr", ln.Addr().String(), "err", err)
	}
}

// repairHistory, every HISTORY_REPAIR, removes the members presence lost
// for good (hub.Node.DropOrphans; in a cluster) and ends room history's
// attendances of members gone from the room whose leave was never recorded
// (sqlstore.RepairHistory).
func repairHistory(ctx context.Context, st *sqlstore.Store, node *hub.Node, cfg config.Config, log *slog.Logger) {
	every := cfg.HistoryRepair
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		// Passes closer than a reconcile interval could catch a connected
		// member before its node puts it back.
		if cfg.RedisURL != "" && every >= cfg.PresenceReconcile {
			if ms, err := st.MembersJoinedBefore(ctx, time.Now().Add(-cfg.MemberGrace)); err != nil {
				log.Error("member sweep failed", "err", err)
			} else {
				node.DropOrphans(ctx, ms)
			}
		}
		if n, err := st.RepairHistory(ctx, time.Now(), every); err != nil && ctx.Err() == nil {
			log.Error("room history repair failed", "err", err)
		} else if n > 0 {
			log.Warn("room history repaired: ended attendances and sessions of members no longer in the room", "event", "history_repaired", "count", n)
		}
	}
}

// clearIfFresh removes the members and ends the room sessions a stopped
// cluster left in the database when Redis comes up empty under a starting
// cluster: nobody can be connected, and nothing else would ever remove them.
func clearIfFresh(ctx context.Context, rb *redisbus.Bus, st *sqlstore.Store, log *slog.Logger) error {
	cctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	fresh, err := rb.ClaimFresh(cctx)
	if err != nil {
		return fmt.Errorf("REDIS_URL: %w", err)
	}
	if !fresh {
		return nil
	}
	n, err := st.DeleteAllMembers(cctx)
	if err != nil {
		return fmt.Errorf("clear stale members: %w", err)
	}
	s, err := st.EndLiveSessions(cctx, time.Now())
	if err != nil {
		return fmt.Errorf("end stale room sessions: %w", err)
	}
	if n > 0 || s > 0 {
		log.Info("Redis is fresh: removed members and ended room sessions left by a stopped cluster", "members", n, "sessions", s)
	}
	return rb.MarkReady(cctx)
}

// redisLog sends the Redis client's own messages (pool dial failures,
// reconnects) into the JSON log instead of plain lines on stderr.
type redisLog struct{ log *slog.Logger }

func (l redisLog) Printf(_ context.Context, format string, v ...any) {
	l.log.Warn("redis client", "detail", fmt.Sprintf(format, v...))
}

// servePprof serves the Go profiler on its own listener, for measuring (see
// BENCHMARKS.md); never on the public port. Bind it to loopback.
func servePprof(addr string, log *slog.Logger) {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	log.Warn("profiler listening", "addr", addr)
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	if err := srv.ListenAndServe(); err != nil {
		log.Error("profiler stopped", "err", err)
	}
}
