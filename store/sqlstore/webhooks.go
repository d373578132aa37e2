package sqlstore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"

	"roomhub"
)

var _ roomhub.Webhooks = (*Store)(nil)

// Webhooks. Endpoints and deliveries are always read and changed with their
// organization in the WHERE clause; the queue statements (claim, prune) are
// the exception, since one worker serves every organization, and recording
// an attempt still names the organization of the delivery it finishes.
const (
	webhookEndpointCols = `id, org_id, url, description, events, secret, created_by, created_at`
	webhookDeliveryCols = `id, org_id, endpoint_id, event_id, type, payload, status, attempts, next_attempt_at,
		last_status, last_error, last_duration_ms, created_at, updated_at`

	// qLockOrg serialises endpoint creations of one organization (so the
	// limit holds under concurrency) and finds a missing organization.
	qLockOrg            = `UPDATE orgs SET name = name WHERE id = $1`
	qCountWebhooks      = `SELECT COUNT(*) FROM webhook_endpoints WHERE org_id = $1`
	qInsertWebhook      = `INSERT INTO webhook_endpoints (org_id, url, description, events, secret, created_by, created_at) VALUES ($1, $2, $3, $4, '', $5, $6) RETURNING id`
	qSealWebhook        = `UPDATE webhook_endpoints SET secret = $1 WHERE id = $2 AND org_id = $3`
	qListWebhooks       = `SELECT ` + webhookEndpointCols + ` FROM webhook_endpoints WHERE org_id = $1 ORDER BY id`
	qWebhook            = `SELECT ` + webhookEndpointCols + ` FROM webhook_endpoints WHERE org_id = $1 AND id = $2`
	qDeleteWebhook      = `DELETE FROM webhook_endpoints WHERE org_id = $1 AND id = $2`
	qDeleteWebhookQueue = `DELETE FROM webhook_deliveries WHERE org_id = $1 AND endpoint_id = $2`
	// One statement fans an event out to the subscribed endpoints; the
	// unique (endpoint_id, event_id) makes enqueueing an event twice harmless.
	qEnqueueWebhookFanout = `INSERT INTO webhook_deliveries (org_id, endpoint_id, event_id, type, payload, status, next_attempt_at, created_at, updated_at)
		SELECT org_id, id, $2, $3, $4, 'pending', $5, $5, $5 FROM webhook_endpoints WHERE org_id = $1 AND events LIKE $6
		ON CONFLICT (endpoint_id, event_id) DO NOTHING`
	qEnqueueWebhookOne = `INSERT INTO webhook_deliveries (org_id, endpoint_id, event_id, type, payload, status, next_attempt_at, created_at, updated_at)
		SELECT org_id, id, $3, $4, $5, 'pending', $6, $6, $6 FROM webhook_endpoints WHERE org_id = $1 AND id = $2
		ON CONFLICT (endpoint_id, event_id) DO NOTHING RETURNING ` + webhookDeliveryCols
	qListDeliveries = `SELECT ` + webhookDeliveryCols + ` FROM webhook_deliveries WHERE org_id = $1`
	// The claim of one row is a conditional update, atomic on both databases
	// (SQLite serialises writers; PostgreSQL re-checks the WHERE clause of a
	// row another transaction changed meanwhile), so two workers racing for
	// a row never both get it.
	qDueDeliveries = `SELECT id FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at <= $1 AND claimed_until <= $1
		ORDER BY next_attempt_at, id LIMIT $2`
	qClaimDelivery = `UPDATE webhook_deliveries SET claimed_until = $2, claim_token = $3
		WHERE id = $1 AND status = 'pending' AND next_attempt_at <= $4 AND claimed_until <= $4 RETURNING ` + webhookDeliveryCols
	qClaimEndpoint = `SELECT url, secret FROM webhook_endpoints WHERE org_id = $1 AND id = $2`
	qRecordAttempt = `UPDATE webhook_deliveries SET status = $4, attempts = attempts + 1, next_attempt_at = $5,
		claimed_until = 0, claim_token = '', last_status = $6, last_error = $7, last_duration_ms = $8, updated_at = $9
		WHERE org_id = $1 AND id = $2 AND claim_token = $3 AND status = 'pending'`
	qPruneDeliveries = `DELETE FROM webhook_deliveries WHERE status <> 'pending' AND updated_at < $1`
)

// MaxWebhookErrorLen bounds the stored error of an attempt, in bytes.
const MaxWebhookErrorLen = 500

// webhookEvents stores subscribed types between commas, so that one LIKE
// finds an event's subscribers: ",member_joined,member_left,".
func webhookEvents(types []string) string { return "," + strings.Join(types, ",") + "," }

func parseWebhookEvents(s string) []string {
	out := []string{}
	for _, t := range strings.Split(strings.Trim(s, ","), ",") {
		if t != "" {
			out = append(out, t)
		}
	}
	return out
}

