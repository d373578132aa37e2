package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"roomhub"
)

var _ roomhub.Video = (*Store)(nil)

const (
	videoSettingsCols = `org_id, customer_id, customer_secret, ncs_secret, remove_intruders, updated_at`
	qVideoSettings    = `SELECT ` + videoSettingsCols + ` FROM video_settings WHERE org_id = $1`
	qSaveVideo        = `INSERT INTO video_settings (` + videoSettingsCols + `) VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (org_id) DO UPDATE SET customer_id = excluded.customer_id, customer_secret = excluded.customer_secret,
		ncs_secret = excluded.ncs_secret, remove_intruders = excluded.remove_intruders, updated_at = excluded.updated_at`
	qFirstNotice  = `INSERT INTO video_notices (org_id, notice_id, received_at) VALUES ($1, $2, $3) ON CONFLICT (org_id, notice_id) DO NOTHING`
	qPruneNotices = `DELETE FROM video_notices WHERE received_at < $1`
	// The conditional upsert orders a user's events: a row whose
	// client_seq is already at least this event's is left alone.
	qRecordVideo = `INSERT INTO video_members (org_id, room, uid, in_video, client_seq, updated_at) VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (org_id, room, uid) DO UPDATE SET in_video = excluded.in_video, client_seq = excluded.client_seq,
		updated_at = excluded.updated_at WHERE video_members.client_seq < excluded.client_seq`
	qInVideo          = `SELECT uid, updated_at FROM video_members WHERE org_id = $1 AND room = $2 AND in_video = 1 ORDER BY updated_at, uid`
	videoActionCols   = `id, org_id, room, uid, name, kind, status, error, created_at, updated_at`
	qAddVideoAction   = `INSERT INTO video_actions (org_id, room, uid, name, kind, status, error, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, '', $7, $7) RETURNING id`
	qFinishVideo      = `UPDATE video_actions SET status = $3, error = $4, updated_at = $5 WHERE org_id = $1 AND id = $2`
	qExpireVideo      = `UPDATE video_actions SET status = 'failed', error = $2, updated_at = $3 WHERE status = 'pending' AND created_at < $1`
	qListVideoActions = `SELECT ` + videoActionCols + ` FROM video_actions WHERE org_id = $1 ORDER BY id DESC LIMIT $2`
)

func (s *Store) VideoSettings(ctx context.Context, orgID int64) (roomhub.VideoSettings, error) {
	var st roomhub.VideoSettings
	var remove int
	var u int64
	err := s.db.QueryRowContext(ctx, qVideoSettings, orgID).Scan(&st.OrgID, &st.CustomerID, &st.CustomerSecret, &st.NCSSecret, &remove, &u)
	if errors.Is(err, sql.ErrNoRows) {
		return roomhub.VideoSettings{OrgID: orgID}, nil
	}
	st.RemoveIntruders, st.UpdatedAt = remove != 0, tz(u)
	return st, s.fail(err)
}

func (s *Store) SaveVideoSettings(ctx context.Context, st roomhub.VideoSettings) error {
	_, err := s.db.ExecContext(ctx, qSaveVideo, st.OrgID, st.CustomerID, st.CustomerSecret, st.NCSSecret, b2i(st.RemoveIntruders), msz(st.UpdatedAt))
	if s.dialect.isForeignKey(err) {
		return notFound("Organization")
	}
	return s.fail(err)
}

func (s *Store) FirstNotice(ctx context.Context, orgID int64, noticeID string, at time.Time) (bool, error) {
	n, err := affected(s.db.ExecContext(ctx, qFirstNotice, orgID, noticeID, millis(at)))
	return n == 1, s.fail(err)
}

func (s *Store) PruneNotices(ctx context.Context, before time.Time) error {
	_, err := s.db.ExecContext(ctx, qPruneNotices, millis(before))
	return s.fail(err)
}

func (s *Store) RecordVideo(ctx context.Context, orgID int64, room string, uid uint32, in bool, seq int64, at time.Time) (bool, error) {
	n, err := affected(s.db.ExecContext(ctx, qRecordVideo, orgID, room, int64(uid), b2i(in), seq, millis(at)))
	if s.dialect.isForeignKey(err) {
		return false, notFound("Organization")
	}
	return n == 1, s.fail(err)
}

func (s *Store) InVideo(ctx context.Context, orgID int64, room string) ([]roomhub.VideoPresence, error) {
	rows, err := s.db.QueryContext(ctx, qInVideo, orgID, room)
	if err != nil {
		return nil, s.fail(err)
	}
	defer rows.Close()
	var out []roomhub.VideoPresence
	for rows.Next() {
		var uid, at int64
		if err := rows.Scan(&uid, &at); err != nil {
			return nil, s.fail(err)
		}
		out = append(out, roomhub.VideoPresence{UID: uint32(uid), Since: fromMillis(at)})
	}
	return out, s.fail(rows.Err())
}

func (s *Store) AddVideoAction(ctx context.Context, a roomhub.VideoAction) (int64, error) {
	var id int64
	err := s.db.QueryRowContext(ctx, qAddVideoAction, a.OrgID, a.Room, int64(a.UID), a.Name, a.Kind, a.Status, millis(a.CreatedAt)).Scan(&id)
	if s.dialect.isForeignKey(err) {
		return 0, notFound("Organization")
	}
	return id, s.fail(err)
}

func (s *Store) FinishVideoAction(ctx context.Context, orgID, id int64, status, errMsg string, at time.Time) error {
	res, err := s.db.ExecContext(ctx, qFinishVideo, orgID, id, status, errMsg, millis(at))
	return s.fail(one(res, err, "Video action"))
}

func (s *Store) ExpireVideoActions(ctx context.Context, before time.Time, errMsg string, at time.Time) (int64, error) {
	n, err := affected(s.db.ExecContext(ctx, qExpireVideo, millis(before), errMsg, millis(at)))
	return n, s.fail(err)
}

func (s *Store) ListVideoActions(ctx context.Context, orgID int64, limit int) ([]roomhub.VideoAction, error) {
	rows, err := s.db.QueryContext(ctx, qListVideoActions, orgID, limit)
	if err != nil {
		return nil, s.fail(err)
	}
	defer rows.Close()
	var out []roomhub.VideoAction
	for rows.Next() {
		var a roomhub.VideoAction
		var uid, c, u int64
		if err := rows.Scan(&a.ID, &a.OrgID, &a.Room, &uid, &a.Name, &a.Kind, &a.Status, &a.Error, &c, &u); err != nil {
			return nil, s.fail(err)
		}
		a.UID, a.CreatedAt, a.UpdatedAt = uint32(uid), fromMillis(c), fromMillis(u)
		out = append(out, a)
	}
	return out, s.fail(rows.Err())
}
