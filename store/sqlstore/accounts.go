package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"strings"
	"time"

	"roomhub"
)

var _ roomhub.Accounts = (*Store)(nil)

// msz stores a time of the account tables, where the zero time ("never",
// "not set") is 0; tz reads it back, 0 as the zero time.
func msz(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func tz(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return fromMillis(ms)
}

// stamp is msz for the time an event happened (used, revoked): a zero time
// there would store "never" and leave a token unused or a key active, so it
// means now.
func (s *Store) stamp(t time.Time) int64 {
	if t.IsZero() {
		return s.nowMillis()
	}
	return msz(t)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func notFound(what string) error { return roomhub.Errorf(roomhub.ENOTFOUND, "%s not found.", what) }

// one reports an error unless exactly one row changed: ENOTFOUND for none.
func one(res sql.Result, err error, what string) error {
	n, err := affected(res, err)
	if err != nil {
		return err
	}
	if n == 0 {
		return notFound(what)
	}
	return nil
}

// Organizations.

func (s *Store) ListOrgs(ctx context.Context) ([]roomhub.Org, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, slug, name, created_at FROM orgs ORDER BY id`)
	if err != nil {
		return nil, s.fail(err)
	}
	defer rows.Close()
	var out []roomhub.Org
	for rows.Next() {
		var o roomhub.Org
		var c int64
		if err := rows.Scan(&o.ID, &o.Slug, &o.Name, &c); err != nil {
			return nil, s.fail(err)
		}
		o.CreatedAt = fromMillis(c)
		out = append(out, o)
	}
	return out, s.fail(rows.Err())
}

func (s *Store) OrgByID(ctx context.Context, id int64) (roomhub.Org, error) {
	var o roomhub.Org
	var c int64
	err := s.db.QueryRowContext(ctx, `SELECT id, slug, name, created_at FROM orgs WHERE id = $1`, id).Scan(&o.ID, &o.Slug, &o.Name, &c)
	if errors.Is(err, sql.ErrNoRows) {
		return o, notFound("Organization")
	}
	o.CreatedAt = fromMillis(c)
	return o, s.fail(err)
}

// Users.

const userCols = `id, email, name, password_hash, totp_secret, totp_last_step, created_at`

func scanUser(r interface{ Scan(...any) error }) (roomhub.User, error) {
	var u roomhub.User
	var c int64
	err := r.Scan(&u.ID, &u.Email, &u.Name, &u.PasswordHash, &u.TOTPSecret, &u.TOTPLastStep, &c)
	u.CreatedAt = tz(c)
	return u, err
}

// CreateUser inserts u with its email lower-cased and returns it as stored;
// a taken email is ECONFLICT.
func (s *Store) CreateUser(ctx context.Context, u roomhub.User) (roomhub.User, error) {
	u.Email = strings.ToLower(u.Email)
	u.TOTPLastStep = 0
	err := s.db.QueryRowContext(ctx, `INSERT INTO users (email, name, password_hash, totp_secret, totp_last_step, created_at)
		VALUES ($1, $2, $3, $4, 0, $5) RETURNING id`, u.Email, u.Name, u.PasswordHash, u.TOTPSecret, msz(u.CreatedAt)).Scan(&u.ID)
	if s.dialect.isUnique(err) {
		return roomhub.User{}, roomhub.Errorf(roomhub.ECONFLICT, "An account for %s already exists.", u.Email)
	}
	if err != nil {
		return roomhub.User{}, s.fail(err)
	}
	u.CreatedAt = tz(msz(u.CreatedAt))
	return u, nil
}

func (s *Store) userBy(ctx context.Context, where string, arg any) (roomhub.User, error) {
	u, err := scanUser(s.db.QueryRowContext(ctx, `SELECT `+userCols+` FROM users WHERE `+where, arg))
	if errors.Is(err, sql.ErrNoRows) {
		return roomhub.User{}, notFound("User")
	}
	return u, s.fail(err)
}

func (s *Store) UserByEmail(ctx context.Context, email string) (roomhub.User, error) {
	return s.userBy(ctx, `email = $1`, strings.ToLower(email))
}

func (s *Store) UserByID(ctx context.Context, id int64) (roomhub.User, error) {
	return s.userBy(ctx, `id = $1`, id)
}

func (s *Store) SetPassword(ctx context.Context, userID int64, hash string) error {
	res, err := s.db.ExecContext(ctx, `UPDATE users SET password_hash = $1 WHERE id = $2`, hash, userID)
	return s.fail(one(res, err, "User"))
}

func (s *Store) SetUserName(ctx context.Context, userID int64, name string) error {
	res, err := s.db.ExecContext(ctx, `UPDATE users SET name = $1 WHERE id = $2`, name, userID)
	return s.fail(one(res, err, "User"))
}

// SetTOTP enrols or (secret "") resets the second factor and replaces the
// backup codes, in one transaction.
func (s *Store) SetTOTP(ctx context.Context, userID int64, secret string, codeHashes []string) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE users SET totp_secret = $1, totp_last_step = 0 WHERE id = $2`, secret, userID)
		if err := one(res, err, "User"); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM backup_codes WHERE user_id = $1`, userID); err != nil {
			return err
		}
		for _, h := range codeHashes {
			if _, err := tx.ExecContext(ctx, `INSERT INTO backup_codes (user_id, hash, used_at) VALUES ($1, $2, 0)`, userID, h); err != nil {
				return err
			}
		}
		return nil
	})
}

// UseTOTPStep records step in one conditional UPDATE, so two concurrent
// uses of one code cannot both succeed.
func (s *Store) UseTOTPStep(ctx context.Context, userID int64, step int64) (bool, error) {
	n, err := affected(s.db.ExecContext(ctx, `UPDATE users SET totp_last_step = $1 WHERE id = $2 AND totp_last_step < $1`, step, userID))
	return n == 1, s.fail(err)
}

func (s *Store) UseBackupCode(ctx context.Context, userID int64, hash string) (bool, error) {
	n, err := affected(s.db.ExecContext(ctx, `UPDATE backup_codes SET used_at = $1 WHERE user_id = $2 AND hash = $3 AND used_at = 0`,
		s.nowMillis(), userID, hash))
	return n == 1, s.fail(err)
}

func (s *Store) UnusedBackupCodes(ctx context.Context, userID int64) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM backup_codes WHERE user_id = $1 AND used_at = 0`, userID).Scan(&n)
	return n, s.fail(err)
}

