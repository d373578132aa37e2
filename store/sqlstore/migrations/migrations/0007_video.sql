-- Agora's side of the rooms: REST and Notifications settings per
-- organization, who is in each room's video channel, notification ids seen
-- (deduplication), and removals asked of Agora. Unix milliseconds.

-- customer_secret and ncs_secret are sealed with APP_MASTER_KEY, each bound
-- to its column of the row ("video_settings.customer_secret:<org_id>").
CREATE TABLE video_settings (
    org_id           BIGINT  PRIMARY KEY REFERENCES orgs (id) ON DELETE CASCADE,
    customer_id      TEXT    NOT NULL,
    customer_secret  TEXT    NOT NULL,
    ncs_secret       TEXT    NOT NULL,
    remove_intruders INTEGER NOT NULL DEFAULT 0,
    updated_at       BIGINT  NOT NULL
);

-- One row per (room, uid) ever seen in the video; client_seq is the latest
-- applied event's, so an older event arriving late changes nothing.
CREATE TABLE video_members (
    org_id     BIGINT  NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    room       TEXT    NOT NULL,
    uid        BIGINT  NOT NULL,
    in_video   INTEGER NOT NULL,
    client_seq BIGINT  NOT NULL,
    updated_at BIGINT  NOT NULL,
    PRIMARY KEY (org_id, room, uid)
);

CREATE TABLE video_notices (
    org_id      BIGINT NOT NULL,
    notice_id   TEXT   NOT NULL,
    received_at BIGINT NOT NULL,
    PRIMARY KEY (org_id, notice_id)
);

CREATE INDEX video_notices_received ON video_notices (received_at);

CREATE TABLE video_actions (
    id         {{autoid}},
    org_id     BIGINT  NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    room       TEXT    NOT NULL,
    uid        BIGINT  NOT NULL,
    name       TEXT    NOT NULL,
    kind       TEXT    NOT NULL,
    status     TEXT    NOT NULL,
    error      TEXT    NOT NULL,
    created_at BIGINT  NOT NULL,
    updated_at BIGINT  NOT NULL
);

CREATE INDEX video_actions_org ON video_actions (org_id, id);