func scanWebhookEndpoint(r scanner) (roomhub.WebhookEndpoint, error) {
	var e roomhub.WebhookEndpoint
	var events string
	var created int64
	err := r.Scan(&e.ID, &e.OrgID, &e.URL, &e.Description, &events, &e.Secret, &e.CreatedBy, &created)
	e.Events, e.CreatedAt = parseWebhookEvents(events), fromMillis(created)
	return e, err
}

func scanWebhookDelivery(r scanner) (roomhub.WebhookDelivery, error) {
	var d roomhub.WebhookDelivery
	var payload string
	var next, dur, created, updated int64
	err := r.Scan(&d.ID, &d.OrgID, &d.EndpointID, &d.EventID, &d.Type, &payload, &d.Status, &d.Attempts, &next,
		&d.LastStatus, &d.LastError, &dur, &created, &updated)
	d.Payload = []byte(payload)
	d.NextAttemptAt, d.LastDuration = fromMillis(next), time.Duration(dur)*time.Millisecond
	d.CreatedAt, d.UpdatedAt = fromMillis(created), fromMillis(updated)
	return d, err
}

// CreateWebhookEndpoint implements roomhub.Webhooks.
func (s *Store) CreateWebhookEndpoint(ctx context.Context, e roomhub.WebhookEndpoint, seal func(id int64) (string, error)) (roomhub.WebhookEndpoint, error) {
	if e.URL == "" || len(e.URL) > roomhub.MaxWebhookURLLen {
		return e, roomhub.Invalid("url", "The URL must be 1 to %d characters.", roomhub.MaxWebhookURLLen)
	}
	if len(e.Events) == 0 {
		return e, roomhub.Invalid("events", "Choose at least one event.")
	}
	for _, t := range e.Events {
		if !roomhub.ValidWebhookEvent(t) {
			return e, roomhub.Invalid("events", "Unknown event type %q.", t)
		}
	}
	if e.CreatedAt.IsZero() {
		e.CreatedAt = s.now()
	}
	e.CreatedAt = fromMillis(millis(e.CreatedAt))
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, qLockOrg, e.OrgID)
		if err := one(res, err, "Organization"); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRowContext(ctx, qCountWebhooks, e.OrgID).Scan(&n); err != nil {
			return err
		}
		if n >= roomhub.MaxWebhookEndpoints {
			return roomhub.Errorf(roomhub.ECONFLICT, "An organization has at most %d webhook endpoints; delete one first.", roomhub.MaxWebhookEndpoints)
		}
		err = tx.QueryRowContext(ctx, qInsertWebhook, e.OrgID, e.URL, e.Description, webhookEvents(e.Events), e.CreatedBy, millis(e.CreatedAt)).Scan(&e.ID)
		if err != nil {
			return err
		}
		sealed, err := seal(e.ID)
		if err != nil {
			return err
		}
		if sealed == "" {
			return errors.New("webhook secret sealed to nothing")
		}
		e.Secret = sealed
		_, err = tx.ExecContext(ctx, qSealWebhook, sealed, e.ID, e.OrgID)
		return err
	})
	if err != nil {
		return roomhub.WebhookEndpoint{}, err
	}
	return e, nil
}

// ListWebhookEndpoints implements roomhub.Webhooks.
func (s *Store) ListWebhookEndpoints(ctx context.Context, orgID int64) ([]roomhub.WebhookEndpoint, error) {
	rows, err := s.db.QueryContext(ctx, qListWebhooks, orgID)
	if err != nil {
		return nil, s.fail(err)
	}
	defer rows.Close()
	out := []roomhub.WebhookEndpoint{}
	for rows.Next() {
		e, err := scanWebhookEndpoint(rows)
		if err != nil {
			return nil, s.fail(err)
		}
		out = append(out, e)
	}
	return out, s.fail(rows.Err())
}

// WebhookEndpoint implements roomhub.Webhooks: ENOTFOUND unless the endpoint
// is org's.
func (s *Store) WebhookEndpoint(ctx context.Context, orgID, id int64) (roomhub.WebhookEndpoint, error) {
	e, err := scanWebhookEndpoint(s.db.QueryRowContext(ctx, qWebhook, orgID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return roomhub.WebhookEndpoint{}, notFound("Webhook endpoint")
	}
	return e, s.fail(err)
}

// DeleteWebhookEndpoint implements roomhub.Webhooks.
func (s *Store) DeleteWebhookEndpoint(ctx context.Context, orgID, id int64) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, qDeleteWebhookQueue, orgID, id); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, qDeleteWebhook, orgID, id)
		return one(res, err, "Webhook endpoint")
	})
}

// enqueueWebhook records one pending delivery per active endpoint of org
// subscribed to typ, inside tx. payload is the full JSON event document.
// An event already queued for an endpoint (same event id) is not queued
// twice.
func (s *Store) enqueueWebhook(ctx context.Context, tx *sql.Tx, org int64, eventID, typ string, payload []byte, at time.Time) error {
	if !roomhub.ValidWebhookEvent(typ) {
		return roomhub.Invalid("type", "Unknown webhook event type %q.", typ)
	}
	_, err := tx.ExecContext(ctx, qEnqueueWebhookFanout, org, eventID, typ, string(payload), millis(at), "%,"+typ+",%")
	return err
}