// Memberships.

func (s *Store) AddMembership(ctx context.Context, orgID, userID int64, role roomhub.Role) error {
	if !role.Valid() {
		return roomhub.Invalid("role", "Role must be owner, admin or viewer.")
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO memberships (org_id, user_id, role, created_at) VALUES ($1, $2, $3, $4)`,
		orgID, userID, string(role), s.nowMillis())
	if s.dialect.isUnique(err) {
		return roomhub.Errorf(roomhub.ECONFLICT, "This user is already a member.")
	}
	if s.dialect.isForeignKey(err) {
		return notFound("Organization or user")
	}
	return s.fail(err)
}

const membershipQuery = `SELECT m.org_id, m.user_id, m.role, m.created_at, o.slug, o.name, u.email, u.name, u.totp_secret
	FROM memberships m JOIN orgs o ON o.id = m.org_id JOIN users u ON u.id = m.user_id `

func scanMembership(r interface{ Scan(...any) error }) (roomhub.Membership, error) {
	var m roomhub.Membership
	var role, totp string
	var c int64
	err := r.Scan(&m.OrgID, &m.UserID, &role, &c, &m.OrgSlug, &m.OrgName, &m.UserEmail, &m.UserName, &totp)
	m.Role, m.CreatedAt, m.UserEnrolled = roomhub.Role(role), tz(c), totp != ""
	return m, err
}

func (s *Store) memberships(ctx context.Context, where string, args ...any) ([]roomhub.Membership, error) {
	rows, err := s.db.QueryContext(ctx, membershipQuery+where, args...)
	if err != nil {
		return nil, s.fail(err)
	}
	defer rows.Close()
	var out []roomhub.Membership
	for rows.Next() {
		m, err := scanMembership(rows)
		if err != nil {
			return nil, s.fail(err)
		}
		out = append(out, m)
	}
	return out, s.fail(rows.Err())
}

func (s *Store) Membership(ctx context.Context, orgID, userID int64) (roomhub.Membership, error) {
	m, err := scanMembership(s.db.QueryRowContext(ctx, membershipQuery+`WHERE m.org_id = $1 AND m.user_id = $2`, orgID, userID))
	if errors.Is(err, sql.ErrNoRows) {
		return m, notFound("User")
	}
	return m, s.fail(err)
}

func (s *Store) ListMemberships(ctx context.Context, userID int64) ([]roomhub.Membership, error) {
	return s.memberships(ctx, `WHERE m.user_id = $1 ORDER BY o.name, o.id`, userID)
}

func (s *Store) ListOrgUsers(ctx context.Context, orgID int64) ([]roomhub.Membership, error) {
	return s.memberships(ctx, `WHERE m.org_id = $1 ORDER BY u.email`, orgID)
}

func (s *Store) SetRole(ctx context.Context, orgID, userID int64, role roomhub.Role) error {
	if !role.Valid() {
		return roomhub.Invalid("role", "Role must be owner, admin or viewer.")
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if role != roomhub.RoleOwner {
			if err := s.keepAnOwner(ctx, tx, orgID, userID); err != nil {
				return err
			}
		}
		res, err := tx.ExecContext(ctx, `UPDATE memberships SET role = $1 WHERE org_id = $2 AND user_id = $3`, string(role), orgID, userID)
		return one(res, err, "User")
	})
}

func (s *Store) RemoveMembership(ctx context.Context, orgID, userID int64) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if err := s.keepAnOwner(ctx, tx, orgID, userID); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM memberships WHERE org_id = $1 AND user_id = $2`, orgID, userID)
		return one(res, err, "User")
	})
}

