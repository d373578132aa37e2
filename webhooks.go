package roomhub

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"time"
)

// Webhook event types. The first four are what an endpoint subscribes to;
// EventTest is sent only by the dashboard's "send test event" button, to the
// one endpoint it was pressed for. docs/webhooks.md describes each one's data.
const (
	EventRoomStarted  = "room_started"  // data: room, started_at
	EventRoomFinished = "room_finished" // data: room, started_at, ended_at, peak_members, member_minutes
	EventMemberJoined = "member_joined" // data: room, uid, name, joined_at
	EventMemberLeft   = "member_left"   // data: room, uid, name, reason, joined_at, left_at
	EventTest         = "test"          // data: message
)

// WebhookEventTypes are the event types an endpoint may subscribe to, in
// the order the dashboard lists them.
var WebhookEventTypes = []string{EventRoomStarted, EventRoomFinished, EventMemberJoined, EventMemberLeft, EventVideoIntruder}

// ValidWebhookEvent reports whether typ is a subscribable event type.
func ValidWebhookEvent(typ string) bool {
	for _, t := range WebhookEventTypes {
		if t == typ {
			return true
		}
	}
	return false
}

// Limits of an organization's webhooks.
const (
	MaxWebhookEndpoints      = 10   // endpoints per organization
	MaxWebhookURLLen         = 2048 // bytes of an endpoint URL
	MaxWebhookDescriptionLen = 200  // characters of an endpoint's description
	MaxWebhookDeliveryPage   = 100  // deliveries in one page of the log
)

// WebhookEvent is the JSON document POSTed to an endpoint: the envelope of
// docs/webhooks.md. Data is one of the documents the event types describe.
type WebhookEvent struct {
	ID        string `json:"id"`         // "evt_" and 32 hex digits; the same in every retry
	Type      string `json:"type"`       // one of the Event* constants
	CreatedAt int64  `json:"created_at"` // unix milliseconds
	Org       string `json:"org"`        // the organization's slug
	Data      any    `json:"data"`
}

// NewWebhookEventID returns a fresh event id: "evt_" and 128 random bits in
// hex.
func NewWebhookEventID() string {
	b := make([]byte, 16)
	rand.Read(b) // never fails: crypto/rand crashes the program instead
	return "evt_" + hex.EncodeToString(b)
}

// WebhookEndpoint is a URL of an organization that receives its events.
type WebhookEndpoint struct {
	ID          int64
	OrgID       int64
	URL         string
	Description string
	Events      []string // subscribed types, from WebhookEventTypes
	// Secret is the signing secret, sealed with APP_MASTER_KEY bound to the
	// row (see webhook.SecretAAD). The clear secret is shown once, when the
	// endpoint is created.
	Secret    string
	CreatedBy string // actor name, kept after the user is gone
	CreatedAt time.Time
}

// Subscribed reports whether the endpoint receives events of typ.
func (e WebhookEndpoint) Subscribed(typ string) bool {
	for _, t := range e.Events {
		if t == typ {
			return true
		}
	}
	return false
}

// Delivery states.
const (
	DeliveryPending   = "pending"   // waiting for its first or next attempt
	DeliveryDelivered = "delivered" // the endpoint answered 2xx
	DeliveryFailed    = "failed"    // every attempt failed; no more are made
)

// WebhookDelivery is one event for one endpoint, with the outcome of its
// latest attempt: the delivery log.
type WebhookDelivery struct {
	ID            int64
	OrgID         int64
	EndpointID    int64
	EventID       string
	Type          string
	Payload       []byte // the JSON document sent, byte for byte
	Status        string // Delivery*
	Attempts      int
	NextAttemptAt time.Time // when pending: not before
	LastStatus    int       // HTTP status of the latest attempt; 0 if none answered
	LastError     string    // why the latest attempt failed; "" if it did not
	LastDuration  time.Duration
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// WebhookClaim is a delivery a worker holds the lease of, with what it needs
// to send it.
type WebhookClaim struct {
	WebhookDelivery
	URL    string
	Secret string // sealed
	// Token proves the lease when the outcome is recorded: a worker whose
	// lease expired and was taken over records nothing.
	Token string
}

// WebhookAttempt is the outcome of one attempt at a claimed delivery.
type WebhookAttempt struct {
	OrgID    int64
	ID       int64
	Token    string
	At       time.Time
	Status   int // HTTP status, 0 if none
	Error    string
	Duration time.Duration
	// Delivered ends the delivery as delivered; otherwise RetryAt, if not
	// zero, schedules the next attempt, and a zero RetryAt ends it as failed.
	Delivered bool
	RetryAt   time.Time
}

// WebhookDeliveryFilter selects deliveries of one organization, newest first.
type WebhookDeliveryFilter struct {
	EndpointID int64 // 0: every endpoint
	Before     int64 // id cursor, if > 0
	Limit      int   // at most MaxWebhookDeliveryPage
}

// Webhooks is the durable state of organizations' webhooks. Every method
// that touches an organization's endpoints or deliveries takes the
// organization and filters by it; only the delivery queue (claim, record,
// prune) works across organizations, as one worker serves them all.
type Webhooks interface {
	// CreateWebhookEndpoint stores e in e.OrgID. seal returns the sealed
	// signing secret for the new row's id; it runs inside the insert's
	// transaction. More than MaxWebhookEndpoints is ECONFLICT.
	CreateWebhookEndpoint(ctx context.Context, e WebhookEndpoint, seal func(id int64) (string, error)) (WebhookEndpoint, error)
	ListWebhookEndpoints(ctx context.Context, orgID int64) ([]WebhookEndpoint, error)
	WebhookEndpoint(ctx context.Context, orgID, id int64) (WebhookEndpoint, error)
	// DeleteWebhookEndpoint deletes the endpoint and its deliveries.
	DeleteWebhookEndpoint(ctx context.Context, orgID, id int64) error

	// EnqueueWebhook records a pending delivery of the event for every
	// endpoint of org subscribed to typ. payload is the whole JSON document.
	EnqueueWebhook(ctx context.Context, orgID int64, eventID, typ string, payload []byte, at time.Time) error
	// EnqueueWebhookTo records a pending delivery of the event for one
	// endpoint of org, whatever it subscribes to (the test event).
	EnqueueWebhookTo(ctx context.Context, orgID, endpointID int64, eventID, typ string, payload []byte, at time.Time) (WebhookDelivery, error)
	ListWebhookDeliveries(ctx context.Context, orgID int64, f WebhookDeliveryFilter) ([]WebhookDelivery, error)

	// ClaimWebhookDeliveries leases up to limit pending deliveries due at now
	// for lease; a delivery is held by one claim at a time, cluster-wide.
	ClaimWebhookDeliveries(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]WebhookClaim, error)
	// RecordWebhookAttempt stores an attempt's outcome and releases the
	// lease; false if the lease was no longer the caller's.
	RecordWebhookAttempt(ctx context.Context, a WebhookAttempt) (bool, error)
	// PruneWebhookDeliveries deletes delivered and failed deliveries last
	// updated before before.
	PruneWebhookDeliveries(ctx context.Context, before time.Time) (int, error)
}

// EventVideoIntruder is sent when a uid is in a room's Agora channel with
// no member behind it (a leaked or forged token). data: room, uid,
// removing (whether Roomhub removes it), detected_at.
const EventVideoIntruder = "video_intruder"
