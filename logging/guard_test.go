package logging

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestOneClientCannotRotateTheEvidenceAway replays the attack: a lockout is
// logged, then one address sends a thousand refused requests with a 67 kB
// User-Agent. The rotated files (5 MB x 5) must still hold the lockout,
// every line must be bounded, and the suppressed repeats are counted in the
// next window.
func TestOneClientCannotRotateTheEvidenceAway(t *testing.T) {
	path := filepath.Join(t.TempDir(), "roomhub.log")
	f, err := OpenFile(path, MaxFileBytes, MaxBackups)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	log := New(f, slog.LevelInfo)
	h := log.Handler()
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	emit := func(at time.Time, event, ip, ua string) {
		r := slog.NewRecord(at, slog.LevelWarn, "security event", 0)
		r.AddAttrs(slog.Bool("security", true), slog.String("event", event), slog.String("ip", ip), slog.String("user_agent", ua))
		if err := h.Handle(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	emit(t0, "login_lockout", "192.0.2.7", "Mozilla/5.0")
	ua := strings.Repeat("A", 67_000)
	for i := range 1000 {
		emit(t0.Add(time.Duration(i)*time.Millisecond), "unauthorized_member_access", "203.0.113.9", ua)
	}
	// Another address is not silenced by the first one's flood.
	emit(t0.Add(2*time.Second), "unauthorized_member_access", "198.51.100.1", "curl/8")
	// The next window reports what was suppressed.
	emit(t0.Add(DefaultLimits.Window+time.Second), "unauthorized_member_access", "203.0.113.9", ua)

	if _, err := os.Stat(path + ".1"); err == nil {
		t.Error("the flood rotated the log")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	logText := string(b)
	if !strings.Contains(logText, `"event":"login_lockout"`) {
		t.Fatal("the lockout event is gone")
	}
	if !strings.Contains(logText, `"ip":"198.51.100.1"`) {
		t.Error("another address's event was suppressed")
	}
	if !strings.Contains(logText, `"event":"suppressed","suppressed_event":"unauthorized_member_access","ip":"203.0.113.9","count":980`) {
		t.Errorf("no count of the suppressed repeats:\n%.3000s", logText)
	}
	for i, line := range strings.Split(strings.TrimSpace(logText), "\n") {
		if len(line) > 2*DefaultLimits.MaxValue+512 {
			t.Errorf("line %d is %d bytes", i, len(line))
		}
	}
	// Ordinary (non-security) lines are bounded but never suppressed.
	var ordinary strings.Builder
	l2 := New(&ordinary, slog.LevelInfo)
	for range 50 {
		l2.Info("request", "path", strings.Repeat("p", 5000))
	}
	if n := strings.Count(ordinary.String(), "\n"); n != 50 || ordinary.Len() > 50*(DefaultLimits.MaxValue+200) {
		t.Errorf("ordinary lines: %d lines, %d bytes", n, ordinary.Len())
	}
}

// TestSuppressedCountReportedAfterTheFloodStops: the count of an address
// that floods and then goes quiet is reported by the next security event
// from anyone once its window is over.
func TestSuppressedCountReportedAfterTheFloodStops(t *testing.T) {
	var buf strings.Builder
	h := New(&buf, slog.LevelInfo).Handler()
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	emit := func(at time.Time, ip string) {
		r := slog.NewRecord(at, slog.LevelWarn, "security event", 0)
		r.AddAttrs(slog.Bool("security", true), slog.String("event", "csrf_failure"), slog.String("ip", ip))
		h.Handle(context.Background(), r)
	}
	for range DefaultLimits.Burst + 7 {
		emit(t0, "203.0.113.9")
	}
	if strings.Contains(buf.String(), `"event":"suppressed"`) {
		t.Fatal("reported before the window ended")
	}
	emit(t0.Add(DefaultLimits.Window+time.Second), "198.51.100.1")
	if !strings.Contains(buf.String(), `"suppressed_event":"csrf_failure","ip":"203.0.113.9","count":7`) {
		t.Fatalf("the quiet flooder's count is not reported:\n%s", buf.String())
	}
}
