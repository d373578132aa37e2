package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"roomhub"
)

var (
	_ roomhub.History    = (*Store)(nil)
	_ roomhub.Moderation = (*Store)(nil)
)

// Room history. A join and a leave each run in one transaction that first
// locks the room's live session row (the no-op UPDATE), so that on
// PostgreSQL a leave closing the session and a join counting into it are
// serialised, and a join never lands in a session that just ended.
const (
	qOpenSession = `INSERT INTO room_sessions (org_id, room, started_at, members, peak, member_ms)
		VALUES ($1, $2, $3, 0, 0, 0) ON CONFLICT (org_id, room) WHERE ended_at IS NULL DO NOTHING`
	qLockSession = `UPDATE room_sessions SET members = members
		WHERE org_id = $1 AND room = $2 AND ended_at IS NULL RETURNING id, started_at`
	qAttend = `INSERT INTO room_attendance (session_id, uid, name, joined_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (session_id, uid) DO NOTHING`
	qRenameAttendance = `UPDATE room_attendance SET name = $1 WHERE session_id = $2 AND uid = $3`
	qCountIn          = `UPDATE room_sessions SET members = members + 1,
		peak = CASE WHEN members + 1 > peak THEN members + 1 ELSE peak END
		WHERE id = $1 RETURNING members, peak, member_ms`
	qDailyPeak = `INSERT INTO room_daily_peaks (org_id, room, day, peak) VALUES ($1, $2, $3, $4)
		ON CONFLICT (org_id, room, day) DO UPDATE
		SET peak = CASE WHEN excluded.peak > room_daily_peaks.peak THEN excluded.peak ELSE room_daily_peaks.peak END`
	qUnattend = `DELETE FROM room_attendance WHERE session_id = $1 AND uid = $2 RETURNING name, joined_at`
	qCountOut = `UPDATE room_sessions SET members = members - 1, member_ms = member_ms + $2
		WHERE id = $1 RETURNING members, peak, member_ms`
	qEndSession    = `UPDATE room_sessions SET ended_at = $2 WHERE id = $1`
	qListSessions  = `SELECT id, org_id, room, started_at, ended_at, members, peak, member_ms FROM room_sessions WHERE org_id = $1`
	qPeaksOn       = `SELECT room, peak FROM room_daily_peaks WHERE org_id = $1 AND day = $2`
	qRoomSettings  = `SELECT locked, max_members FROM room_settings WHERE org_id = $1 AND room = $2`
	qSetRoomConfig = `INSERT INTO room_settings (org_id, room, locked, max_members, updated_at) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (org_id, room) DO UPDATE SET locked = excluded.locked, max_members = excluded.max_members,
		updated_at = excluded.updated_at`
)

// openSessionAttempts bounds how often a join retries when the session it
// found ended under it.
const openSessionAttempts = 3

// lockLiveSession returns the room's live session, opening one if asked.
func (s *Store) lockLiveSession(ctx context.Context, tx *sql.Tx, org int64, room string, at time.Time, open bool) (id int64, started time.Time, opened bool, err error) {
	for range openSessionAttempts {
		if open {
			res, err := tx.ExecContext(ctx, qOpenSession, org, room, millis(at))
			if s.dialect.isForeignKey(err) {
				return 0, time.Time{}, false, roomhub.Errorf(roomhub.ENOTFOUND, "No such room.")
			}
			n, err := affected(res, err)
			if err != nil {
				return 0, time.Time{}, false, err
			}
			opened = n > 0
		}
		var ms int64
		err = tx.QueryRowContext(ctx, qLockSession, org, room).Scan(&id, &ms)
		if err == nil {
			return id, fromMillis(ms), opened, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return 0, time.Time{}, false, err
		}
		if !open {
			return 0, time.Time{}, false, nil
		}
	}
	return 0, time.Time{}, false, fmt.Errorf("room %q: live session changed under every attempt", room)
}

