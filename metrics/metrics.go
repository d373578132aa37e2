// Package metrics exposes Roomhub's Prometheus metrics on their own
// registry, served on METRICS_ADDR and never on the public port.
//
// Cardinality: labels are route patterns (not raw paths), methods, status
// codes, limit names and leave reasons — all bounded sets. Rooms and
// organizations are never labels: they are unbounded and tenant-controlled;
// per-room figures belong to the dashboard, not to Prometheus.
package metrics

import (
	"context"
	"database/sql"
	"net/http"
	"runtime"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"roomhub/hub"
)

// Metrics holds the collectors the server reports to.
type Metrics struct {
	reg         *prometheus.Registry
	requests    *prometheus.CounterVec
	latency     *prometheus.HistogramVec
	rateLimited *prometheus.CounterVec
	csrf        prometheus.Counter
	loginFails  prometheus.Counter
	storeLat    *prometheus.HistogramVec
	lockouts    prometheus.Counter
	crossOrg    prometheus.Counter
	tokens      *prometheus.CounterVec
	delivery    prometheus.Histogram
}

// Sources are the parts whose figures are read at scrape time; nil ones are
// left out.
type Sources struct {
	Node *hub.Node
	Bus  interface {
		Stats() (errors, reconnects int64)
		Ping(ctx context.Context) error
	} // a networked bus
	Store interface{ DBStats() sql.DBStats }
	// Recorder is the activity recorder: changes it failed to record.
	Recorder interface{ RecordFailures() int64 }
	// Version is the binary's version, for roomhub_build_info.
	Version string
}

// New registers the runtime, process, HTTP, hub, bus and store metrics.
func New(src Sources) *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		reg: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "roomhub_http_requests_total", Help: "HTTP requests by route pattern, method and status code.",
		}, []string{"route", "method", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "roomhub_http_request_duration_seconds", Help: "HTTP request latency by route pattern and method.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"route", "method"}),
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "roomhub_rate_limited_total", Help: "Requests refused by a rate limit, by limit.",
		}, []string{"limit"}),
		storeLat: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "roomhub_store_query_duration_seconds", Help: "Store statement latency by kind: query, exec, or a whole transaction (tx).",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1, 5},
		}, []string{"op"}),
		loginFails: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "roomhub_login_failures_total", Help: "Failed dashboard sign-ins: wrong password, wrong second factor, refused SSO.",
		}),
		lockouts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "roomhub_login_lockouts_total", Help: "(email, IP) pairs locked after too many failed sign-ins.",
		}),
		crossOrg: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "roomhub_cross_org_attempts_total", Help: "Dashboard requests for an organization the user does not belong to.",
		}),
		csrf: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "roomhub_csrf_failures_total", Help: "State-changing requests refused by the CSRF checks.",
		}),
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "roomhub_token_mints_total", Help: "Agora token mint attempts by result (ok, failed).",
		}, []string{"result"}),
	}
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.requests, m.latency, m.rateLimited, m.csrf, m.tokens, m.loginFails, m.lockouts, m.crossOrg, m.storeLat)
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "roomhub_build_info", Help: "Always 1; its labels are the running binary's version and Go toolchain.",
		ConstLabels: prometheus.Labels{"version": src.Version, "goversion": runtime.Version()},
	}, func() float64 { return 1 }))
	m.tokens.WithLabelValues("ok")
	m.tokens.WithLabelValues("failed")
	if src.Node != nil {
		m.delivery = prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "roomhub_event_delivery_seconds",
			Help:    "From a room event reaching this node to its write on a socket.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1},
		})
		reg.MustRegister(m.delivery)
		src.Node.ObserveDelivery(func(d time.Duration) { m.delivery.Observe(d.Seconds()) })
		registerHub(reg, src.Node)
	}
	if src.Bus != nil {
		bus := src.Bus
		reg.MustRegister(
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "roomhub_bus_errors_total", Help: "Event bus (Redis) commands that failed."},
				func() float64 { e, _ := bus.Stats(); return float64(e) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "roomhub_bus_reconnects_total", Help: "Event bus subscription recoveries."},
				func() float64 { _, r := bus.Stats(); return float64(r) }),
			// Asked at each scrape, so an outage shows while it lasts (the
			// error counter only moves when commands are tried).
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "roomhub_bus_up", Help: "1 when the event bus (Redis) answers a ping at scrape time, else 0."},
				func() float64 {
					ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
					defer cancel()
					if bus.Ping(ctx) != nil {
						return 0
					}
					return 1
				}))
	}
	if src.Recorder != nil {
		rec := src.Recorder
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "roomhub_history_failures_total",
			Help: "Membership changes the room history could not record (database errors)."},
			func() float64 { return float64(rec.RecordFailures()) }))
	}
	if src.Store != nil {
		reg.MustRegister(storeCollector{src.Store,
			prometheus.NewDesc("roomhub_store_connections", "Database connections by state.", []string{"state"}, nil),
			prometheus.NewDesc("roomhub_store_wait_total", "Queries that waited for a free database connection.", nil, nil)})
	}
	return m
}

