package logging

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"time"
	"unicode/utf8"
)

// Limits keep one client from flooding the log: every string value is cut
// to MaxValue bytes, and security events (records with security=true) of
// one kind from one address pass Burst times per Window; the rest are
// counted and reported in one "security events suppressed" line when the
// next window begins. Without them, a client repeating a refused request
// with a 64 KiB User-Agent rotates the whole log away in seconds, and the
// evidence of earlier events with it.
type Limits struct {
	MaxValue int           // LOG_MAX_VALUE_BYTES, default 1024
	Burst    int           // SECURITY_LOG_BURST, default 20
	Window   time.Duration // SECURITY_LOG_WINDOW, default 1m
}

// DefaultLimits are the limits of New.
var DefaultLimits = Limits{MaxValue: 1024, Burst: 20, Window: time.Minute}

// maxTrackedKeys bounds the (event, address) pairs the guard remembers;
// past it, the oldest window's pairs are forgotten all at once.
const maxTrackedKeys = 10000

// NewLimited is New with limits.
func NewLimited(w io.Writer, level slog.Level, l Limits) *slog.Logger {
	inner := slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level, ReplaceAttr: func(g []string, a slog.Attr) slog.Attr {
		return bound(redact(g, a), l.MaxValue)
	}})
	return slog.New(&guard{inner: inner, limits: l, state: &guardState{seen: map[guardKey]*window{}}})
}

func bound(a slog.Attr, max int) slog.Attr {
	if max > 0 && a.Value.Kind() == slog.KindString && len(a.Value.String()) > max {
		s := a.Value.String()
		cut := max
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		return slog.String(a.Key, s[:cut]+"…")
	}
	return a
}

type guardKey struct{ event, ip string }

type window struct {
	start      time.Time
	n          int
	suppressed int
}

type guardState struct {
	mu   sync.Mutex
	seen map[guardKey]*window
}

type guard struct {
	inner  slog.Handler
	limits Limits
	state  *guardState
	attrs  []slog.Attr // from WithAttrs, to find security/event/ip
}

func (g *guard) Enabled(ctx context.Context, l slog.Level) bool { return g.inner.Enabled(ctx, l) }

func (g *guard) WithAttrs(as []slog.Attr) slog.Handler {
	return &guard{inner: g.inner.WithAttrs(as), limits: g.limits, state: g.state, attrs: append(append([]slog.Attr(nil), g.attrs...), as...)}
}

func (g *guard) WithGroup(name string) slog.Handler {
	return &guard{inner: g.inner.WithGroup(name), limits: g.limits, state: g.state, attrs: g.attrs}
}

func (g *guard) Handle(ctx context.Context, r slog.Record) error {
	if g.limits.Burst <= 0 || g.limits.Window <= 0 {
		return g.inner.Handle(ctx, r)
	}
	var security bool
	var k guardKey
	look := func(a slog.Attr) bool {
		switch a.Key {
		case "security":
			security = a.Value.Kind() == slog.KindBool && a.Value.Bool()
		case "event":
			k.event = a.Value.String()
		case "ip":
			k.ip = a.Value.String()
		}
		return true
	}
	for _, a := range g.attrs {
		look(a)
	}
	r.Attrs(look)
	if !security {
		return g.inner.Handle(ctx, r)
	}
	now := r.Time
	if now.IsZero() {
		now = time.Now()
	}
	g.state.mu.Lock()
	w := g.state.seen[k]
	var report int
	var since time.Time
	if w == nil || now.Sub(w.start) >= g.limits.Window {
		if w != nil {
			report, since = w.suppressed, w.start
		}
		if w == nil && len(g.state.seen) >= maxTrackedKeys {
			for key, old := range g.state.seen {
				if now.Sub(old.start) >= g.limits.Window {
					delete(g.state.seen, key)
				}
			}
			if len(g.state.seen) >= maxTrackedKeys {
				g.state.seen = map[guardKey]*window{}
			}
		}
		w = &window{start: now}
		g.state.seen[k] = w
	}
	w.n++
	pass := w.n <= g.limits.Burst
	if !pass {
		w.suppressed++
	}
	g.state.mu.Unlock()
	if report > 0 {
		sum := slog.NewRecord(now, slog.LevelWarn, "security events suppressed", 0)
		sum.AddAttrs(slog.Bool("security", true), slog.String("event", "suppressed"), slog.String("suppressed_event", k.event),
			slog.String("ip", k.ip), slog.Int("count", report), slog.Time("since", since))
		if err := g.inner.Handle(ctx, sum); err != nil {
			return err
		}
	}
	if !pass {
		return nil
	}
	return g.inner.Handle(ctx, r)
}
