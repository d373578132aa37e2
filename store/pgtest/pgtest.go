// Package pgtest gives tests a PostgreSQL schema of their own on the test
// server: ROOMHUB_TEST_DATABASE_URL, or the database scripts/test-deps.sh
// provides. Each schema is created empty and dropped when the test ends, so
// tests run in parallel and every run starts clean.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
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

// Redacted is dsn without its password, for messages.
func Redacted(dsn string) string {
	if u, err := url.Parse(dsn); err == nil {
		return u.Redacted()
	}
	return "(ROOMHUB_TEST_DATABASE_URL)"
}

// Connect opens one connection for the test's own use, failing the test
// with directions when the server cannot be reached.
func Connect(t testing.TB, ctx context.Context, dsn string) *pgx.Conn {
	t.Helper()
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatalf("ROOMHUB_TEST_DATABASE_URL is not a valid PostgreSQL URL: %v", err)
	}
	cfg.ConnectTimeout = 5 * time.Second
	c, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatalf("PostgreSQL is not reachable at %s: %v\n"+
			"Run `make test-deps` to install and start it (or point ROOMHUB_TEST_DATABASE_URL at a server).", Redacted(dsn), err)
	}
	return c
}

// Schema creates an empty schema with a random name and returns the test
// database URL with search_path set to it, so that everything a store opened
// on that URL creates lands in the schema. The schema is dropped when the
// test ends.
func Schema(t testing.TB) string {
	t.Helper()
	base := DatabaseURL()
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		t.Fatalf("ROOMHUB_TEST_DATABASE_URL must be a postgres:// URL, got %s", Redacted(base))
	}
	b := make([]byte, 8)
	rand.Read(b)
	// Lower case only: search_path folds unquoted names.
	schema := "roomhub_test_" + hex.EncodeToString(b)
	ident := pgx.Identifier{schema}.Sanitize()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin := Connect(t, ctx, base)
	defer admin.Close(context.Background())
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+ident); err != nil {
		t.Fatalf("create schema %s: %v", schema, err)
	}
	t.Cleanup(func() {
		// The test's context is already cancelled when cleanups run.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		admin := Connect(t, ctx, base)
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