// storeCollector reads the database pool's figures at scrape time.
type storeCollector struct {
	st    interface{ DBStats() sql.DBStats }
	conns *prometheus.Desc
	waits *prometheus.Desc
}

func (c storeCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.conns; ch <- c.waits }

func (c storeCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.st.DBStats()
	ch <- prometheus.MustNewConstMetric(c.conns, prometheus.GaugeValue, float64(s.InUse), "in_use")
	ch <- prometheus.MustNewConstMetric(c.conns, prometheus.GaugeValue, float64(s.Idle), "idle")
	ch <- prometheus.MustNewConstMetric(c.waits, prometheus.CounterValue, float64(s.WaitCount))
}

func registerHub(reg *prometheus.Registry, n *hub.Node) {
	counter := func(name, help string, f func() int64) {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help},
			func() float64 { return float64(f()) }))
	}
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "roomhub_websocket_connections", Help: "WebSocket connections open on this node.",
	}, func() float64 { return float64(n.Stats.Conns.Load()) }))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "roomhub_rooms_local", Help: "Rooms with sockets on this node.",
	}, func() float64 { return float64(n.LocalRooms()) }))
	counter("roomhub_websocket_accepted_total", "WebSocket connections accepted by this node.", n.Stats.Accepted.Load)
	counter("roomhub_events_delivered_total", "Frames written to sockets by this node.", n.Stats.Delivered.Load)
	counter("roomhub_send_queue_drops_total", "Sockets cut off because their send queue filled (slow readers).", n.Stats.SlowDrops.Load)
	counter("roomhub_member_joins_total", "Members joined through this node.", n.Stats.Joins.Load)
	counter("roomhub_reaper_runs_total", "Reaper passes completed by this node (failed passes are not counted).", n.Stats.ReapRuns.Load)
	counter("roomhub_reaper_failures_total", "Reaper passes that failed on this node.", n.Stats.ReapFails.Load)
	counter("roomhub_presence_restored_total", "Connected members this node put back into presence after it lost them.", n.Stats.Restored.Load)
	counter("roomhub_members_reaped_total", "Members removed by this node's reaper.", n.Stats.Reaped.Load)
	leaves := prometheus.NewDesc("roomhub_member_leaves_total", "Members that left through this node, by reason.", []string{"reason"}, nil)
	leaveReasons := hub.LeaveReasons()
	reg.MustRegister(reasonCollector{desc: leaves, reasons: leaveReasons[:], count: func(i int) int64 { return n.Stats.Leaves[i].Load() }})
	closed := prometheus.NewDesc("roomhub_websocket_closed_total", "WebSocket connections this node ended, by reason (hub.CloseReasons).", []string{"reason"}, nil)
	reg.MustRegister(reasonCollector{desc: closed, reasons: hub.CloseReasons(), count: func(i int) int64 { return n.Stats.Closes[i].Load() }})
}

// reasonCollector reports a node's counters kept per reason (an array in
// hub.Stats, in the order of its reasons) with a reason label.
type reasonCollector struct {
	desc    *prometheus.Desc
	reasons []string
	count   func(i int) int64
}

