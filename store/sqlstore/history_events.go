package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"time"

	"roomhub"
)

// Webhook events are enqueued in the transaction that records the change
// they describe, so an event is queued exactly when the change is made: once
// across the cluster, and never for a change rolled back.

const qOrgSlug = `SELECT slug FROM orgs WHERE id = $1`

// emit enqueues one event of typ about org.
func (s *Store) emit(ctx context.Context, tx *sql.Tx, org int64, typ string, at time.Time, data any) error {
	var slug string
	if err := tx.QueryRowContext(ctx, qOrgSlug, org).Scan(&slug); err != nil {
		return err
	}
	doc := roomhub.WebhookEvent{ID: roomhub.NewWebhookEventID(), Type: typ, CreatedAt: at.UnixMilli(), Org: slug, Data: data}
	b, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	return s.enqueueWebhook(ctx, tx, org, doc.ID, typ, b, at)
}

func (s *Store) emitJoin(ctx context.Context, tx *sql.Tx, uid uint32, a roomhub.Activity, at time.Time) error {
	org, room := a.Session.OrgID, a.Session.Room
	if a.Started {
		if err := s.emit(ctx, tx, org, roomhub.EventRoomStarted, at, map[string]any{
			"room": room, "started_at": a.Session.StartedAt.UnixMilli(),
		}); err != nil {
			return err
		}
	}
	return s.emit(ctx, tx, org, roomhub.EventMemberJoined, at, map[string]any{
		"room": room, "uid": uid, "name": a.Name, "joined_at": a.Joined.UnixMilli(),
	})
}

func (s *Store) emitLeave(ctx context.Context, tx *sql.Tx, uid uint32, reason string, a roomhub.Activity, at time.Time) error {
	org, room := a.Session.OrgID, a.Session.Room
	if err := s.emit(ctx, tx, org, roomhub.EventMemberLeft, at, map[string]any{
		"room": room, "uid": uid, "name": a.Name, "reason": reason,
		"joined_at": a.Joined.UnixMilli(), "left_at": at.UnixMilli(),
	}); err != nil {
		return err
	}
	if !a.Ended {
		return nil
	}
	return s.emit(ctx, tx, org, roomhub.EventRoomFinished, at, map[string]any{
		"room": room, "started_at": a.Session.StartedAt.UnixMilli(), "ended_at": at.UnixMilli(),
		"peak_members": a.Session.Peak, "member_minutes": a.Session.MemberMinutes(),
	})
}
