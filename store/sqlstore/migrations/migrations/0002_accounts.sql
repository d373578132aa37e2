-- Dashboard accounts: users and their organizations, second factors,
-- one-time links, sessions, sign-in failures, organization settings and
-- API keys. Same conventions as 0001: unix milliseconds, 0 for "never",
-- booleans as INTEGER 0/1.

CREATE TABLE users (
    id             {{autoid}},
    email          TEXT    NOT NULL UNIQUE,
    name           TEXT    NOT NULL,
    password_hash  TEXT    NOT NULL,
    totp_secret    TEXT    NOT NULL,
    totp_last_step BIGINT  NOT NULL,
    created_at     BIGINT  NOT NULL
);

CREATE TABLE memberships (
    org_id     BIGINT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role       TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (org_id, user_id)
);

CREATE INDEX memberships_user ON memberships (user_id);

CREATE TABLE backup_codes (
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    hash    TEXT   NOT NULL,
    used_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, hash)
);

-- Invitations and password resets; only the token's SHA-256 is kept.
CREATE TABLE user_tokens (
    id         {{autoid}},
    kind       TEXT   NOT NULL,
    org_id     BIGINT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    email      TEXT   NOT NULL,
    role       TEXT   NOT NULL,
    user_id    BIGINT NOT NULL,
    hash       TEXT   NOT NULL UNIQUE,
    created_by BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT NOT NULL
);

CREATE INDEX user_tokens_org ON user_tokens (org_id, kind);

-- id is the SHA-256 (hex) of the cookie value.
CREATE TABLE user_sessions (
    id         TEXT    PRIMARY KEY,
    user_id    BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    verified   INTEGER NOT NULL,
    created_at BIGINT  NOT NULL,
    last_seen  BIGINT  NOT NULL,
    expires_at BIGINT  NOT NULL,
    ip         TEXT    NOT NULL,
    user_agent TEXT    NOT NULL
);

CREATE INDEX user_sessions_user ON user_sessions (user_id);
CREATE INDEX user_sessions_expires_at ON user_sessions (expires_at);

CREATE TABLE login_attempts (
    email        TEXT    NOT NULL,
    ip           TEXT    NOT NULL,
    failures     INTEGER NOT NULL,
    locked_until BIGINT  NOT NULL,
    updated_at   BIGINT  NOT NULL,
    PRIMARY KEY (email, ip)
);

-- agora_certificate is sealed with APP_MASTER_KEY (never stored in clear).
CREATE TABLE org_settings (
    org_id              BIGINT  PRIMARY KEY REFERENCES orgs (id) ON DELETE CASCADE,
    agora_app_id        TEXT    NOT NULL,
    agora_certificate   TEXT    NOT NULL,
    sso_domain          TEXT    NOT NULL,
    sso_domain_verified INTEGER NOT NULL,
    sso_auto_provision  INTEGER NOT NULL,
    updated_at          BIGINT  NOT NULL
);

CREATE INDEX org_settings_domain ON org_settings (sso_domain);

-- Only an HMAC-SHA256 of each key (under API_KEY_SECRET) is kept.
CREATE TABLE api_keys (
    id         {{autoid}},
    org_id     BIGINT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    name       TEXT   NOT NULL,
    prefix     TEXT   NOT NULL,
    hash       TEXT   NOT NULL UNIQUE,
    created_by BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    last_used  BIGINT NOT NULL,
    revoked_at BIGINT NOT NULL
);

CREATE INDEX api_keys_org ON api_keys (org_id);
CREATE INDEX audit_log_org_action ON audit_log (org_id, action);
