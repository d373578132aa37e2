package main

import (
	"context"
	"log/slog"
	"time"
)

// AuditPruneInterval is how often audit rows older than AUDIT_RETENTION
// are deleted.
const AuditPruneInterval = time.Hour

// auditPruner is the store's part that deletes old audit rows.
type auditPruner interface {
	PruneAudit(ctx context.Context, before time.Time, batch int) (int, error)
}

// pruneAudit deletes audit rows older than retention now and then every
// AuditPruneInterval, until ctx ends. Every node may run it: deleting rows
// another node already deleted is harmless.
func pruneAudit(ctx context.Context, st auditPruner, retention time.Duration, now func() time.Time, log *slog.Logger) {
	t := time.NewTicker(AuditPruneInterval)
	defer t.Stop()
	for {
		if n, err := st.PruneAudit(ctx, now().Add(-retention), 10000); err != nil && ctx.Err() == nil {
			log.Error("audit prune failed", "err", err)
		} else if n > 0 {
			log.Info("old audit rows deleted", "count", n, "retention", retention.String())
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