// ErrLastOwner refuses a change that would leave an organization without an
// owner; it is roomhub.ErrLastOwner, so errors.Is tells it apart from other
// conflicts.
var ErrLastOwner = roomhub.ErrLastOwner

// keepAnOwner runs in tx before a change that takes userID's membership or
// ownership away. It locks the organization's owner rows, so two owners
// demoting each other at once are serialised, and refuses when userID is
// the only owner.
func (s *Store) keepAnOwner(ctx context.Context, tx *sql.Tx, orgID, userID int64) error {
	rows, err := tx.QueryContext(ctx, `SELECT user_id FROM memberships WHERE org_id = $1 AND role = 'owner'`+s.dialect.forUpdate, orgID)
	if err != nil {
		return err
	}
	defer rows.Close()
	var owners []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return err
		}
		owners = append(owners, id)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if len(owners) == 1 && owners[0] == userID {
		return ErrLastOwner
	}
	return nil
}

func (s *Store) CountOwners(ctx context.Context, orgID int64) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM memberships WHERE org_id = $1 AND role = 'owner'`, orgID).Scan(&n)
	return n, s.fail(err)
}

// Organization settings.

const settingsCols = `org_id, agora_app_id, agora_certificate, sso_domain, sso_domain_verified, sso_auto_provision, updated_at`

func scanSettings(r interface{ Scan(...any) error }) (roomhub.OrgSettings, error) {
	var st roomhub.OrgSettings
	var verified, auto int
	var u int64
	err := r.Scan(&st.OrgID, &st.AgoraAppID, &st.AgoraCertificate, &st.SSODomain, &verified, &auto, &u)
	st.SSODomainVerified, st.SSOAutoProvision, st.UpdatedAt = verified != 0, auto != 0, tz(u)
	return st, err
}

// OrgSettings returns the organization's settings; none saved yet is the
// zero value.
func (s *Store) OrgSettings(ctx context.Context, orgID int64) (roomhub.OrgSettings, error) {
	st, err := scanSettings(s.db.QueryRowContext(ctx, `SELECT `+settingsCols+` FROM org_settings WHERE org_id = $1`, orgID))
	if errors.Is(err, sql.ErrNoRows) {
		return roomhub.OrgSettings{OrgID: orgID}, nil
	}
	return st, s.fail(err)
}

// SaveOrgSettings upserts st. A verified domain belongs to one organization:
// verifying one another organization holds is ECONFLICT.
func (s *Store) SaveOrgSettings(ctx context.Context, st roomhub.OrgSettings) error {
	st.SSODomain = strings.ToLower(st.SSODomain)
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if st.SSODomainVerified && st.SSODomain != "" {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM org_settings WHERE sso_domain = $1 AND sso_domain_verified = 1 AND org_id <> $2`,
				st.SSODomain, st.OrgID).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return roomhub.Errorf(roomhub.ECONFLICT, "Another organization already verified %s.", st.SSODomain)
			}
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO org_settings (`+settingsCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7)
			ON CONFLICT (org_id) DO UPDATE SET agora_app_id = excluded.agora_app_id, agora_certificate = excluded.agora_certificate,
			sso_domain = excluded.sso_domain, sso_domain_verified = excluded.sso_domain_verified,
			sso_auto_provision = excluded.sso_auto_provision, updated_at = excluded.updated_at`,
			st.OrgID, st.AgoraAppID, st.AgoraCertificate, st.SSODomain, b2i(st.SSODomainVerified), b2i(st.SSOAutoProvision), msz(st.UpdatedAt))
		if s.dialect.isForeignKey(err) {
			return notFound("Organization")
		}
		if s.dialect.isUnique(err) {
			return roomhub.Errorf(roomhub.ECONFLICT, "Another organization already verified %s.", st.SSODomain)
		}
		return err
	})
}

