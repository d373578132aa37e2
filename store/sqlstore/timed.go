package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// connRetries bounds the attempts of a statement or transaction that met a
// pooled connection whose server session had already ended: one more than
// the idle connections the pool keeps, so that a server that ended all of
// them (a restart, pg_terminate_backend) costs no caller an error.
const connRetries = postgresMaxIdleConns + 1

// sessionEnded reports whether err says the server had ended the
// connection's session before it ran the statement (SQLSTATE class 57P:
// administrator command, crash shutdown, cannot connect now). Nothing of
// the statement, or of the transaction it was part of, took effect, so it
// is safe to run again on another connection.
func sessionEnded(err error) bool {
	var pg *pgconn.PgError
	if !errors.As(err, &pg) {
		return false
	}
	switch pg.Code {
	case "57P01", "57P02", "57P03":
		return true
	}
	return false
}

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
	res, err := db.DB.ExecContext(ctx, q, args...)
	for i := 1; i < connRetries && sessionEnded(err); i++ {
		res, err = db.DB.ExecContext(ctx, q, args...)
	}
	return res, err
}

func (db *timedDB) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	defer db.done(OpQuery, time.Now())
	rows, err := db.DB.QueryContext(ctx, q, args...)
	for i := 1; i < connRetries && sessionEnded(err); i++ {
		rows, err = db.DB.QueryContext(ctx, q, args...)
	}
	return rows, err
}

func (db *timedDB) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	defer db.done(OpQuery, time.Now())
	row := db.DB.QueryRowContext(ctx, q, args...)
	for i := 1; i < connRetries && sessionEnded(row.Err()); i++ {
		row = db.DB.QueryRowContext(ctx, q, args...)
	}
	return row
}

// ObserveQueries sets the function told how long each statement (and each
// transaction) took. Call it before the store is shared.
func (s *Store) ObserveQueries(f func(op string, d time.Duration)) { s.db.observe = f }
