// Package sqlstore implements roomhub.Store over database/sql. One set of
// queries serves every supported database; a Dialect carries the few
// differences. Queries use $n placeholders, which both SQLite and PostgreSQL
// accept, and never embed user values in SQL text.
package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"roomhub"
	"roomhub/store/sqlstore/migrations"
)

// MaxAuditList caps ListAudit, so that one request cannot read the whole log.
const MaxAuditList = 1000

// defaultOrgName is the display name given to the default organization.
const defaultOrgName = "Default"

// Store is a roomhub.Store backed by a SQL database.
type Store struct {
	db      *timedDB
	dialect Dialect
	now     func() time.Time

	auditBounds roomhub.AuditBounds // SetAuditBounds; zero: the defaults
}

// SetAuditBounds sets the bounds AppendAudit cuts audit fields to. Call it
// before the Store is shared.
func (s *Store) SetAuditBounds(b roomhub.AuditBounds) { s.auditBounds = b }

var _ roomhub.Store = (*Store)(nil)

// New returns a Store over db, migrating the schema to the latest version
// first. The Store owns db from then on: Close closes it.
func New(ctx context.Context, db *sql.DB, d Dialect) (*Store, error) {
	return newStore(ctx, &timedDB{DB: db}, d)
}

// newStore migrates through db's writer and returns the Store over db.
func newStore(ctx context.Context, tdb *timedDB, d Dialect) (*Store, error) {
	db := tdb.writer()
	s := &Store{db: tdb, dialect: d, now: time.Now}
	if err := db.PingContext(ctx); err != nil {
		return nil, roomhub.Unavailable("database", fmt.Errorf("connect to %s: %w", d, err))
	}
	if err := migrate(ctx, db, d, migrations.Migrations(), s.now()); err != nil {
		return nil, roomhub.Unavailable("database", fmt.Errorf("migrate %s: %w", d, err))
	}
	return s, nil
}

// SchemaVersion returns the version of the last migration applied.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	v, err := schemaVersion(ctx, s.db.writer())
	return v, s.fail(err)
}

// Ping reports whether the database answers.
// DBStats reports the connection pool's figures, for metrics.
func (s *Store) DBStats() sql.DBStats {
	st := s.db.Stats()
	if s.db.w != nil { // readers and the writer together
		w := s.db.w.Stats()
		st.MaxOpenConnections += w.MaxOpenConnections
		st.OpenConnections += w.OpenConnections
		st.InUse += w.InUse
		st.Idle += w.Idle
		st.WaitCount += w.WaitCount
		st.WaitDuration += w.WaitDuration
	}
	return st
}

func (s *Store) Ping(ctx context.Context) error {
	return s.fail(s.db.PingContext(ctx))
}

// Close closes the database.
func (s *Store) Close() error {
	return s.db.Close()
}

// fail gives err a roomhub code: errors that carry one keep it, and anything
// else coming out of the driver means the database failed.
func (s *Store) fail(err error) error {
	if err == nil {
		return nil
	}
	var e *roomhub.Error
	if errors.As(err, &e) {
		return err
	}
	return roomhub.Unavailable("database", err)
}

// inTx runs fn in a transaction, committing if it returns nil. A
// transaction that met a connection whose server session had ended runs
// again on another (sessionEnded), its commit included: PostgreSQL ends a
// session that waits for the client's next command without reading it, and
// a commit under way holds off the termination until its reply is queued
// ahead of the error, so an error of class 57P in answer to COMMIT means the
// transaction did not commit. Any other failure of the commit is returned,
// since whether it took effect is unknown.
func (s *Store) inTx(ctx context.Context, fn func(*sql.Tx) error) error {
	defer s.db.done(OpTx, time.Now())
	for attempt := 1; ; attempt++ {
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			if sessionEnded(err) && attempt < connRetries {
				continue
			}
			return s.fail(err)
		}
		if err := fn(tx); err != nil {
			tx.Rollback()
			if sessionEnded(err) && attempt < connRetries {
				continue
			}
			return s.fail(err)
		}
		err = tx.Commit()
		if sessionEnded(err) && attempt < connRetries {
			continue
		}
		return s.fail(err)
	}
}