// OrgByVerifiedDomain returns the organization that verified domain; an
// empty domain matches none, even an organization verified with no domain.
func (s *Store) OrgByVerifiedDomain(ctx context.Context, domain string) (roomhub.Org, roomhub.OrgSettings, error) {
	domain = strings.ToLower(domain)
	if domain == "" {
		return roomhub.Org{}, roomhub.OrgSettings{}, notFound("Organization")
	}
	st, err := scanSettings(s.db.QueryRowContext(ctx, `SELECT `+settingsCols+` FROM org_settings
		WHERE sso_domain = $1 AND sso_domain_verified = 1`, domain))
	if errors.Is(err, sql.ErrNoRows) {
		return roomhub.Org{}, st, notFound("Organization")
	}
	if err != nil {
		return roomhub.Org{}, st, s.fail(err)
	}
	o, err := s.OrgByID(ctx, st.OrgID)
	return o, st, err
}

// sealedColumns are the columns holding sealed secrets, keyed by table;
// the queries below are built from this fixed table only.
var sealedColumns = []struct{ table, column, key string }{
	{"org_settings", "agora_certificate", "org_id"},
	{"users", "totp_secret", "id"},
	{"webhook_endpoints", "secret", "id"},
	{"video_settings", "customer_secret", "org_id"},
	{"video_settings", "ncs_secret", "org_id"},
}

// sealedColumn finds a column of sealedColumns.
func sealedColumn(table, column string) (key string, ok bool) {
	for _, c := range sealedColumns {
		if c.table == table && c.column == column {
			return c.key, true
		}
	}
	return "", false
}

func (s *Store) ListSealedSecrets(ctx context.Context) ([]roomhub.SealedSecret, error) {
	var out []roomhub.SealedSecret
	for _, c := range sealedColumns {
		table := c.table
		rows, err := s.db.QueryContext(ctx, `SELECT `+c.key+`, `+c.column+` FROM `+table+` WHERE `+c.column+` <> '' ORDER BY `+c.key)
		if err != nil {
			return nil, s.fail(err)
		}
		for rows.Next() {
			sec := roomhub.SealedSecret{Table: table, Column: c.column}
			if err := rows.Scan(&sec.ID, &sec.Value); err != nil {
				rows.Close()
				return nil, s.fail(err)
			}
			out = append(out, sec)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, s.fail(err)
		}
	}
	return out, nil
}