// RecordJoin implements roomhub.History.
func (s *Store) RecordJoin(ctx context.Context, org int64, room string, uid uint32, name string, at time.Time) (roomhub.Activity, bool, error) {
	var a roomhub.Activity
	var counted bool
	err := s.inTx(ctx, func(tx *sql.Tx) (err error) {
		a, counted, err = s.recordJoin(ctx, tx, org, room, uid, name, at)
		return err
	})
	return a, counted, err
}

func (s *Store) recordJoin(ctx context.Context, tx *sql.Tx, org int64, room string, uid uint32, name string, at time.Time) (roomhub.Activity, bool, error) {
	var a roomhub.Activity
	id, started, opened, err := s.lockLiveSession(ctx, tx, org, room, at, true)
	if err != nil {
		return a, false, err
	}
	n, err := affected(tx.ExecContext(ctx, qAttend, id, int64(uid), name, millis(at)))
	if err != nil {
		return a, false, err
	}
	if n == 0 {
		_, err := tx.ExecContext(ctx, qRenameAttendance, name, id, int64(uid))
		return a, false, err
	}
	a = roomhub.Activity{Started: opened, Name: name, Joined: at}
	a.Session = roomhub.RoomSession{ID: id, OrgID: org, Room: room, StartedAt: started}
	if err := tx.QueryRowContext(ctx, qCountIn, id).Scan(&a.Session.Members, &a.Session.Peak, &a.Session.MemberMs); err != nil {
		return a, false, err
	}
	if _, err := tx.ExecContext(ctx, qDailyPeak, org, room, day(at), a.Session.Members); err != nil {
		return a, false, err
	}
	return a, true, s.emitJoin(ctx, tx, uid, a, at)
}

// RecordLeave implements roomhub.History.
func (s *Store) RecordLeave(ctx context.Context, org int64, room string, uid uint32, reason string, at time.Time) (roomhub.Activity, bool, error) {
	var a roomhub.Activity
	var counted bool
	err := s.inTx(ctx, func(tx *sql.Tx) (err error) {
		a, counted, err = s.recordLeave(ctx, tx, org, room, uid, reason, at)
		return err
	})
	return a, counted, err
}

func (s *Store) recordLeave(ctx context.Context, tx *sql.Tx, org int64, room string, uid uint32, reason string, at time.Time) (roomhub.Activity, bool, error) {
	var a roomhub.Activity
	id, started, _, err := s.lockLiveSession(ctx, tx, org, room, at, false)
	if err != nil || id == 0 {
		return a, false, err
	}
	var joined int64
	err = tx.QueryRowContext(ctx, qUnattend, id, int64(uid)).Scan(&a.Name, &joined)
	if errors.Is(err, sql.ErrNoRows) {
		return a, false, nil
	}
	if err != nil {
		return a, false, err
	}
	a.Joined = fromMillis(joined)
	a.Session = roomhub.RoomSession{ID: id, OrgID: org, Room: room, StartedAt: started}
	stay := max(millis(at)-joined, 0)
	if err := tx.QueryRowContext(ctx, qCountOut, id, stay).Scan(&a.Session.Members, &a.Session.Peak, &a.Session.MemberMs); err != nil {
		return a, false, err
	}
	if a.Session.Members <= 0 {
		a.Ended = true
		a.Session.EndedAt = at.UTC().Truncate(time.Millisecond)
		if _, err := tx.ExecContext(ctx, qEndSession, id, millis(at)); err != nil {
			return a, false, err
		}
	}
	return a, true, s.emitLeave(ctx, tx, uid, reason, a, at)
}

