-- Initial schema. Portable between SQLite and PostgreSQL 15: times are unix
-- milliseconds in BIGINT, booleans INTEGER 0/1, JSON documents TEXT, and
-- the autoid placeholder stands for the dialect's auto-increment primary key.

CREATE TABLE orgs (
    id         {{autoid}},
    slug       TEXT   NOT NULL UNIQUE,
    name       TEXT   NOT NULL,
    created_at BIGINT NOT NULL
);

-- A room row appears with its first member and is kept, so that members can
-- only exist in a room of their own organization.
CREATE TABLE rooms (
    id         {{autoid}},
    org_id     BIGINT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    name       TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (org_id, name)
);

CREATE TABLE members (
    org_id     BIGINT NOT NULL,
    room       TEXT   NOT NULL,
    uid        BIGINT NOT NULL,
    name       TEXT   NOT NULL,
    session_id TEXT   NOT NULL,
    joined_at  BIGINT NOT NULL,
    PRIMARY KEY (org_id, room, uid),
    FOREIGN KEY (org_id, room) REFERENCES rooms (org_id, name) ON DELETE CASCADE
);

-- id is the SHA-256 (hex) of the cookie value; data is a JSON document
-- holding the grants.
CREATE TABLE sessions (
    id         TEXT   PRIMARY KEY,
    data       TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    last_seen  BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE INDEX sessions_expires_at ON sessions (expires_at);

-- org_id carries no foreign key on purpose: recording an action must not
-- fail, and the trail must outlive the organization it describes.
CREATE TABLE audit_log (
    id          {{autoid}},
    org_id      BIGINT  NOT NULL,
    at          BIGINT  NOT NULL,
    actor_id    TEXT    NOT NULL,
    actor_name  TEXT    NOT NULL,
    action      TEXT    NOT NULL,
    object_type TEXT    NOT NULL,
    object_id   TEXT    NOT NULL,
    description TEXT    NOT NULL,
    ip          TEXT    NOT NULL,
    user_agent  TEXT    NOT NULL,
    path        TEXT    NOT NULL,
    success     INTEGER NOT NULL,
    extra       TEXT
);

CREATE INDEX audit_log_org_at ON audit_log (org_id, at);
