package sqlstore

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"roomhub"
	"roomhub/store/sqlstore/migrations"
	"roomhub/store/storetest"
)

func openSQLite(t *testing.T, dir string) *Store {
	t.Helper()
	s, err := OpenSQLite(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestSQLite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) roomhub.Store { return openSQLite(t, t.TempDir()) })
	storetest.RunAccounts(t, func(t *testing.T) storetest.AccountStore { return openSQLite(t, t.TempDir()) })
	storetest.RunHistory(t, func(t *testing.T) storetest.HistoryStore { return openSQLite(t, t.TempDir()) })
	storetest.RunWebhooks(t, func(t *testing.T) storetest.WebhookStore { return openSQLite(t, t.TempDir()) })
	storetest.RunVideo(t, func(t *testing.T) storetest.VideoStore { return openSQLite(t, t.TempDir()) })
}

func TestSQLiteMigrationsIdempotent(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	type row struct{ version, appliedAt int64 }
	applied := func(s *Store) []row {
		rows, err := s.db.QueryContext(ctx, `SELECT version, applied_at FROM schema_migrations ORDER BY version`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var rs []row
		for rows.Next() {
			var r row
			if err := rows.Scan(&r.version, &r.appliedAt); err != nil {
				t.Fatal(err)
			}
			rs = append(rs, r)
		}
		return rs
	}

	first := openSQLite(t, dir)
	want := lastVersion()
	if v, err := first.SchemaVersion(ctx); err != nil || v != want {
		t.Fatalf("SchemaVersion = %d, %v; want %d", v, err, want)
	}
	before := applied(first)
	if len(before) != migrationCount() {
		t.Fatalf("schema_migrations has %d rows, want %d", len(before), want)
	}
	first.Close()

	second := openSQLite(t, dir)
	if v, err := second.SchemaVersion(ctx); err != nil || v != want {
		t.Fatalf("SchemaVersion after reopen = %d, %v; want %d", v, err, want)
	}
	if after := applied(second); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("reopen changed schema_migrations: %v, was %v", after, before)
	}
}

func TestSQLiteReopenKeepsData(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	s := openSQLite(t, dir)
	def, err := s.DefaultOrg(ctx)
	if err != nil {
		t.Fatal(err)
	}
	acme, err := s.CreateOrg(ctx, "acme", "Acme")
	if err != nil {
		t.Fatal(err)
	}
	joined := time.UnixMilli(1_700_000_000_123).UTC()
	m := roomhub.Member{OrgID: acme.ID, Room: "lobby", UID: 7, Name: "Ada", SessionID: "s1", JoinedAt: joined}
	sess := roomhub.Session{ID: "s1", Grants: []roomhub.Grant{{OrgID: acme.ID, Room: "lobby", UID: 7, IssuedAt: joined}},
		CreatedAt: joined, LastSeen: joined, ExpiresAt: joined.Add(time.Hour)}
	for _, err := range []error{
		func() error { _, err := s.PutMember(ctx, m); return err }(),
		s.SaveSession(ctx, sess),
		s.AppendAudit(ctx, roomhub.AuditEntry{OrgID: acme.ID, At: joined, Action: "member.create", Success: true}),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	s.Close()

	s = openSQLite(t, dir)
	if again, err := s.DefaultOrg(ctx); err != nil || again.ID != def.ID {
		t.Errorf("DefaultOrg after reopen = %+v, %v; want id %d", again, err, def.ID)
	}
	if got, err := s.OrgBySlug(ctx, "acme"); err != nil || got.ID != acme.ID {
		t.Errorf("OrgBySlug(acme) after reopen = %+v, %v", got, err)
	}
	if got, err := s.GetMember(ctx, acme.ID, "lobby", 7); err != nil || got.Name != "Ada" || !got.JoinedAt.Equal(joined) {
		t.Errorf("GetMember after reopen = %+v, %v", got, err)
	}
	if got, err := s.GetSession(ctx, "s1"); err != nil || len(got.Grants) != 1 || !got.ExpiresAt.Equal(sess.ExpiresAt) {
		t.Errorf("GetSession after reopen = %+v, %v", got, err)
	}
	if es, err := s.ListAudit(ctx, acme.ID, 10); err != nil || len(es) != 1 || es[0].Action != "member.create" {
		t.Errorf("ListAudit after reopen = %+v, %v", es, err)
	}
}

func TestSQLitePragmas(t *testing.T) {
	s := openSQLite(t, t.TempDir())
	for _, c := range []struct{ pragma, want string }{
		{"journal_mode", "wal"},
		{"foreign_keys", "1"},
		{"busy_timeout", "5000"},
		{"synchronous", "1"}, // NORMAL
	} {
		var got string
		if err := s.db.QueryRowContext(t.Context(), "PRAGMA "+c.pragma).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != c.want {
			t.Errorf("PRAGMA %s = %s, want %s", c.pragma, got, c.want)
		}
	}
}

func TestSQLiteFilesArePrivate(t *testing.T) {
	// Characters that mean something in a URI must still name the directory.
	dir := filepath.Join(t.TempDir(), "a b?#%", "data")
	s := openSQLite(t, dir)
	if _, err := s.DefaultOrg(t.Context()); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]os.FileMode{
		dir:                            0o700,
		filepath.Join(dir, SQLiteFile): 0o600,
	} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s has mode %v, want %v", path, got, want)
		}
	}
}