// RecordChanges implements roomhub.History: the changes, in order, in one
// transaction.
func (s *Store) RecordChanges(ctx context.Context, changes []roomhub.Change) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		for _, c := range changes {
			var err error
			if c.Reason == "" {
				_, _, err = s.recordJoin(ctx, tx, c.OrgID, c.Room, c.UID, c.Name, c.At)
			} else {
				_, _, err = s.recordLeave(ctx, tx, c.OrgID, c.Room, c.UID, c.Reason, c.At)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
}

// ListSessions implements roomhub.History.
func (s *Store) ListSessions(ctx context.Context, org int64, f roomhub.SessionFilter) ([]roomhub.RoomSession, error) {
	q, args := qListSessions, []any{org}
	if f.Room != "" {
		args = append(args, f.Room)
		q += fmt.Sprintf(" AND room = $%d", len(args))
	}
	if !f.Since.IsZero() {
		args = append(args, millis(f.Since))
		q += fmt.Sprintf(" AND started_at >= $%d", len(args))
	}
	if f.Before > 0 {
		args = append(args, f.Before)
		q += fmt.Sprintf(" AND id < $%d", len(args))
	}
	if f.Limit <= 0 || f.Limit > roomhub.MaxSessionPage {
		f.Limit = roomhub.MaxSessionPage
	}
	args = append(args, f.Limit)
	q += fmt.Sprintf(" ORDER BY id DESC LIMIT $%d", len(args))
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, s.fail(err)
	}
	defer rows.Close()
	var out []roomhub.RoomSession
	for rows.Next() {
		var rs roomhub.RoomSession
		var started int64
		var ended sql.NullInt64
		if err := rows.Scan(&rs.ID, &rs.OrgID, &rs.Room, &started, &ended, &rs.Members, &rs.Peak, &rs.MemberMs); err != nil {
			return nil, s.fail(err)
		}
		rs.StartedAt = fromMillis(started)
		if ended.Valid {
			rs.EndedAt = fromMillis(ended.Int64)
		}
		out = append(out, rs)
	}
	return out, s.fail(rows.Err())
}

func day(t time.Time) string { return t.UTC().Format(time.DateOnly) }

// PeaksOn implements roomhub.History.
func (s *Store) PeaksOn(ctx context.Context, org int64, t time.Time) (map[string]int, error) {
	rows, err := s.db.QueryContext(ctx, qPeaksOn, org, day(t))
	if err != nil {
		return nil, s.fail(err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var room string
		var peak int
		if err := rows.Scan(&room, &peak); err != nil {
			return nil, s.fail(err)
		}
		out[room] = peak
	}
	return out, s.fail(rows.Err())
}

// RoomSettings implements roomhub.Moderation; a room never configured has the
// zero settings.
func (s *Store) RoomSettings(ctx context.Context, org int64, room string) (roomhub.RoomSettings, error) {
	var rs roomhub.RoomSettings
	var locked int
	err := s.db.QueryRowContext(ctx, qRoomSettings, org, room).Scan(&locked, &rs.MaxMembers)
	if errors.Is(err, sql.ErrNoRows) {
		return roomhub.RoomSettings{}, nil
	}
	rs.Locked = locked != 0
	return rs, s.fail(err)
}

// SetRoomSettings implements roomhub.Moderation; ENOTFOUND if the organization
// never had the room.
func (s *Store) SetRoomSettings(ctx context.Context, org int64, room string, rs roomhub.RoomSettings) error {
	if rs.MaxMembers < 0 || rs.MaxMembers > roomhub.MaxRoomMembersSetting {
		return roomhub.Invalid("max_members", "The member limit must be 0 (no limit of its own) to %d.", roomhub.MaxRoomMembersSetting)
	}
	_, err := s.db.ExecContext(ctx, qSetRoomConfig, org, room, b2i(rs.Locked), rs.MaxMembers, s.nowMillis())
	if s.dialect.isForeignKey(err) {
		return roomhub.Errorf(roomhub.ENOTFOUND, "No such room.")
	}
	return s.fail(err)
}

const (
	qEndAttendance = `UPDATE room_sessions SET member_ms = member_ms + COALESCE((
		SELECT SUM(CASE WHEN $1 > a.joined_at THEN $1 - a.joined_at ELSE 0 END) FROM room_attendance a
		WHERE a.session_id = room_sessions.id), 0), members = 0, ended_at = $1 WHERE ended_at IS NULL`
	qClearAttendance = `DELETE FROM room_attendance`
)

// EndLiveSessions ends every live session at the given time, counting its
// members' time so far. A single node with in-process presence calls it at
// shutdown, when its members are dropped without leave events; it returns
// how many sessions it ended.
func (s *Store) EndLiveSessions(ctx context.Context, at time.Time) (int64, error) {
	var n int64
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		if n, err = affected(tx.ExecContext(ctx, qEndAttendance, millis(at))); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, qClearAttendance)
		return err
	})
	return n, err
}

