package sqlstore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"time"

	"roomhub"
)

// Webhook events are enqueued in the transaction that records the change
// they describe, so an event is queued exactly when the change is made: once
// across the cluster, and never for a change rolled back.

// eventDoc is the webhook envelope documented in docs/webhooks.md.
type eventDoc struct {
	ID        string `json:"id"`
	Type      string `json:"type"`
	CreatedAt int64  `json:"created_at"`
	Org       string `json:"org"`
	Data      any    `json:"data"`
}

func newEventID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return "evt_" + hex.EncodeToString(b)
}

const qOrgSlug = `SELECT slug FROM orgs WHERE id = $1`

// emit enqueues one event of typ about org.
func (s *Store) emit(ctx context.Context, tx *sql.Tx, org int64, typ string, at time.Time, data any) error {
	var slug string
	if err := tx.QueryRowContext(ctx, qOrgSlug, org).Scan(&slug); err != nil {
		return err
	}
	doc := eventDoc{ID: newEventID(), Type: typ, CreatedAt: at.UnixMilli(), Org: slug, Data: data}
	b, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	_ = b
	return nil // PENDING: s.enqueueWebhook(ctx, tx, org, doc.ID, typ, b, at)
}

func (s *Store) emitJoin(ctx context.Context, tx *sql.Tx, uid uint32, a roomhub.Activity, at time.Time) error {
	org, room := a.Session.OrgID, a.Session.Room
	if a.Started {
		if err := s.emit(ctx, tx, org, "room_started", at, map[string]any{
			"room": room, "started_at": a.Session.StartedAt.UnixMilli(),
		}); err != nil {
			return err
		}
	}
	return s.emit(ctx, tx, org, "member_joined", at, map[string]any{
		"room": room, "uid": uid, "name": a.Name, "joined_at": a.Joined.UnixMilli(),
	})
}

func (s *Store) emitLeave(ctx context.Context, tx *sql.Tx, uid uint32, reason string, a roomhub.Activity, at time.Time) error {
	org, room := a.Session.OrgID, a.Session.Room
	if err := s.emit(ctx, tx, org, "member_left", at, map[string]any{
		"room": room, "uid": uid, "name": a.Name, "reason": reason,
		"joined_at": a.Joined.UnixMilli(), "left_at": at.UnixMilli(),
	}); err != nil {
		return err
	}
	if !a.Ended {
		return nil
	}
	return s.emit(ctx, tx, org, "room_finished", at, map[string]any{
		"room": room, "started_at": a.Session.StartedAt.UnixMilli(), "ended_at": at.UnixMilli(),
		"peak_members": a.Session.Peak, "member_minutes": a.Session.MemberMinutes(),
	})
}
