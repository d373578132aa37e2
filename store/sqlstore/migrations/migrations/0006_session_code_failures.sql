-- Wrong second-factor codes entered in one pending sign-in. After
-- server.MaxPendingCodeFailures the pending session is deleted, so whoever
-- holds it must pass the (rate-limited, locked-out) password step again.
-- The count lives and dies with its session: no row is left behind.
ALTER TABLE user_sessions ADD COLUMN code_failures INTEGER NOT NULL DEFAULT 0;
