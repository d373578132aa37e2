package sqlstore

import (
	"context"
	"database/sql"
	"strings"
	"sync"
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
//
// On SQLite it also splits readers from the writer and keeps prepared
// statements. SQLite runs one writer at a time: with several pool
// connections writing, all but one wait in SQLite's busy handler, which
// sleeps 1, 2, 5, 10 ms and more between tries, and that was the tail of a
// join's latency. With writes (every Exec, every statement that is not a
// SELECT, every transaction) on a pool of one connection, they queue in Go
// and run back to back; readers keep their own pool beside it under WAL.
// Parsing a statement was an eighth of a join's CPU, so each one is
// prepared once per pool and reused.
type timedDB struct {
	*sql.DB         // readers (and everything, when w is nil)
	w       *sql.DB // the one writer, or nil
	observe func(op string, d time.Duration)
	prepare bool     // keep prepared statements
	stmts   sync.Map // query -> *sql.Stmt, per pool (see stmt)
	wstmts  sync.Map
}

func (db *timedDB) done(op string, start time.Time) {
	if db.observe != nil {
		db.observe(op, time.Since(start))
	}
}

// writer is the pool for statements that write.
func (db *timedDB) writer() *sql.DB {
	if db.w != nil {
		return db.w
	}
	return db.DB
}

// reads reports whether q only reads.
func reads(q string) bool {
	q = strings.TrimSpace(q)
	return len(q) >= 6 && strings.EqualFold(q[:6], "SELECT")
}

// pool picks the pool (and its statement cache) for q.
func (db *timedDB) pool(q string) (*sql.DB, *sync.Map) {
	if db.w == nil || reads(q) {
		return db.DB, &db.stmts
	}
	return db.w, &db.wstmts
}

// stmt returns q prepared on p, preparing it the first time. A statement
// that fails to prepare is not kept: the caller's plain query reports why.
func (db *timedDB) stmt(ctx context.Context, p *sql.DB, cache *sync.Map, q string) *sql.Stmt {
	if !db.prepare {
		return nil
	}
	if s, ok := cache.Load(q); ok {
		return s.(*sql.Stmt)
	}
	s, err := p.PrepareContext(ctx, q)
	if err != nil {
		return nil
	}
	if old, loaded := cache.LoadOrStore(q, s); loaded {
		s.Close()
		return old.(*sql.Stmt)
	}
	return s
}

func (db *timedDB) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	defer db.done(OpExec, time.Now())
	p, cache := db.writer(), &db.wstmts
	if db.w == nil {
		cache = &db.stmts
	}
	if s := db.stmt(ctx, p, cache, q); s != nil {
		return s.ExecContext(ctx, args...)
	}
	return p.ExecContext(ctx, q, args...)
}

func (db *timedDB) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	defer db.done(OpQuery, time.Now())
	p, cache := db.pool(q)
	if s := db.stmt(ctx, p, cache, q); s != nil {
		return s.QueryContext(ctx, args...)
	}
	return p.QueryContext(ctx, q, args...)
}

func (db *timedDB) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	defer db.done(OpQuery, time.Now())
	p, cache := db.pool(q)
	if s := db.stmt(ctx, p, cache, q); s != nil {
		return s.QueryRowContext(ctx, args...)
	}
	return p.QueryRowContext(ctx, q, args...)
}

// BeginTx starts a transaction on the writer.
func (db *timedDB) BeginTx(ctx context.Context, opts *sql.TxOptions) (*sql.Tx, error) {
	return db.writer().BeginTx(ctx, opts)
}

// Close closes the statements and both pools.
func (db *timedDB) Close() error {
	for _, m := range []*sync.Map{&db.stmts, &db.wstmts} {
		m.Range(func(_, v any) bool { v.(*sql.Stmt).Close(); return true })
	}
	err := db.DB.Close()
	if db.w != nil {
		if werr := db.w.Close(); err == nil {
			err = werr
		}
	}
	return err
}

// ObserveQueries sets the function told how long each statement (and each
// transaction) took. Call it before the store is shared.
func (s *Store) ObserveQueries(f func(op string, d time.Duration)) { s.db.observe = f }
