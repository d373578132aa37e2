package main

import (
	"context"
	"log/slog"
	"testing"
	"time"
)

type recordingPruner chan time.Time

func (p recordingPruner) PruneAudit(ctx context.Context, before time.Time, batch int) (int, error) {
	p <- before
	return 0, nil
}

// TestPruneAuditAtStart: the pruner deletes rows older than the retention
// as soon as the server starts, not an hour later.
func TestPruneAuditAtStart(t *testing.T) {
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	p := make(recordingPruner, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		pruneAudit(ctx, p, 30*24*time.Hour, func() time.Time { return now }, slog.New(slog.DiscardHandler))
		close(done)
	}()
	if before := <-p; !before.Equal(now.Add(-30 * 24 * time.Hour)) {
		t.Fatalf("pruned before %v, want 30 days ago", before)
	}
	cancel()
	<-done
}
