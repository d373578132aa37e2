package sqlstore

import (
	"context"
	"database/sql"
	"time"
)

// Store operation kinds, the label of the query latency metric.
const (
	OpQuery = "query" // a SELECT (or an INSERT ... RETURNING read as a row)
	OpExec  = "exec"  // a statement without rows
	OpTx    = "tx"    // a whole transaction, commit included
)

// timedDB is the store's *sql.DB with each statement timed for the
// observer, so the metrics see store latency without the store's methods
// each measuring themselves.
type timedDB struct {
	*sql.DB
	observe func(op string, d time.Duration)
}

func (db *timedDB) done(op string, start time.Time) {
	if db.observe != nil {
		db.observe(op, time.Since(start))
	}
}

func (db *timedDB) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	defer db.done(OpExec, time.Now())
	return db.DB.ExecContext(ctx, q, args...)
}

func (db *timedDB) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	defer db.done(OpQuery, time.Now())
	return db.DB.QueryContext(ctx, q, args...)
}

func (db *timedDB) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	defer db.done(OpQuery, time.Now())
	return db.DB.QueryRowContext(ctx, q, args...)
}

// ObserveQueries sets the function told how long each statement (and each
// transaction) took. Call it before the store is shared.
func (s *Store) ObserveQueries(f func(op string, d time.Duration)) { s.db.observe = f }
