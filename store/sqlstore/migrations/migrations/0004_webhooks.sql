-- Per-organization webhooks: endpoints and their delivery queue (and log).
-- Same conventions as 0001: unix milliseconds, 0 for "never".

-- secret is the signing secret sealed with APP_MASTER_KEY, bound to the
-- row ("webhook_endpoints.secret:<id>"); it is shown once, at creation.
-- events lists the subscribed event types between commas, like
-- ",member_joined,member_left,", so one LIKE finds the subscribers of a type.
CREATE TABLE webhook_endpoints (
    id          {{autoid}},
    org_id      BIGINT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    url         TEXT   NOT NULL,
    description TEXT   NOT NULL,
    events      TEXT   NOT NULL,
    secret      TEXT   NOT NULL,
    created_by  TEXT   NOT NULL,
    created_at  BIGINT NOT NULL
);

CREATE INDEX webhook_endpoints_org ON webhook_endpoints (org_id, id);

-- One row per (event, endpoint). status is pending, delivered or failed.
-- A row is written in the transaction that records the change it describes.
-- A worker claims a due pending row by setting claimed_until (a lease) and
-- claim_token; only the holder of the token records the attempt's outcome,
-- so with workers on several nodes each attempt is made once. The last_*
-- columns describe the latest attempt, for the delivery log.
CREATE TABLE webhook_deliveries (
    id               {{autoid}},
    org_id           BIGINT  NOT NULL,
    endpoint_id      BIGINT  NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_id         TEXT    NOT NULL,
    type             TEXT    NOT NULL,
    payload          TEXT    NOT NULL,
    status           TEXT    NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  BIGINT  NOT NULL,
    claimed_until    BIGINT  NOT NULL DEFAULT 0,
    claim_token      TEXT    NOT NULL DEFAULT '',
    last_status      INTEGER NOT NULL DEFAULT 0,
    last_error       TEXT    NOT NULL DEFAULT '',
    last_duration_ms BIGINT  NOT NULL DEFAULT 0,
    created_at       BIGINT  NOT NULL,
    updated_at       BIGINT  NOT NULL,
    UNIQUE (endpoint_id, event_id)
);

CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
CREATE INDEX webhook_deliveries_org ON webhook_deliveries (org_id, id);