func (c reasonCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c reasonCollector) Collect(ch chan<- prometheus.Metric) {
	for i, reason := range c.reasons {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, float64(c.count(i)), reason)
	}
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Request records one HTTP request.
func (m *Metrics) Request(route, method string, code int, d time.Duration) {
	if route == "" {
		route = "unmatched" // bounded: raw paths never become labels
	}
	m.requests.WithLabelValues(route, method, strconv.Itoa(code)).Inc()
	m.latency.WithLabelValues(route, method).Observe(d.Seconds())
}

// RateLimited records a request refused by the named limit.
func (m *Metrics) RateLimited(limit string) { m.rateLimited.WithLabelValues(limit).Inc() }

// StoreQuery records how long a store statement of kind op took.
func (m *Metrics) StoreQuery(op string, d time.Duration) {
	m.storeLat.WithLabelValues(op).Observe(d.Seconds())
}

// LoginFailed records a failed sign-in.
func (m *Metrics) LoginFailed() { m.loginFails.Inc() }

// Lockout records an (email, IP) pair being locked.
func (m *Metrics) Lockout() { m.lockouts.Inc() }

// CrossOrgAttempt records a request for another organization's dashboard.
func (m *Metrics) CrossOrgAttempt() { m.crossOrg.Inc() }

// CSRFFailure records a refused state-changing request.
func (m *Metrics) CSRFFailure() { m.csrf.Inc() }

// TokenMinted records a token mint attempt.
func (m *Metrics) TokenMinted(ok bool) {
	if ok {
		m.tokens.WithLabelValues("ok").Inc()
		return
	}
	m.tokens.WithLabelValues("failed").Inc()
}

// WatchLive registers the gauge of open live dashboard streams; the server
// is made after the metrics, so it is added here.
func (m *Metrics) WatchLive(live interface{ LiveStreams() int64 }) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "roomhub_live_streams",
		Help: "Open live dashboard streams on this node."},
		func() float64 { return float64(live.LiveStreams()) }))
}

// WatchWebhooks registers the webhook attempt counters of a node's worker.
func (m *Metrics) WatchWebhooks(delivered, retried, failed func() int64) {
	m.reg.MustRegister(&funcCounterVec{
		desc:   prometheus.NewDesc("roomhub_webhook_attempts_total", "Webhook delivery attempts by outcome: delivered, retry (failed, will be tried again), failed (failed for good).", []string{"outcome"}, nil),
		values: map[string]func() int64{"delivered": delivered, "retry": retried, "failed": failed},
	})
}

// funcCounterVec is a counter per label value, each read from a function.
type funcCounterVec struct {
	desc   *prometheus.Desc
	values map[string]func() int64
}

func (c *funcCounterVec) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *funcCounterVec) Collect(ch chan<- prometheus.Metric) {
	for label, f := range c.values {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, float64(f()), label)
	}
}

// VideoCounters are the video service's counters (video.Stats).
type VideoCounters struct {
	Intruders                        func() int64
	Removed, Failed                  func() int64
	Accepted                         func() int64
	Unsigned, Malformed, Unconfigure func() int64
}

// WatchVideo registers the counters of Agora video moderation:
// intruders found, kicking rules by outcome and notifications by outcome.
func (m *Metrics) WatchVideo(v VideoCounters) {
	m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "roomhub_video_intruders_total",
		Help: "Uids found in a room's Agora channel with no member behind them."},
		func() float64 { return float64(v.Intruders()) }))
	m.reg.MustRegister(&funcCounterVec{
		desc:   prometheus.NewDesc("roomhub_video_removals_total", "Agora kicking rules asked for by this node, by outcome: removed, failed (for good).", []string{"outcome"}, nil),
		values: map[string]func() int64{"removed": v.Removed, "failed": v.Failed},
	})
	m.reg.MustRegister(&funcCounterVec{
		desc: prometheus.NewDesc("roomhub_agora_notifications_total", "Agora notifications received, by outcome: accepted, unsigned (no or a wrong signature), malformed (not a notification, too old or too large), unconfigured (no secret set).", []string{"outcome"}, nil),
		values: map[string]func() int64{"accepted": v.Accepted, "unsigned": v.Unsigned, "malformed": v.Malformed,
			"unconfigured": v.Unconfigure},
	})
}
