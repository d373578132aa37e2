package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"roomhub"
)

// SQLiteFile is the database file OpenSQLite keeps in its directory.
const SQLiteFile = "roomhub.db"

// sqliteMaxConns bounds the readers' pool: a few connections let readers
// proceed beside the writer under WAL. Writes have a pool of their own with
// one connection (see timedDB).
const sqliteMaxConns = 4

// OpenSQLite opens, creating it if needed, the SQLite database in dir and
// migrates it. dir is created private (0700), and so is the database file
// (0600), which SQLite's -wal and -shm files copy their mode from.
func OpenSQLite(ctx context.Context, dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, roomhub.Unavailable("database", err)
	}
	path, err := filepath.Abs(filepath.Join(dir, SQLiteFile))
	if err != nil {
		return nil, roomhub.Unavailable("database", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, roomhub.Unavailable("database", err)
	}
	f.Close()
	w, err := sql.Open("sqlite", sqliteDSN(path, false))
	if err != nil {
		return nil, roomhub.Unavailable("database", fmt.Errorf("open %s: %w", path, err))
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxIdleTime(0)
	r, err := sql.Open("sqlite", sqliteDSN(path, true))
	if err != nil {
		w.Close()
		return nil, roomhub.Unavailable("database", fmt.Errorf("open %s: %w", path, err))
	}
	r.SetMaxOpenConns(sqliteMaxConns)
	r.SetMaxIdleConns(sqliteMaxConns)
	tdb := &timedDB{DB: r, w: w, prepare: true}
	s, err := newStore(ctx, tdb, SQLite())
	if err != nil {
		tdb.Close()
		return nil, err
	}
	return s, nil
}

// sqliteDSN is the URI for the database file at absolute path, with the
// pragmas every connection needs:
//   - busy_timeout waits up to 5 s for the write lock instead of failing;
//   - WAL lets readers run beside the writer, and synchronous=NORMAL is
//     durable enough under WAL (a power loss can lose the last commits, never
//     corrupt the file) at a fraction of the fsyncs;
//   - foreign_keys is off by default in SQLite and the schema relies on it;
//   - _txlock=immediate takes the write lock at BEGIN, so a transaction never
//     fails halfway when upgrading from reader to writer;
//   - readers are query_only: a write sent to the readers' pool by mistake
//     fails at once instead of contending for the lock.
func sqliteDSN(path string, readOnly bool) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(5000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Add("_pragma", "foreign_keys(1)")
	if readOnly {
		q.Add("_pragma", "query_only(1)")
	}
	q.Set("_txlock", "immediate")
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(path), RawQuery: q.Encode()}
	return u.String()
}
