package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"roomhub"
	"roomhub/store/pgtest"
	"roomhub/store/storetest"
)

// The PostgreSQL tests run against a real server, each in a schema of its
// own (pgtest).

func testDatabaseURL() string { return pgtest.DatabaseURL() }

func pgConnect(t *testing.T, ctx context.Context, dsn string) *pgx.Conn {
	return pgtest.Connect(t, ctx, dsn)
}

func redactedURL(dsn string) string { return pgtest.Redacted(dsn) }

func pgSchema(t *testing.T) string { return pgtest.Schema(t) }

func openPostgresTest(t *testing.T, dsn string) *Store {
	t.Helper()
	s, err := OpenPostgres(t.Context(), dsn)
	if err != nil {
		t.Fatalf("OpenPostgres: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestPostgres(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) roomhub.Store { return openPostgresTest(t, pgSchema(t)) })
	storetest.RunAccounts(t, func(t *testing.T) storetest.AccountStore { return openPostgresTest(t, pgSchema(t)) })
	storetest.RunHistory(t, func(t *testing.T) storetest.HistoryStore { return openPostgresTest(t, pgSchema(t)) })
	storetest.RunWebhooks(t, func(t *testing.T) storetest.WebhookStore { return openPostgresTest(t, pgSchema(t)) })
	storetest.RunVideo(t, func(t *testing.T) storetest.VideoStore { return openPostgresTest(t, pgSchema(t)) })
}

func TestPostgresPool(t *testing.T) {
	t.Parallel()
	s := openPostgresTest(t, pgSchema(t))
	if got := s.db.Stats().MaxOpenConnections; got != postgresMaxConns {
		t.Errorf("MaxOpenConnections = %d, want %d", got, postgresMaxConns)
	}
	var app string
	if err := s.db.QueryRowContext(t.Context(), `SELECT current_setting('application_name')`).Scan(&app); err != nil {
		t.Fatal(err)
	}
	if app != postgresApplicationName {
		t.Errorf("application_name = %q, want %q", app, postgresApplicationName)
	}
}

// TestPostgresConcurrentMigrations starts several stores on one empty schema
// at once, as nodes of a cluster do: each must open, and each migration must
// be applied exactly once.
func TestPostgresConcurrentMigrations(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dsn := pgSchema(t)
	const nodes = 8
	stores := make([]*Store, nodes)
	errs := make([]error, nodes)
	var wg sync.WaitGroup
	for i := range nodes {
		wg.Go(func() { stores[i], errs[i] = OpenPostgres(ctx, dsn) })
	}
	wg.Wait()
	for i, s := range stores {
		if s != nil {
			t.Cleanup(func() { s.Close() })
		}
		if errs[i] != nil {
			t.Errorf("store %d: OpenPostgres: %v", i, errs[i])
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	want := lastVersion()
	for i, s := range stores {
		if v, err := s.SchemaVersion(ctx); err != nil || v != want {
			t.Errorf("store %d: SchemaVersion = %d, %v; want %d", i, v, err, want)
		}
	}
	applied := func() (rows, versions int) {
		t.Helper()
		err := stores[0].db.QueryRowContext(ctx,
			`SELECT COUNT(*), COUNT(DISTINCT version) FROM schema_migrations`).Scan(&rows, &versions)
		if err != nil {
			t.Fatal(err)
		}
		return rows, versions
	}
	n := migrationCount()
	if rows, versions := applied(); rows != n || versions != n {
		t.Errorf("schema_migrations holds %d rows of %d versions, want %d of %d", rows, versions, n, n)
	}

	// A node starting later finds nothing to do.
	openPostgresTest(t, dsn)
	if rows, _ := applied(); rows != n {
		t.Errorf("reopening added migrations: %d rows, want %d", rows, n)
	}
	// And the stores share one schema: what one writes, another reads.
	org, err := stores[0].CreateOrg(ctx, "acme", "Acme")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := stores[nodes-1].OrgBySlug(ctx, "acme"); err != nil || got.ID != org.ID {
		t.Errorf("OrgBySlug on another store = %+v, %v; want id %d", got, err, org.ID)
	}
}

// blockedBehind returns the backends waiting for a lock held by the backend
// pid, waiting until there is one; done failing means the statement expected
// to block has returned instead.
func blockedBehind(t *testing.T, monitor *pgx.Conn, pid uint32, done <-chan error) []uint32 {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		rows, err := monitor.Query(ctx, `SELECT pid FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))`, pid)
		if err != nil {
			t.Fatal(err)
		}
		pids, err := pgx.CollectRows(rows, pgx.RowTo[uint32])
		if err != nil {
			t.Fatal(err)
		}
		if len(pids) > 0 {
			return pids
		}
		select {
		case err := <-done:
			t.Fatalf("the statement returned (err %v) instead of waiting for the lock", err)
		case <-ctx.Done():
			t.Fatal("no statement of the store ever waited for the lock")
		case <-tick.C:
		}
	}
}

func sqlState(err error) string {
	var e *pgconn.PgError
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// TestPostgresConnectionDropDuringPutMember kills the store's connection
// while PutMember is in its transaction: the call must answer EUNAVAILABLE
// and leave nothing behind, neither the member nor the room row the same
// transaction created. To catch PutMember mid-transaction deterministically,
// the test holds a lock that makes one of its statements wait, then
// terminates the waiting backend, as an administrator or a failover would.
func TestPostgresConnectionDropDuringPutMember(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, lock string
		blocked    string // the statement PutMember waits in
	}{
		// Blocks the room insert, PutMember's first statement.
		{"BeforeRoom", `LOCK TABLE rooms IN SHARE MODE`, qEnsureRoom},
		// Lets the room insert through and blocks the member insert, so
		// the transaction has already written the room row.
		{"AfterRoom", `LOCK TABLE members IN SHARE MODE`, qInsertMember},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			dsn := pgSchema(t)
			s := openPostgresTest(t, dsn)
			org, err := s.CreateOrg(ctx, "acme", "Acme")
			if err != nil {
				t.Fatal(err)
			}
			m := roomhub.Member{OrgID: org.ID, Room: "lobby", UID: 7, Name: "Ada", SessionID: "s", JoinedAt: time.UnixMilli(1_700_000_000_000)}

			locker := pgConnect(t, ctx, dsn)
			defer locker.Close(context.Background())
			monitor := pgConnect(t, ctx, testDatabaseURL())
			defer monitor.Close(context.Background())

			lockTx, err := locker.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer lockTx.Rollback(context.Background())
			if _, err := lockTx.Exec(ctx, tc.lock); err != nil {
				t.Fatal(err)
			}

			done := make(chan error, 1)
			go func() {
				_, err := s.PutMember(ctx, m)
				done <- err
			}()
			pids := blockedBehind(t, monitor, locker.PgConn().PID(), done)
			if len(pids) != 1 {
				t.Fatalf("backends waiting for the lock: %v, want PutMember's alone", pids)
			}
			var app, query string
			err = monitor.QueryRow(ctx, `SELECT application_name, query FROM pg_stat_activity WHERE pid = $1`, pids[0]).Scan(&app, &query)
			if err != nil || app != postgresApplicationName || query != tc.blocked {
				t.Fatalf("the waiting backend is %q running %q (%v), want the store's running %q", app, query, err, tc.blocked)
			}
			var terminated bool
			if err := monitor.QueryRow(ctx, `SELECT pg_terminate_backend($1)`, pids[0]).Scan(&terminated); err != nil || !terminated {
				t.Fatalf("pg_terminate_backend(%d) = %v, %v", pids[0], terminated, err)
			}

			err = <-done
			if code := roomhub.ErrorCode(err); err == nil || code != roomhub.EUNAVAILABLE {
				t.Fatalf("PutMember after its connection was terminated: err = %v (code %q), want %q", err, code, roomhub.EUNAVAILABLE)
			}
			if state := sqlState(err); state != "57P01" { // admin_shutdown
				t.Errorf("PutMember error %v carries SQLSTATE %q, want 57P01: it failed for another reason", err, state)
			}
			if err := lockTx.Rollback(ctx); err != nil {
				t.Fatal(err)
			}

			// The store reconnects by itself and finds nothing written.
			_, err = s.GetMember(ctx, org.ID, m.Room, m.UID)
			if code := roomhub.ErrorCode(err); code != roomhub.ENOTFOUND {
				t.Errorf("GetMember after the failed PutMember: err = %v, want %q", err, roomhub.ENOTFOUND)
			}
			var rooms int
			if err := locker.QueryRow(ctx, `SELECT COUNT(*) FROM rooms WHERE org_id = $1 AND name = $2`, org.ID, m.Room).Scan(&rooms); err != nil {
				t.Fatal(err)
			}
			if rooms != 0 {
				t.Errorf("the failed PutMember left %d room rows", rooms)
			}
			if created, err := s.PutMember(ctx, m); err != nil || !created {
				t.Errorf("PutMember again = %v, %v; want created", created, err)
			}
		})
	}
}

// TestPostgresQueryTimeout checks the default per-statement timeout: a
// statement stuck behind a lock gives up with EUNAVAILABLE, is cancelled on
// the server (it does not run once the lock is released), and a deadline of
// the caller's own takes precedence.
func TestPostgresQueryTimeout(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dsn := pgSchema(t)
	const timeout = 200 * time.Millisecond
	s, err := openPostgres(ctx, dsn, timeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	org, err := s.CreateOrg(ctx, "acme", "Acme")
	if err != nil {
		t.Fatal(err)
	}
	m := roomhub.Member{OrgID: org.ID, Room: "lobby", UID: 7, Name: "Ada", SessionID: "s"}
	if _, err := s.PutMember(ctx, m); err != nil {
		t.Fatal(err)
	}

	locker := pgConnect(t, ctx, dsn)
	defer locker.Close(context.Background())
	lockTx, err := locker.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer lockTx.Rollback(context.Background())
	if _, err := lockTx.Exec(ctx, `LOCK TABLE members IN SHARE MODE`); err != nil {
		t.Fatal(err)
	}
	// No deadline of its own: the default applies.
	_, err = s.DeleteMember(context.Background(), org.ID, m.Room, m.UID)
	if code := roomhub.ErrorCode(err); err == nil || code != roomhub.EUNAVAILABLE {
		t.Fatalf("DeleteMember behind a lock: err = %v (code %q), want %q", err, code, roomhub.EUNAVAILABLE)
	}
	if state := sqlState(err); state != "57014" { // query_canceled
		t.Errorf("DeleteMember error %v carries SQLSTATE %q, want 57014 (cancelled on the server)", err, state)
	}
	if err := lockTx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetMember(ctx, org.ID, m.Room, m.UID); err != nil {
		t.Errorf("the timed-out DeleteMember ran after all: GetMember = %v", err)
	}

	// A caller's deadline, even a later one, replaces the default.
	long, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if _, err := s.db.ExecContext(long, `SELECT pg_sleep($1)`, (2 * timeout).Seconds()); err != nil {
		t.Errorf("a statement longer than the default under the caller's deadline: %v", err)
	}
}

// TestPostgresUnavailable checks that failures to reach the database are
// EUNAVAILABLE and never show the password.
func TestPostgresUnavailable(t *testing.T) {
	t.Parallel()
	const password = "s3cret-never-logged"

	t.Run("ConnectionRefused", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close() // nothing listens there now
		_, err = OpenPostgres(t.Context(), fmt.Sprintf("postgres://roomhub:%s@%s/roomhub_test?sslmode=disable", password, addr))
		if code := roomhub.ErrorCode(err); err == nil || code != roomhub.EUNAVAILABLE {
			t.Fatalf("OpenPostgres on a closed port: err = %v (code %q), want %q", err, code, roomhub.EUNAVAILABLE)
		}
		if strings.Contains(err.Error(), password) {
			t.Errorf("error shows the password: %v", err)
		}
	})

	t.Run("MalformedURL", func(t *testing.T) {
		_, err := OpenPostgres(t.Context(), "postgres://roomhub:"+password+"@127.0.0.1:notaport/roomhub_test")
		if code := roomhub.ErrorCode(err); err == nil || code != roomhub.EINVALID {
			t.Fatalf("OpenPostgres on a malformed URL: err = %v (code %q), want %q", err, code, roomhub.EINVALID)
		}
		if strings.Contains(fmt.Sprintf("%v %+v", err, err), password) {
			t.Errorf("error shows the password: %v", err)
		}
	})

	t.Run("Closed", func(t *testing.T) {
		s, err := OpenPostgres(t.Context(), pgSchema(t))
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
		_, err = s.OrgBySlug(t.Context(), "acme")
		if code := roomhub.ErrorCode(err); code != roomhub.EUNAVAILABLE {
			t.Errorf("OrgBySlug on a closed store: err = %v, want %q", err, roomhub.EUNAVAILABLE)
		}
		if code := roomhub.ErrorCode(s.Ping(t.Context())); code != roomhub.EUNAVAILABLE {
			t.Errorf("Ping on a closed store: code %q, want %q", code, roomhub.EUNAVAILABLE)
		}
	})

	// The server ends every session of the store, as a restart does: calls
	// answer EUNAVAILABLE until the pool has replaced its dead connections,
	// then succeed again without anyone reopening the store.
	t.Run("SessionsTerminated", func(t *testing.T) {
		ctx := t.Context()
		dsn := pgSchema(t)
		u, _ := url.Parse(dsn)
		q := u.Query()
		app := "roomhub_test_" + q.Get("search_path")
		q.Set("application_name", app)
		u.RawQuery = q.Encode()
		s := openPostgresTest(t, u.String())
		org, err := s.CreateOrg(ctx, "acme", "Acme")
		if err != nil {
			t.Fatal(err)
		}

		monitor := pgConnect(t, ctx, testDatabaseURL())
		defer monitor.Close(context.Background())
		var n int
		err = monitor.QueryRow(ctx, `SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1`, app).Scan(&n)
		if err != nil || n == 0 {
			t.Fatalf("terminated %d sessions of the store (%v), want some", n, err)
		}

		var last error
		for range postgresMaxIdleConns + 1 {
			_, last = s.OrgBySlug(ctx, "acme")
			if last == nil {
				break
			}
			if code := roomhub.ErrorCode(last); code != roomhub.EUNAVAILABLE {
				t.Fatalf("OrgBySlug on a terminated session: err = %v (code %q), want %q", last, code, roomhub.EUNAVAILABLE)
			}
		}
		if last != nil {
			t.Fatalf("the store did not recover from terminated sessions: %v", last)
		}
		if got, err := s.OrgBySlug(ctx, "acme"); err != nil || got.ID != org.ID {
			t.Errorf("OrgBySlug after recovery = %+v, %v", got, err)
		}
	})
}