// ReplaceSealedSecrets writes every value in one transaction: if any row is
// gone or its secret was cleared since it was listed, nothing changes
// (ECONFLICT). A cleared secret is never written back: rotation must not
// re-enable a second factor an administrator reset meanwhile. Only the
// columns in sealedColumns can be named; SQL is built from that table alone.
//
// A secret replaced by a new non-empty value meanwhile is not detected:
// SealedSecret carries only the new value, so there is nothing to compare.
func (s *Store) ReplaceSealedSecrets(ctx context.Context, secrets []roomhub.SealedSecret) error {
	for _, sec := range secrets {
		if _, ok := sealedColumn(sec.Table, sec.Column); !ok {
			return roomhub.Invalid("secret", "Unknown secret column %s.%s.", sec.Table, sec.Column)
		}
		if sec.Value == "" {
			return roomhub.Invalid("secret", "A sealed secret must not be replaced by an empty value.")
		}
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		for _, sec := range secrets {
			key, _ := sealedColumn(sec.Table, sec.Column)
			n, err := affected(tx.ExecContext(ctx, `UPDATE `+sec.Table+` SET `+sec.Column+` = $1 WHERE `+key+` = $2 AND `+sec.Column+` <> ''`,
				sec.Value, sec.ID))
			if err != nil {
				return err
			}
			if n == 0 {
				return roomhub.Errorf(roomhub.ECONFLICT, "The secret %s.%s of row %s was removed meanwhile; nothing was changed. Run the rotation again.",
					sec.Table, sec.Column, strconv.FormatInt(sec.ID, 10))
			}
		}
		return nil
	})
}

// One-time tokens.

const tokenCols = `id, kind, org_id, email, role, user_id, hash, created_by, created_at, expires_at, used_at`

func scanToken(r interface{ Scan(...any) error }) (roomhub.UserToken, error) {
	var t roomhub.UserToken
	var kind, role string
	var c, e, u int64
	err := r.Scan(&t.ID, &kind, &t.OrgID, &t.Email, &role, &t.UserID, &t.Hash, &t.CreatedBy, &c, &e, &u)
	t.Kind, t.Role, t.CreatedAt, t.ExpiresAt, t.UsedAt = roomhub.TokenKind(kind), roomhub.Role(role), tz(c), tz(e), tz(u)
	return t, err
}

// CreateUserToken inserts t, unused, and returns it as stored.
func (s *Store) CreateUserToken(ctx context.Context, t roomhub.UserToken) (roomhub.UserToken, error) {
	t.Email = strings.ToLower(t.Email)
	t.CreatedAt, t.ExpiresAt, t.UsedAt = tz(msz(t.CreatedAt)), tz(msz(t.ExpiresAt)), time.Time{}
	err := s.db.QueryRowContext(ctx, `INSERT INTO user_tokens (kind, org_id, email, role, user_id, hash, created_by, created_at, expires_at, used_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 0) RETURNING id`,
		string(t.Kind), t.OrgID, t.Email, string(t.Role), t.UserID, t.Hash, t.CreatedBy, msz(t.CreatedAt), msz(t.ExpiresAt)).Scan(&t.ID)
	if s.dialect.isForeignKey(err) {
		return roomhub.UserToken{}, notFound("Organization")
	}
	if err != nil {
		return roomhub.UserToken{}, s.fail(err)
	}
	return t, nil
}

func (s *Store) UserTokenByHash(ctx context.Context, kind roomhub.TokenKind, hash string, now time.Time) (roomhub.UserToken, error) {
	t, err := scanToken(s.db.QueryRowContext(ctx, `SELECT `+tokenCols+` FROM user_tokens
		WHERE kind = $1 AND hash = $2 AND used_at = 0 AND expires_at > $3`, string(kind), hash, msz(now)))
	if errors.Is(err, sql.ErrNoRows) {
		return t, notFound("Link")
	}
	return t, s.fail(err)
}

func (s *Store) UseUserToken(ctx context.Context, id int64, now time.Time) (bool, error) {
	n, err := affected(s.db.ExecContext(ctx, `UPDATE user_tokens SET used_at = $1 WHERE id = $2 AND used_at = 0`, s.stamp(now), id))
	return n == 1, s.fail(err)
}

