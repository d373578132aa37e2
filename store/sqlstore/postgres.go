package sqlstore

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
	"github.com/jackc/pgx/v5/stdlib"

	"roomhub"
)

// The connection pool of a PostgreSQL store. Every node of a cluster has its
// own, so max_connections on the server must cover nodes × postgresMaxConns
// plus room for administration; 20 is far more than one node needs for
// Roomhub's short transactions.
const (
	postgresMaxConns        = 20
	postgresMaxIdleConns    = 5
	postgresConnMaxLifetime = 30 * time.Minute // so a failover or a DNS change is picked up
	postgresConnMaxIdleTime = 5 * time.Minute
)

// Timeouts of a PostgreSQL store. Each applies only where the caller's
// context has no deadline of its own; a shorter or longer deadline from the
// caller wins.
const (
	// postgresConnectTimeout bounds dialing, TLS and authentication of one
	// connection (the URL's connect_timeout overrides it).
	postgresConnectTimeout = 5 * time.Second
	// postgresQueryTimeout bounds each statement, so that a lock held
	// elsewhere or a server that stopped answering turns into EUNAVAILABLE
	// rather than a request that hangs.
	postgresQueryTimeout = 5 * time.Second
	// postgresOpenTimeout bounds OpenPostgres: connecting, and migrating,
	// which includes waiting for another node's migrations.
	postgresOpenTimeout = time.Minute
	// postgresCancelGrace is how long a statement whose context ended may
	// wait for the server to confirm its cancellation before the connection
	// is dropped instead.
	postgresCancelGrace = 2 * time.Second
)

// postgresApplicationName names Roomhub's sessions in pg_stat_activity
// unless the URL sets application_name.
const postgresApplicationName = "roomhub"

// OpenPostgres connects to the PostgreSQL database at url (a postgres:// URL
// or a key=value connection string, as libpq reads them) through pgx's
// database/sql driver and migrates it. Nodes opening one database at the
// same time apply each migration once: the migrations take a PostgreSQL
// advisory lock.
//
// Every failure to reach or keep the database (connection refused or reset,
// a timeout, the server shutting down or terminating the session, the store
// closed) comes back from the store's methods as EUNAVAILABLE. A statement
// whose context ends is cancelled on the server, not only abandoned by the
// client, so a write that timed out does not happen later.
func OpenPostgres(ctx context.Context, url string) (*Store, error) {
	return openPostgres(ctx, url, postgresQueryTimeout)
}

func openPostgres(ctx context.Context, url string, queryTimeout time.Duration) (*Store, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		// The parse error quotes the URL, password included when it cannot
		// be told apart: keep it out of the logs.
		return nil, roomhub.Invalid("DATABASE_URL", "DATABASE_URL is not a valid PostgreSQL connection string.")
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = postgresConnectTimeout
	}
	if _, ok := cfg.RuntimeParams["application_name"]; !ok {
		cfg.RuntimeParams["application_name"] = postgresApplicationName
	}
	cfg.BuildContextWatcherHandler = func(c *pgconn.PgConn) ctxwatch.Handler {
		return &pgconn.CancelRequestContextWatcherHandler{Conn: c, DeadlineDelay: postgresCancelGrace}
	}
	cfg.Tracer = defaultTimeout(queryTimeout)

	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(postgresMaxConns)
	db.SetMaxIdleConns(postgresMaxIdleConns)
	db.SetConnMaxLifetime(postgresConnMaxLifetime)
	db.SetConnMaxIdleTime(postgresConnMaxIdleTime)

	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, postgresOpenTimeout)
		defer cancel()
	}
	s, err := New(ctx, db, Postgres())
	if err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// defaultTimeout is a pgx.QueryTracer that gives every statement whose
// context has no deadline one that far ahead. database/sql has no such
// setting, and pgx uses the context TraceQueryStart returns for the whole
// statement, reading its rows included, and hands it to TraceQueryEnd, which
// releases the timer.
type defaultTimeout time.Duration

type cancelKey struct{}

func (d defaultTimeout) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	if _, ok := ctx.Deadline(); ok {
		return ctx
	}
	ctx, cancel := context.WithTimeout(ctx, time.Duration(d))
	return context.WithValue(ctx, cancelKey{}, cancel)
}

func (defaultTimeout) TraceQueryEnd(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryEndData) {
	if cancel, ok := ctx.Value(cancelKey{}).(context.CancelFunc); ok {
		cancel()
	}
}
