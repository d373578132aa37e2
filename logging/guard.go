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
// pairs whose window ended are swept once a window, and if the map is
// still full it starts over.
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
	mu        sync.Mutex
	seen      map[guardKey]*window
	lastSweep time.Time
}

// sweep removes the pairs whose window has ended and returns the counts of
// those that had repeats suppressed, so they are reported even when that
// address sends nothing more. Called with mu held, at most once a window.
func (st *guardState) sweep(now time.Time, window time.Duration) []slog.Record {
	if now.Sub(st.lastSweep) < window {
		return nil
	}
	st.lastSweep = now
	var out []slog.Record
	for k, w := range st.seen {
		if now.Sub(w.start) < window {
			continue
		}
		if w.suppressed > 0 {
			out = append(out, summary(now, k, w.suppressed, w.start))
		}
		delete(st.seen, k)
	}
	return out
}

func summary(now time.Time, k guardKey, n int, since time.Time) slog.Record {
	r := slog.NewRecord(now, slog.LevelWarn, "security events suppressed", 0)
	r.AddAttrs(slog.Bool("security", true), slog.String("event", "suppressed"), slog.String("suppressed_event", k.event),
		slog.String("ip", k.ip), slog.Int("count", n), slog.Time("since", since))
	return r
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
	var reports []slog.Record
	w := g.state.seen[k]
	if w == nil || now.Sub(w.start) >= g.limits.Window {
		if w != nil && w.suppressed > 0 {
			reports = append(reports, summary(now, k, w.suppressed, w.start))
		}
		delete(g.state.seen, k)
		reports = append(reports, g.state.sweep(now, g.limits.Window)...)
		if len(g.state.seen) >= maxTrackedKeys {
			g.state.seen = map[guardKey]*window{} // a flood from very many addresses: start over
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
	for _, sum := range reports {
		if err := g.inner.Handle(ctx, sum); err != nil {
			return err
		}
	}
	if !pass {
		return nil
	}
	return g.inner.Handle(ctx, r)
}