func (s *Store) ListInvitations(ctx context.Context, orgID int64, now time.Time) ([]roomhub.UserToken, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+tokenCols+` FROM user_tokens
		WHERE org_id = $1 AND kind = 'invite' AND used_at = 0 AND expires_at > $2 ORDER BY id DESC`, orgID, msz(now))
	if err != nil {
		return nil, s.fail(err)
	}
	defer rows.Close()
	var out []roomhub.UserToken
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, s.fail(err)
		}
		out = append(out, t)
	}
	return out, s.fail(rows.Err())
}

// RevokeInvitation spends an unused invitation of the organization.
func (s *Store) RevokeInvitation(ctx context.Context, orgID, id int64) error {
	res, err := s.db.ExecContext(ctx, `UPDATE user_tokens SET used_at = $1 WHERE id = $2 AND org_id = $3 AND kind = 'invite' AND used_at = 0`,
		s.nowMillis(), id, orgID)
	return s.fail(one(res, err, "Invitation"))
}

// RevokeTokensIssuedBy implements roomhub.Accounts.
func (s *Store) RevokeTokensIssuedBy(ctx context.Context, orgID, userID int64) (int, error) {
	n, err := affected(s.db.ExecContext(ctx, `UPDATE user_tokens SET used_at = $1 WHERE org_id = $2 AND created_by = $3 AND used_at = 0`,
		s.nowMillis(), orgID, userID))
	return int(n), s.fail(err)
}

// Dashboard sessions.

func (s *Store) CreateUserSession(ctx context.Context, us roomhub.UserSession) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO user_sessions (id, user_id, verified, created_at, last_seen, expires_at, ip, user_agent)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		us.ID, us.UserID, b2i(us.Verified), msz(us.CreatedAt), msz(us.LastSeen), msz(us.ExpiresAt), us.IP, us.UserAgent)
	if s.dialect.isForeignKey(err) {
		return notFound("User")
	}
	return s.fail(err)
}

func (s *Store) UserSession(ctx context.Context, id string) (roomhub.UserSession, error) {
	var us roomhub.UserSession
	var verified int
	var c, l, e int64
	err := s.db.QueryRowContext(ctx, `SELECT id, user_id, verified, created_at, last_seen, expires_at, ip, user_agent, code_failures
		FROM user_sessions WHERE id = $1`, id).Scan(&us.ID, &us.UserID, &verified, &c, &l, &e, &us.IP, &us.UserAgent, &us.CodeFailures)
	if errors.Is(err, sql.ErrNoRows) {
		return us, notFound("Session")
	}
	us.Verified, us.CreatedAt, us.LastSeen, us.ExpiresAt = verified != 0, tz(c), tz(l), tz(e)
	return us, s.fail(err)
}

func (s *Store) TouchUserSession(ctx context.Context, id string, lastSeen time.Time) error {
	_, err := s.db.ExecContext(ctx, `UPDATE user_sessions SET last_seen = $1 WHERE id = $2`, msz(lastSeen), id)
	return s.fail(err)
}