// Times are stored as unix milliseconds and read back in UTC, so a value
// survives a round trip through any database with millisecond precision.
func millis(t time.Time) int64 { return t.UnixMilli() }

func fromMillis(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

// nowMillis is the current time as stored, so values returned to callers
// equal the ones read back later.
func (s *Store) nowMillis() int64 { return millis(s.now()) }

// Organizations.

const (
	qOrgBySlug    = `SELECT id, slug, name, created_at FROM orgs WHERE slug = $1`
	qInsertOrg    = `INSERT INTO orgs (slug, name, created_at) VALUES ($1, $2, $3) RETURNING id`
	qEnsureOrg    = `INSERT INTO orgs (slug, name, created_at) VALUES ($1, $2, $3) ON CONFLICT (slug) DO NOTHING`
	qEnsureRoom   = `INSERT INTO rooms (org_id, name, created_at) VALUES ($1, $2, $3) ON CONFLICT (org_id, name) DO NOTHING`
	qInsertMember = `INSERT INTO members (org_id, room, uid, name, session_id, joined_at) VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (org_id, room, uid) DO NOTHING`
	qRenameMember = `UPDATE members SET name = $1 WHERE org_id = $2 AND room = $3 AND uid = $4`
	qGetMember    = `SELECT org_id, room, uid, name, session_id, joined_at FROM members
		WHERE org_id = $1 AND room = $2 AND uid = $3`
	qDeleteMember = `DELETE FROM members WHERE org_id = $1 AND room = $2 AND uid = $3`
	qListMembers  = `SELECT org_id, room, uid, name, session_id, joined_at FROM members
		WHERE org_id = $1 AND room = $2 ORDER BY joined_at, uid`
	qDeleteMembers = `DELETE FROM members`
)

// DefaultOrg returns the default organization, creating it on first use.
// Concurrent first calls agree on one row: the insert does nothing if
// another caller won.
func (s *Store) DefaultOrg(ctx context.Context) (roomhub.Org, error) {
	o, err := s.OrgBySlug(ctx, roomhub.DefaultOrgSlug)
	if roomhub.ErrorCode(err) != roomhub.ENOTFOUND {
		return o, err
	}
	if _, err := s.db.ExecContext(ctx, qEnsureOrg, roomhub.DefaultOrgSlug, defaultOrgName, s.nowMillis()); err != nil {
		return roomhub.Org{}, s.fail(err)
	}
	return s.OrgBySlug(ctx, roomhub.DefaultOrgSlug)
}

// OrgBySlug returns the organization with slug, or ENOTFOUND.
func (s *Store) OrgBySlug(ctx context.Context, slug string) (roomhub.Org, error) {
	var o roomhub.Org
	var created int64
	err := s.db.QueryRowContext(ctx, qOrgBySlug, slug).Scan(&o.ID, &o.Slug, &o.Name, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return roomhub.Org{}, roomhub.Errorf(roomhub.ENOTFOUND, "Organization %q not found.", slug)
	}
	if err != nil {
		return roomhub.Org{}, s.fail(err)
	}
	o.CreatedAt = fromMillis(created)
	return o, nil
}

// CreateOrg creates an organization; a taken slug is ECONFLICT.
func (s *Store) CreateOrg(ctx context.Context, slug, name string) (roomhub.Org, error) {
	if slug == "" {
		return roomhub.Org{}, roomhub.Invalid("slug", "Organization slug must not be empty.")
	}
	o := roomhub.Org{Slug: slug, Name: name}
	created := s.nowMillis()
	err := s.db.QueryRowContext(ctx, qInsertOrg, slug, name, created).Scan(&o.ID)
	if s.dialect.isUnique(err) {
		return roomhub.Org{}, roomhub.Errorf(roomhub.ECONFLICT, "Organization %q already exists.", slug)
	}
	if err != nil {
		return roomhub.Org{}, s.fail(err)
	}
	o.CreatedAt = fromMillis(created)
	return o, nil
}

// Members.

// putMemberAttempts bounds PutMember's insert-or-rename loop. A second round
// is only needed when another transaction deletes the member between our
// insert finding it and our rename (possible under PostgreSQL's READ
// COMMITTED; SQLite serializes writers).
const putMemberAttempts = 3

// PutMember ensures the room row exists and inserts m, or, if the member is
// already there, replaces only its name: joined_at and session_id belong to
// the first join.
func (s *Store) PutMember(ctx context.Context, m roomhub.Member) (bool, error) {
	var created bool
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, qEnsureRoom, m.OrgID, m.Room, s.nowMillis())
		if s.dialect.isForeignKey(err) {
			return roomhub.Errorf(roomhub.ENOTFOUND, "Organization not found.")
		}
		if err != nil {
			return err
		}
		for range putMemberAttempts {
			res, err := tx.ExecContext(ctx, qInsertMember,
				m.OrgID, m.Room, int64(m.UID), m.Name, m.SessionID, millis(m.JoinedAt))
			if n, err := affected(res, err); err != nil || n > 0 {
				created = n > 0
				return err
			}
			res, err = tx.ExecContext(ctx, qRenameMember, m.Name, m.OrgID, m.Room, int64(m.UID))
			if n, err := affected(res, err); err != nil || n > 0 {
				return err
			}
		}
		return fmt.Errorf("member %d in room %q changed under every attempt", m.UID, m.Room)
	})
	return created, err
}

