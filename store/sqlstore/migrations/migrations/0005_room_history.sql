-- Room history, moderation settings and room invites.

-- One row per continuous use of a room. At most one live session (ended_at
-- NULL) per room: the partial unique index makes concurrent first joins on
-- several nodes agree on one.
CREATE TABLE room_sessions (
    id         {{autoid}},
    org_id     BIGINT  NOT NULL,
    room       TEXT    NOT NULL,
    started_at BIGINT  NOT NULL,
    ended_at   BIGINT,
    members    INTEGER NOT NULL DEFAULT 0,
    peak       INTEGER NOT NULL DEFAULT 0,
    member_ms  BIGINT  NOT NULL DEFAULT 0,
    FOREIGN KEY (org_id, room) REFERENCES rooms (org_id, name) ON DELETE CASCADE
);

CREATE UNIQUE INDEX room_sessions_live ON room_sessions (org_id, room) WHERE ended_at IS NULL;
CREATE INDEX room_sessions_org_id ON room_sessions (org_id, id);

-- Who is counted into a live session, and since when: a leave adds its
-- time to the session's member_ms.
CREATE TABLE room_attendance (
    session_id BIGINT NOT NULL REFERENCES room_sessions (id) ON DELETE CASCADE,
    uid        BIGINT NOT NULL,
    name       TEXT   NOT NULL,
    joined_at  BIGINT NOT NULL,
    PRIMARY KEY (session_id, uid)
);

-- Peak concurrency per room and UTC day (YYYY-MM-DD).
CREATE TABLE room_daily_peaks (
    org_id BIGINT  NOT NULL,
    room   TEXT    NOT NULL,
    day    TEXT    NOT NULL,
    peak   INTEGER NOT NULL,
    PRIMARY KEY (org_id, room, day)
);

CREATE TABLE room_settings (
    org_id      BIGINT  NOT NULL,
    room        TEXT    NOT NULL,
    locked      INTEGER NOT NULL DEFAULT 0,
    max_members INTEGER NOT NULL DEFAULT 0,
    updated_at  BIGINT  NOT NULL,
    PRIMARY KEY (org_id, room),
    FOREIGN KEY (org_id, room) REFERENCES rooms (org_id, name) ON DELETE CASCADE
);

-- hash is the SHA-256 (hex) of the invite token; the token itself is shown
-- once, to the moderator who created it.
CREATE TABLE room_invites (
    id         {{autoid}},
    org_id     BIGINT  NOT NULL,
    room       TEXT    NOT NULL,
    hash       TEXT    NOT NULL UNIQUE,
    created_by TEXT    NOT NULL,
    created_at BIGINT  NOT NULL,
    expires_at BIGINT  NOT NULL,
    max_uses   INTEGER NOT NULL DEFAULT 0,
    uses       INTEGER NOT NULL DEFAULT 0,
    revoked_at BIGINT,
    FOREIGN KEY (org_id, room) REFERENCES rooms (org_id, name) ON DELETE CASCADE
);

CREATE INDEX room_invites_org_room ON room_invites (org_id, room);

-- A kicked member's browser session may not rejoin the room until "until":
-- a kick is a removal, not an invitation to reload the page.
CREATE TABLE room_bans (
    org_id     BIGINT NOT NULL,
    room       TEXT   NOT NULL,
    session_id TEXT   NOT NULL,
    until      BIGINT NOT NULL,
    PRIMARY KEY (org_id, room, session_id)
);