func (s *Store) DeleteUserSession(ctx context.Context, id string) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM user_sessions WHERE id = $1`, id)
	return s.fail(err)
}

func (s *Store) DeleteUserSessions(ctx context.Context, userID int64) (int, error) {
	n, err := affected(s.db.ExecContext(ctx, `DELETE FROM user_sessions WHERE user_id = $1`, userID))
	return int(n), s.fail(err)
}

func (s *Store) DeleteAllUserSessions(ctx context.Context) (int, error) {
	n, err := affected(s.db.ExecContext(ctx, `DELETE FROM user_sessions`))
	return int(n), s.fail(err)
}

// RecordCodeFailure implements roomhub.Accounts: one UPDATE ... RETURNING,
// so concurrent wrong codes on one session are each counted once. A
// verified session is not pending and is not counted.
func (s *Store) RecordCodeFailure(ctx context.Context, id string) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `UPDATE user_sessions SET code_failures = code_failures + 1
		WHERE id = $1 AND verified = 0 RETURNING code_failures`, id).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, notFound("Session")
	}
	return n, s.fail(err)
}

// Sign-in failures.

// LoginAttempts returns the pair's counter; a pair never seen is a zero row.
// Emails are compared lower-cased, as users.email is stored.
func (s *Store) LoginAttempts(ctx context.Context, email, ip string) (roomhub.LoginAttempts, error) {
	a := roomhub.LoginAttempts{Email: strings.ToLower(email), IP: ip}
	var locked, updated int64
	err := s.db.QueryRowContext(ctx, `SELECT failures, locked_until, updated_at FROM login_attempts WHERE email = $1 AND ip = $2`,
		a.Email, ip).Scan(&a.Failures, &locked, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return a, nil
	}
	if err != nil {
		return roomhub.LoginAttempts{}, s.fail(err)
	}
	a.LockedUntil, a.UpdatedAt = tz(locked), tz(updated)
	return a, nil
}

// qRecordLoginFailure counts a failure of ($1 email, $2 ip) at $5 (now) in
// one statement. $3 is the limit and $4 the end of a lock starting now.
//   - A lock that has expired starts the count over at 1: a served lock
//     does not make the next single failure lock again.
//   - A lock in force is kept as it is, neither extended nor cleared.
//   - Otherwise the pair locks when the count reaches the limit.
//
// RETURNING gives the row this statement wrote, not one a concurrent
// failure wrote after it.
const qRecordLoginFailure = `INSERT INTO login_attempts (email, ip, failures, locked_until, updated_at)
	VALUES ($1, $2, 1, CASE WHEN $3 <= 1 THEN CAST($4 AS BIGINT) ELSE 0 END, $5)
	ON CONFLICT (email, ip) DO UPDATE SET
		failures = CASE WHEN login_attempts.locked_until <> 0 AND login_attempts.locked_until <= $5 THEN 1
			ELSE login_attempts.failures + 1 END,
		locked_until = CASE
			WHEN login_attempts.locked_until <> 0 AND login_attempts.locked_until <= $5 THEN CASE WHEN $3 <= 1 THEN CAST($4 AS BIGINT) ELSE 0 END
			WHEN login_attempts.locked_until > $5 THEN login_attempts.locked_until
			WHEN login_attempts.failures + 1 >= $3 THEN CAST($4 AS BIGINT)
			ELSE 0 END,
		updated_at = $5
	RETURNING failures, locked_until, updated_at`

// RecordLoginFailure counts a failure atomically, locking the pair for
// lockFor when the count reaches limit, and returns the row it wrote.
func (s *Store) RecordLoginFailure(ctx context.Context, email, ip string, limit int, lockFor time.Duration, now time.Time) (roomhub.LoginAttempts, error) {
	a := roomhub.LoginAttempts{Email: strings.ToLower(email), IP: ip}
	var locked, updated int64
	err := s.db.QueryRowContext(ctx, qRecordLoginFailure, a.Email, ip, limit, millis(now.Add(lockFor)), millis(now)).
		Scan(&a.Failures, &locked, &updated)
	if err != nil {
		return roomhub.LoginAttempts{}, s.fail(err)
	}
	a.LockedUntil, a.UpdatedAt = tz(locked), tz(updated)
	return a, nil
}

// ClearLoginAttempts deletes the counters of email and ip; "" matches any.
func (s *Store) ClearLoginAttempts(ctx context.Context, email, ip string) (int, error) {
	n, err := affected(s.db.ExecContext(ctx, `DELETE FROM login_attempts WHERE ($1 = '' OR email = $1) AND ($2 = '' OR ip = $2)`,
		strings.ToLower(email), ip))
	return int(n), s.fail(err)
}

// API keys.

const keyCols = `id, org_id, name, prefix, hash, created_by, created_at, last_used, revoked_at`

func scanKey(r interface{ Scan(...any) error }) (roomhub.APIKey, error) {
	var k roomhub.APIKey
	var c, l, rv int64
	err := r.Scan(&k.ID, &k.OrgID, &k.Name, &k.Prefix, &k.Hash, &k.CreatedBy, &c, &l, &rv)
	k.CreatedAt, k.LastUsed, k.RevokedAt = tz(c), tz(l), tz(rv)
	return k, err
}

// CreateAPIKey inserts k, active and never used, and returns it as stored.
func (s *Store) CreateAPIKey(ctx context.Context, k roomhub.APIKey) (roomhub.APIKey, error) {
	k.CreatedAt, k.LastUsed, k.RevokedAt = tz(msz(k.CreatedAt)), time.Time{}, time.Time{}
	err := s.db.QueryRowContext(ctx, `INSERT INTO api_keys (org_id, name, prefix, hash, created_by, created_at, last_used, revoked_at)
		VALUES ($1, $2, $3, $4, $5, $6, 0, 0) RETURNING id`, k.OrgID, k.Name, k.Prefix, k.Hash, k.CreatedBy, msz(k.CreatedAt)).Scan(&k.ID)
	if s.dialect.isForeignKey(err) {
		return roomhub.APIKey{}, notFound("Organization")
	}
	if err != nil {
		return roomhub.APIKey{}, s.fail(err)
	}
	return k, nil
}

func (s *Store) ListAPIKeys(ctx context.Context, orgID int64) ([]roomhub.APIKey, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+keyCols+` FROM api_keys WHERE org_id = $1 ORDER BY id DESC`, orgID)
	if err != nil {
		return nil, s.fail(err)
	}
	defer rows.Close()
	var out []roomhub.APIKey
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return nil, s.fail(err)
		}
		out = append(out, k)
	}
	return out, s.fail(rows.Err())
}

func (s *Store) APIKeyByHash(ctx context.Context, hash string) (roomhub.APIKey, error) {
	k, err := scanKey(s.db.QueryRowContext(ctx, `SELECT `+keyCols+` FROM api_keys WHERE hash = $1`, hash))
	if errors.Is(err, sql.ErrNoRows) {
		return k, notFound("API key")
	}
	return k, s.fail(err)
}

func (s *Store) RevokeAPIKey(ctx context.Context, orgID, id int64, now time.Time) error {
	res, err := s.db.ExecContext(ctx, `UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND org_id = $3 AND revoked_at = 0`, s.stamp(now), id, orgID)
	return s.fail(one(res, err, "API key"))
}

func (s *Store) TouchAPIKey(ctx context.Context, id int64, now time.Time) error {
	_, err := s.db.ExecContext(ctx, `UPDATE api_keys SET last_used = $1 WHERE id = $2`, msz(now), id)
	return s.fail(err)
}

// likeEscape escapes LIKE's wildcards so user input matches literally.
func likeEscape(v string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(v)
}

// QueryAudit returns the organization's entries matching f, newest first.
// The WHERE clause is assembled from fixed fragments; values are always
// parameters.
func (s *Store) QueryAudit(ctx context.Context, orgID int64, f roomhub.AuditFilter) ([]roomhub.AuditEntry, error) {
	where := []string{"org_id = $1"}
	args := []any{orgID}
	add := func(frag string, v any) {
		args = append(args, v)
		where = append(where, strings.ReplaceAll(frag, "?", "$"+strconv.Itoa(len(args))))
	}
	if f.Action != "" {
		// The action itself, or any under it: "login" matches
		// "login.failed" but not "logout".
		args = append(args, f.Action, likeEscape(f.Action)+".%")
		where = append(where, "(action = $"+strconv.Itoa(len(args)-1)+" OR action LIKE $"+strconv.Itoa(len(args))+" ESCAPE '\\')")
	}
	if f.Actor != "" {
		add("(actor_id = ? OR actor_name = ?)", f.Actor)
	}
	if f.Success != nil {
		add("success = ?", b2i(*f.Success))
	}
	if !f.Since.IsZero() {
		add("at >= ?", millis(f.Since))
	}
	if !f.Until.IsZero() {
		add("at < ?", millis(f.Until))
	}
	if f.Before > 0 {
		add("id < ?", f.Before)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	if limit > MaxAuditList {
		limit = MaxAuditList
	}
	args = append(args, limit)
	q := `SELECT id, org_id, at, actor_id, actor_name, action, object_type, object_id, description, ip, user_agent, path, success, extra
		FROM audit_log WHERE ` + strings.Join(where, " AND ") + ` ORDER BY id DESC LIMIT $` + strconv.Itoa(len(args))
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, s.fail(err)
	}
	defer rows.Close()
	return scanAudit(rows)
}