// GetMember returns the member uid of room in org, or ENOTFOUND.
func (s *Store) GetMember(ctx context.Context, orgID int64, room string, uid uint32) (roomhub.Member, error) {
	m, err := scanMember(s.db.QueryRowContext(ctx, qGetMember, orgID, room, int64(uid)))
	if errors.Is(err, sql.ErrNoRows) {
		return roomhub.Member{}, roomhub.Errorf(roomhub.ENOTFOUND, "Member %d not found in room %q.", uid, room)
	}
	return m, s.fail(err)
}

// DeleteMember deletes the member uid of room in org and reports whether it
// existed.
func (s *Store) DeleteMember(ctx context.Context, orgID int64, room string, uid uint32) (bool, error) {
	n, err := affected(s.db.ExecContext(ctx, qDeleteMember, orgID, room, int64(uid)))
	return n > 0, s.fail(err)
}

// ListMembers returns the members of room in org in join order.
func (s *Store) ListMembers(ctx context.Context, orgID int64, room string) ([]roomhub.Member, error) {
	rows, err := s.db.QueryContext(ctx, qListMembers, orgID, room)
	if err != nil {
		return nil, s.fail(err)
	}
	defer rows.Close()
	ms := []roomhub.Member{}
	for rows.Next() {
		m, err := scanMember(rows)
		if err != nil {
			return nil, s.fail(err)
		}
		ms = append(ms, m)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail(err)
	}
	return ms, nil
}

const qMembersBefore = `SELECT org_id, room, uid, name, session_id, joined_at FROM members
	WHERE joined_at < $1 ORDER BY org_id, room, uid`

// MembersJoinedBefore lists the members of every organization that joined
// before t, for the cluster's sweep of members presence lost.
func (s *Store) MembersJoinedBefore(ctx context.Context, t time.Time) ([]roomhub.Member, error) {
	rows, err := s.db.QueryContext(ctx, qMembersBefore, millis(t))
	if err != nil {
		return nil, s.fail(err)
	}
	defer rows.Close()
	var ms []roomhub.Member
	for rows.Next() {
		m, err := scanMember(rows)
		if err != nil {
			return nil, s.fail(err)
		}
		ms = append(ms, m)
	}
	return ms, s.fail(rows.Err())
}

