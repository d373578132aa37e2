// Package sqltest opens fresh SQL stores for tests in other packages: a
// SQLite file in a temporary directory, or a PostgreSQL schema of its own on
// the test server (ROOMHUB_TEST_DATABASE_URL, or the database
// scripts/test-deps.sh provides), dropped when the test ends.
package sqltest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"roomhub/store/sqlstore"
)

// DefaultDatabaseURL is the server scripts/test-deps.sh starts.
const DefaultDatabaseURL = "postgres://roomhub:roomhub@127.0.0.1:5432/roomhub_test?sslmode=disable"

// DatabaseURL is the PostgreSQL server tests use.
func DatabaseURL() string {
	if u := os.Getenv("ROOMHUB_TEST_DATABASE_URL"); u != "" {
		return u
	}
	return DefaultDatabaseURL
}

// Kinds names the stores every store-dependent suite runs on.
func Kinds() []string { return []string{"sqlite", "postgres"} }

// Open opens a fresh, migrated store of the named kind ("sqlite" or
// "postgres"), closed when the test ends.
func Open(t testing.TB, kind string) *sqlstore.Store {
	t.Helper()
	var (
		s   *sqlstore.Store
		err error
	)
	switch kind {
	case "sqlite":
		s, err = sqlstore.OpenSQLite(context.Background(), t.TempDir())
	case "postgres":
		s, err = sqlstore.OpenPostgres(context.Background(), Schema(t))
	default:
		t.Fatalf("sqltest: unknown store %q", kind)
	}
	if err != nil {
		t.Fatalf("open %s store: %v", kind, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func connect(t testing.TB, ctx context.Context, dsn string) *pgx.Conn {
	t.Helper()
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatalf("ROOMHUB_TEST_DATABASE_URL is not a valid PostgreSQL URL: %v", err)
	}
	cfg.ConnectTimeout = 5 * time.Second
	c, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatalf("PostgreSQL is not reachable: %v\nRun `make test-deps` to install and start it (or point ROOMHUB_TEST_DATABASE_URL at a server).", err)
	}
	return c
}

// Schema creates an empty schema with a random name and returns the test
// database URL with search_path set to it. The schema is dropped when the
// test ends.
func Schema(t testing.TB) string {
	t.Helper()
	u, err := url.Parse(DatabaseURL())
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		t.Fatalf("ROOMHUB_TEST_DATABASE_URL must be a postgres:// URL")
	}
	b := make([]byte, 8)
	rand.Read(b)
	schema := "roomhub_test_" + hex.EncodeToString(b)
	ident := pgx.Identifier{schema}.Sanitize()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin := connect(t, ctx, u.String())
	defer admin.Close(context.Background())
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+ident); err != nil {
		t.Fatalf("create schema %s: %v", schema, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		admin := connect(t, ctx, u.String())
		defer admin.Close(ctx)
		if _, err := admin.Exec(ctx, "DROP SCHEMA "+ident+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}