// Room invites.
const (
	qInsertInvite = `INSERT INTO room_invites (org_id, room, hash, created_by, created_at, expires_at, max_uses, uses)
		VALUES ($1, $2, $3, $4, $5, $6, $7, 0) RETURNING id`
	inviteCols = `id, org_id, room, created_by, created_at, expires_at, max_uses, uses, revoked_at`
	qUseInvite = `UPDATE room_invites SET uses = uses + 1
		WHERE org_id = $1 AND hash = $2 AND revoked_at IS NULL AND expires_at > $3 AND (max_uses = 0 OR uses < max_uses)
		RETURNING ` + inviteCols
	qListInvites  = `SELECT ` + inviteCols + ` FROM room_invites WHERE org_id = $1 AND room = $2 ORDER BY id DESC LIMIT 100`
	qRevokeInvite = `UPDATE room_invites SET revoked_at = $3 WHERE org_id = $1 AND id = $2 AND revoked_at IS NULL`
)

func scanInvite(sc interface{ Scan(...any) error }) (roomhub.RoomInvite, error) {
	var i roomhub.RoomInvite
	var created, expires int64
	var revoked sql.NullInt64
	err := sc.Scan(&i.ID, &i.OrgID, &i.Room, &i.CreatedBy, &created, &expires, &i.MaxUses, &i.Uses, &revoked)
	i.CreatedAt, i.ExpiresAt, i.Revoked = fromMillis(created), fromMillis(expires), revoked.Valid
	return i, err
}

// CreateRoomInvite implements roomhub.Moderation; ENOTFOUND if the
// organization never had the room.
func (s *Store) CreateRoomInvite(ctx context.Context, inv roomhub.RoomInvite, hash string) (roomhub.RoomInvite, error) {
	inv.CreatedAt = fromMillis(s.nowMillis())
	err := s.db.QueryRowContext(ctx, qInsertInvite, inv.OrgID, inv.Room, hash, inv.CreatedBy,
		millis(inv.CreatedAt), millis(inv.ExpiresAt), inv.MaxUses).Scan(&inv.ID)
	if s.dialect.isForeignKey(err) {
		return roomhub.RoomInvite{}, roomhub.Errorf(roomhub.ENOTFOUND, "No such room.")
	}
	return inv, s.fail(err)
}

// UseRoomInvite implements roomhub.Moderation: the use is taken by one
// conditional UPDATE, so two people racing for the last use cannot both win.
func (s *Store) UseRoomInvite(ctx context.Context, org int64, hash string, now time.Time) (roomhub.RoomInvite, error) {
	i, err := scanInvite(s.db.QueryRowContext(ctx, qUseInvite, org, hash, millis(now)))
	if errors.Is(err, sql.ErrNoRows) {
		return roomhub.RoomInvite{}, roomhub.Errorf(roomhub.ENOTFOUND, "This invite link is not valid: it may have expired, been used up or been revoked.")
	}
	return i, s.fail(err)
}

// ListRoomInvites implements roomhub.Moderation: the newest 100 of a room.
func (s *Store) ListRoomInvites(ctx context.Context, org int64, room string) ([]roomhub.RoomInvite, error) {
	rows, err := s.db.QueryContext(ctx, qListInvites, org, room)
	if err != nil {
		return nil, s.fail(err)
	}
	defer rows.Close()
	var out []roomhub.RoomInvite
	for rows.Next() {
		i, err := scanInvite(rows)
		if err != nil {
			return nil, s.fail(err)
		}
		out = append(out, i)
	}
	return out, s.fail(rows.Err())
}

