// Package sqltest opens fresh SQL stores for tests in other packages: a
// SQLite file in a temporary directory, or a PostgreSQL schema of its own
// (pgtest), closed and dropped when the test ends.
package sqltest

import (
	"context"
	"testing"

	"roomhub/store/pgtest"
	"roomhub/store/sqlstore"
)

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
		s, err = sqlstore.OpenPostgres(context.Background(), pgtest.Schema(t))
	default:
		t.Fatalf("sqltest: unknown store %q", kind)
	}
	if err != nil {
		t.Fatalf("open %s store: %v", kind, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