// DeleteAllMembers deletes every member of every organization.
func (s *Store) DeleteAllMembers(ctx context.Context) (int, error) {
	n, err := affected(s.db.ExecContext(ctx, qDeleteMembers))
	return int(n), s.fail(err)
}

// scanner is a *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

func scanMember(r scanner) (roomhub.Member, error) {
	var m roomhub.Member
	var uid, joined int64
	if err := r.Scan(&m.OrgID, &m.Room, &uid, &m.Name, &m.SessionID, &joined); err != nil {
		return roomhub.Member{}, err
	}
	m.UID = uint32(uid)
	m.JoinedAt = fromMillis(joined)
	return m, nil
}

// affected returns the rows an Exec changed.
func affected(res sql.Result, err error) (int64, error) {
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// Sessions.

const (
	qGetSession  = `SELECT data, created_at, last_seen, expires_at FROM sessions WHERE id = $1`
	qSaveSession = `INSERT INTO sessions (id, data, created_at, last_seen, expires_at) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (id) DO UPDATE SET data = excluded.data, last_seen = excluded.last_seen, expires_at = excluded.expires_at`
	qDeleteSession  = `DELETE FROM sessions WHERE id = $1`
	qDeleteExpired  = `DELETE FROM sessions WHERE expires_at <= $1`
	qDeleteSessions = `DELETE FROM sessions`
)

// sessionData is the JSON document in sessions.data; an object, so that
// fields can be added without a migration.
type sessionData struct {
	Grants []roomhub.Grant `json:"grants"`
	Passes []roomhub.Pass  `json:"passes,omitempty"`
}

// GetSession returns the session with id, or ENOTFOUND. It does not look at
// ExpiresAt: the caller, which owns the clock, decides whether it is still
// valid.
func (s *Store) GetSession(ctx context.Context, id string) (roomhub.Session, error) {
	sess := roomhub.Session{ID: id}
	var data string
	var created, seen, expires int64
	err := s.db.QueryRowContext(ctx, qGetSession, id).Scan(&data, &created, &seen, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return roomhub.Session{}, roomhub.Errorf(roomhub.ENOTFOUND, "Session not found.")
	}
	if err != nil {
		return roomhub.Session{}, s.fail(err)
	}
	var d sessionData
	if err := json.Unmarshal([]byte(data), &d); err != nil {
		return roomhub.Session{}, fmt.Errorf("session data: %w", err)
	}
	sess.Grants, sess.Passes = d.Grants, d.Passes
	sess.CreatedAt = fromMillis(created)
	sess.LastSeen = fromMillis(seen)
	sess.ExpiresAt = fromMillis(expires)
	return sess, nil
}

// SaveSession inserts or updates sess. An update keeps the stored CreatedAt.
func (s *Store) SaveSession(ctx context.Context, sess roomhub.Session) error {
	if sess.ID == "" {
		return roomhub.Invalid("session", "Session id must not be empty.")
	}
	data, err := json.Marshal(sessionData{Grants: sess.Grants, Passes: sess.Passes})
	if err != nil {
		return fmt.Errorf("session data: %w", err)
	}
	_, err = s.db.ExecContext(ctx, qSaveSession, sess.ID, string(data),
		millis(sess.CreatedAt), millis(sess.LastSeen), millis(sess.ExpiresAt))
	return s.fail(err)
}

// DeleteSession deletes the session with id; deleting a missing one is not
// an error, so logging out twice is harmless.
func (s *Store) DeleteSession(ctx context.Context, id string) error {
	_, err := s.db.ExecContext(ctx, qDeleteSession, id)
	return s.fail(err)
}

// DeleteExpiredSessions deletes the sessions whose ExpiresAt is at or before
// now and returns how many.
func (s *Store) DeleteExpiredSessions(ctx context.Context, now time.Time) (int, error) {
	n, err := affected(s.db.ExecContext(ctx, qDeleteExpired, millis(now)))
	return int(n), s.fail(err)
}

// DeleteAllSessions deletes every session and returns how many.
func (s *Store) DeleteAllSessions(ctx context.Context) (int, error) {
	n, err := affected(s.db.ExecContext(ctx, qDeleteSessions))
	return int(n), s.fail(err)
}

// Audit log.

const (
	qAppendAudit = `INSERT INTO audit_log (org_id, at, actor_id, actor_name, action, object_type, object_id,
		description, ip, user_agent, path, success, extra) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`
	qListAudit = `SELECT id, org_id, at, actor_id, actor_name, action, object_type, object_id,
		description, ip, user_agent, path, success, extra FROM audit_log
		WHERE org_id = $1 ORDER BY at DESC, id DESC LIMIT $2`
)

// AppendAudit records e; its ID is assigned by the database. An empty Extra
// is stored as NULL and read back as nil.
//
// Every field is cut to the audit bounds and one-time tokens are removed
// from the path (roomhub.AuditEntry.BoundedBy) whatever the caller passed.
func (s *Store) AppendAudit(ctx context.Context, e roomhub.AuditEntry) error {
	e = e.BoundedBy(s.auditBounds)
	var extra sql.NullString
	if len(e.Extra) > 0 {
		b, err := json.Marshal(e.Extra)
		if err != nil {
			return fmt.Errorf("audit extra: %w", err)
		}
		extra = sql.NullString{String: string(b), Valid: true}
	}
	success := 0
	if e.Success {
		success = 1
	}
	_, err := s.db.ExecContext(ctx, qAppendAudit, e.OrgID, millis(e.At), e.ActorID, e.ActorName, e.Action,
		e.ObjectType, e.ObjectID, e.Description, e.IP, e.UserAgent, e.Path, success, extra)
	return s.fail(err)
}

// PruneAudit deletes the audit rows of every organization older than
// before, at most batch rows per statement until none is left, and returns
// how many. AUDIT_RETENTION sets before; the server prunes hourly.
func (s *Store) PruneAudit(ctx context.Context, before time.Time, batch int) (int, error) {
	if batch <= 0 {
		batch = 10000
	}
	total := 0
	for {
		n, err := affected(s.db.ExecContext(ctx,
			`DELETE FROM audit_log WHERE id IN (SELECT id FROM audit_log WHERE at < $1 LIMIT $2)`, millis(before), batch))
		if err != nil {
			return total, s.fail(err)
		}
		total += int(n)
		if n < int64(batch) {
			return total, nil
		}
	}
}

// ListAudit returns org's newest entries first, at most limit of them; a
// limit outside 1..MaxAuditList means MaxAuditList.
func (s *Store) ListAudit(ctx context.Context, orgID int64, limit int) ([]roomhub.AuditEntry, error) {
	if limit <= 0 || limit > MaxAuditList {
		limit = MaxAuditList
	}
	rows, err := s.db.QueryContext(ctx, qListAudit, orgID, limit)
	if err != nil {
		return nil, s.fail(err)
	}
	defer rows.Close()
	return scanAudit(rows)
}

// scanAudit reads audit rows selected in qListAudit's column order.
func scanAudit(rows *sql.Rows) ([]roomhub.AuditEntry, error) {
	es := []roomhub.AuditEntry{}
	for rows.Next() {
		var e roomhub.AuditEntry
		var at, success int64
		var extra sql.NullString
		err := rows.Scan(&e.ID, &e.OrgID, &at, &e.ActorID, &e.ActorName, &e.Action, &e.ObjectType, &e.ObjectID,
			&e.Description, &e.IP, &e.UserAgent, &e.Path, &success, &extra)
		if err != nil {
			return nil, roomhub.Unavailable("database", err)
		}
		e.At = fromMillis(at)
		e.Success = success != 0
		if extra.Valid {
			if err := json.Unmarshal([]byte(extra.String), &e.Extra); err != nil {
				return nil, fmt.Errorf("audit %d extra: %w", e.ID, err)
			}
		}
		es = append(es, e)
	}
	if err := rows.Err(); err != nil {
		return nil, roomhub.Unavailable("database", err)
	}
	return es, nil
}