// RevokeRoomInvite implements roomhub.Moderation; ENOTFOUND if org has no such
// live invite.
func (s *Store) RevokeRoomInvite(ctx context.Context, org, id int64) error {
	n, err := affected(s.db.ExecContext(ctx, qRevokeInvite, org, id, s.nowMillis()))
	if err != nil {
		return s.fail(err)
	}
	if n == 0 {
		return roomhub.Errorf(roomhub.ENOTFOUND, "No such invite.")
	}
	return nil
}

// Room bans.
const (
	qBan = `INSERT INTO room_bans (org_id, room, session_id, until) VALUES ($1, $2, $3, $4)
		ON CONFLICT (org_id, room, session_id) DO UPDATE SET until = excluded.until`
	qBanned = `SELECT COUNT(*) FROM room_bans WHERE org_id = $1 AND room = $2 AND session_id = $3 AND until > $4`
)

// BanFromRoom implements roomhub.Moderation.
func (s *Store) BanFromRoom(ctx context.Context, org int64, room, sessionID string, until time.Time) error {
	_, err := s.db.ExecContext(ctx, qBan, org, room, sessionID, millis(until))
	return s.fail(err)
}

// BannedFromRoom implements roomhub.Moderation.
func (s *Store) BannedFromRoom(ctx context.Context, org int64, room, sessionID string, now time.Time) (bool, error) {
	var n int
	err := s.db.QueryRowContext(ctx, qBanned, org, room, sessionID, millis(now)).Scan(&n)
	return n > 0, s.fail(err)
}

const (
	qOrphanAttendance = `SELECT s.org_id, s.room, a.uid FROM room_attendance a JOIN room_sessions s ON s.id = a.session_id
		WHERE s.ended_at IS NULL AND a.joined_at < $1
		AND NOT EXISTS (SELECT 1 FROM members m WHERE m.org_id = s.org_id AND m.room = s.room AND m.uid = a.uid)`
	qEndEmptySessions = `UPDATE room_sessions SET ended_at = $1, members = 0 WHERE ended_at IS NULL AND started_at < $2
		AND NOT EXISTS (SELECT 1 FROM room_attendance a WHERE a.session_id = room_sessions.id)`
)

// RepairHistory ends what room history still counts in although the member
// is gone: an attendance whose member row no longer exists (its leave was
// not recorded: the write failed, or the leave reached the history before
// its join did, recorded on two nodes a few milliseconds apart), and a live
// session nobody attends. Only what is older than settle is touched, so
// changes still queued on some node are not raced. Repaired leaves are
// recorded with reason expired, at now. It reports how many it ended.
// Every node may run it at once: each leave is recorded once.
func (s *Store) RepairHistory(ctx context.Context, now time.Time, settle time.Duration) (int, error) {
	cutoff := millis(now.Add(-settle))
	rows, err := s.db.QueryContext(ctx, qOrphanAttendance, cutoff)
	if err != nil {
		return 0, s.fail(err)
	}
	type orphan struct {
		org  int64
		room string
		uid  int64
	}
	var orphans []orphan
	for rows.Next() {
		var o orphan
		if err := rows.Scan(&o.org, &o.room, &o.uid); err != nil {
			rows.Close()
			return 0, s.fail(err)
		}
		orphans = append(orphans, o)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, s.fail(err)
	}
	n := 0
	for _, o := range orphans {
		_, counted, err := s.RecordLeave(ctx, o.org, o.room, uint32(o.uid), "expired", now)
		if err != nil {
			return n, err
		}
		if counted {
			n++
		}
	}
	ended, err := affected(s.db.ExecContext(ctx, qEndEmptySessions, millis(now), cutoff))
	if err != nil {
		return n, s.fail(err)
	}
	return n + int(ended), nil
}