// TestSQLiteConcurrentWriters checks that writers queue on the write lock
// rather than failing with "database is locked".
func TestSQLiteConcurrentWriters(t *testing.T) {
	ctx := t.Context()
	s := openSQLite(t, t.TempDir())
	org, err := s.DefaultOrg(ctx)
	if err != nil {
		t.Fatal(err)
	}
	const writers, each = 16, 20
	var wg sync.WaitGroup
	errs := make(chan error, writers*each*2)
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				m := roomhub.Member{OrgID: org.ID, Room: fmt.Sprint("room", i%3), UID: uint32(w*each + i), Name: "N", SessionID: "s"}
				if _, err := s.PutMember(ctx, m); err != nil {
					errs <- err
				}
				if err := s.AppendAudit(ctx, roomhub.AuditEntry{OrgID: org.ID, Action: "a"}); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n, err := s.DeleteAllMembers(ctx); err != nil || n != writers*each {
		t.Errorf("DeleteAllMembers = %d, %v; want %d", n, err, writers*each)
	}
}

func TestMigrationFailureRollsBack(t *testing.T) {
	ctx := t.Context()
	s := openSQLite(t, t.TempDir())
	ms := append(migrations.Migrations(), migrations.Migration{
		Version: 1000,
		Name:    "broken",
		SQL:     "CREATE TABLE half_done (id BIGINT);\nCREATE TABLE broken (;",
	})
	if err := migrate(ctx, s.db.writer(), SQLite(), ms, time.Now()); err == nil || !strings.Contains(err.Error(), "1000_broken") {
		t.Fatalf("migrate = %v, want an error naming the migration", err)
	}
	want := lastVersion()
	if v, err := s.SchemaVersion(ctx); err != nil || v != want {
		t.Errorf("SchemaVersion = %d, %v; want %d", v, err, want)
	}
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM sqlite_master WHERE name = 'half_done'`).Scan(&n); err != nil || n != 0 {
		t.Errorf("failed migration left table half_done (count %d, %v)", n, err)
	}
}

func TestDialectRender(t *testing.T) {
	for _, d := range []Dialect{SQLite(), Postgres()} {
		for _, m := range migrations.Migrations() {
			got := d.render(m.SQL)
			if strings.Contains(got, migrations.AutoID) {
				t.Errorf("%s: migration %d keeps the %s placeholder", d, m.Version, migrations.AutoID)
			}
			if strings.Contains(m.SQL, migrations.AutoID) && !strings.Contains(got, d.autoID) {
				t.Errorf("%s: migration %d lacks %q", d, m.Version, d.autoID)
			}
		}
	}
}

// TestObserveQueries: each statement and transaction reaches the observer
// with its kind, for the store latency metric.
func TestObserveQueries(t *testing.T) {
	s := openSQLite(t, t.TempDir())
	seen := map[string]int{}
	s.ObserveQueries(func(op string, d time.Duration) {
		if d < 0 {
			t.Errorf("negative duration for %s", op)
		}
		seen[op]++
	})
	ctx := t.Context()
	org, err := s.DefaultOrg(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutMember(ctx, roomhub.Member{OrgID: org.ID, Room: "r", UID: 1, Name: "Ada", SessionID: "s", JoinedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeleteMember(ctx, org.ID, "r", 1); err != nil {
		t.Fatal(err)
	}
	if seen[OpQuery] == 0 || seen[OpExec] == 0 || seen[OpTx] != 1 {
		t.Fatalf("observed %v", seen)
	}
}

// lastVersion is the version of the newest embedded migration.
func lastVersion() int {
	ms := migrations.Migrations()
	return ms[len(ms)-1].Version
}

// migrationCount is how many migrations are embedded.
func migrationCount() int { return len(migrations.Migrations()) }