// EnqueueWebhook implements roomhub.Webhooks: enqueueWebhook in a
// transaction of its own.
func (s *Store) EnqueueWebhook(ctx context.Context, org int64, eventID, typ string, payload []byte, at time.Time) error {
	return s.inTx(ctx, func(tx *sql.Tx) error { return s.enqueueWebhook(ctx, tx, org, eventID, typ, payload, at) })
}

// EnqueueWebhookTo implements roomhub.Webhooks.
func (s *Store) EnqueueWebhookTo(ctx context.Context, org, endpointID int64, eventID, typ string, payload []byte, at time.Time) (roomhub.WebhookDelivery, error) {
	d, err := scanWebhookDelivery(s.db.QueryRowContext(ctx, qEnqueueWebhookOne, org, endpointID, eventID, typ, string(payload), millis(at)))
	if errors.Is(err, sql.ErrNoRows) {
		// No endpoint of org with that id (or the event was queued already).
		return roomhub.WebhookDelivery{}, notFound("Webhook endpoint")
	}
	return d, s.fail(err)
}

// ListWebhookDeliveries implements roomhub.Webhooks.
func (s *Store) ListWebhookDeliveries(ctx context.Context, org int64, f roomhub.WebhookDeliveryFilter) ([]roomhub.WebhookDelivery, error) {
	if f.Limit <= 0 || f.Limit > roomhub.MaxWebhookDeliveryPage {
		f.Limit = roomhub.MaxWebhookDeliveryPage
	}
	q, args := qListDeliveries, []any{org}
	if f.EndpointID > 0 {
		args = append(args, f.EndpointID)
		q += ` AND endpoint_id = $2`
	}
	if f.Before > 0 {
		args = append(args, f.Before)
		q += ` AND id < $` + strconv.Itoa(len(args))
	}
	args = append(args, f.Limit)
	q += ` ORDER BY id DESC LIMIT $` + strconv.Itoa(len(args))
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, s.fail(err)
	}
	defer rows.Close()
	out := []roomhub.WebhookDelivery{}
	for rows.Next() {
		d, err := scanWebhookDelivery(rows)
		if err != nil {
			return nil, s.fail(err)
		}
		out = append(out, d)
	}
	return out, s.fail(rows.Err())
}

// ClaimWebhookDeliveries implements roomhub.Webhooks. Rows another worker
// claimed between the SELECT and the UPDATE are skipped, not waited for.
func (s *Store) ClaimWebhookDeliveries(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]roomhub.WebhookClaim, error) {
	if limit <= 0 {
		return nil, nil
	}
	rows, err := s.db.QueryContext(ctx, qDueDeliveries, millis(now), limit)
	if err != nil {
		return nil, s.fail(err)
	}
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, s.fail(err)
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, s.fail(err)
	}
	var out []roomhub.WebhookClaim
	for _, id := range ids {
		c := roomhub.WebhookClaim{Token: claimToken()}
		d, err := scanWebhookDelivery(s.db.QueryRowContext(ctx, qClaimDelivery, id, millis(now.Add(lease)), c.Token, millis(now)))
		if errors.Is(err, sql.ErrNoRows) {
			continue // another worker was faster
		}
		if err != nil {
			return out, s.fail(err)
		}
		c.WebhookDelivery = d
		err = s.db.QueryRowContext(ctx, qClaimEndpoint, d.OrgID, d.EndpointID).Scan(&c.URL, &c.Secret)
		if errors.Is(err, sql.ErrNoRows) {
			continue // the endpoint was deleted meanwhile, with its deliveries
		}
		if err != nil {
			return out, s.fail(err)
		}
		out = append(out, c)
	}
	return out, nil
}

func claimToken() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// RecordWebhookAttempt implements roomhub.Webhooks.
func (s *Store) RecordWebhookAttempt(ctx context.Context, a roomhub.WebhookAttempt) (bool, error) {
	status, next := roomhub.DeliveryFailed, a.At
	switch {
	case a.Delivered:
		status = roomhub.DeliveryDelivered
	case !a.RetryAt.IsZero():
		status, next = roomhub.DeliveryPending, a.RetryAt
	}
	msg := a.Error
	if len(msg) > MaxWebhookErrorLen {
		msg = strings.ToValidUTF8(msg[:MaxWebhookErrorLen], "")
	}
	n, err := affected(s.db.ExecContext(ctx, qRecordAttempt, a.OrgID, a.ID, a.Token, status, millis(next),
		a.Status, msg, a.Duration.Milliseconds(), millis(a.At)))
	return n > 0, s.fail(err)
}

// PruneWebhookDeliveries implements roomhub.Webhooks.
func (s *Store) PruneWebhookDeliveries(ctx context.Context, before time.Time) (int, error) {
	n, err := affected(s.db.ExecContext(ctx, qPruneDeliveries, millis(before)))
	return int(n), s.fail(err)
}
