-- Sessions: one signed-in device each, with rotating refresh tokens. Postgres is the record of
-- every revocation; Redis only caches which sessions are live (models/doc.go, "Sessions").

CREATE TABLE sessions (
    id            uuid        PRIMARY KEY,
    -- No foreign key, as mail_tokens: one would forbid `TRUNCATE users`. A session whose user is
    -- gone is refused (refresh joins users) and pruned once it has ended.
    user_id       uuid        NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    last_used_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    -- created_at + SESSION_MAX_AGE: no refresh carries the session past it.
    expires_at    timestamptz NOT NULL,
    ip            text        NOT NULL DEFAULT '',
    user_agent    text        NOT NULL DEFAULT '' CHECK (octet_length(user_agent) <= 256),
    amr           text[]      NOT NULL DEFAULT '{pwd}',
    revoked_at    timestamptz,
    revoke_reason text
);

-- The device list and "every session of this user": live sessions by user, most recent first.
CREATE INDEX sessions_user_live_idx ON sessions (user_id, last_used_at DESC) WHERE revoked_at IS NULL;
-- Reconciliation after a Redis failover or restart reads the recent revocations.
CREATE INDEX sessions_revoked_at_idx ON sessions (revoked_at) WHERE revoked_at IS NOT NULL;
-- Pruning of ended sessions.
CREATE INDEX sessions_expires_at_idx ON sessions (expires_at);

-- Every refresh token a session was given, stored only as the SHA-256 of its 32 random bytes.
-- A spent one keeps, sealed under a key derived from the token itself (which this table does
-- not hold), the pair that spending it produced: a retry within REFRESH_REUSE_INTERVAL gets that
-- same pair back, and a copy of this table opens none of them.
CREATE TABLE refresh_tokens (
    token_hash bytea       PRIMARY KEY CHECK (length(token_hash) = 32),
    session_id uuid        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    spent_at   timestamptz,
    successor  bytea
);
CREATE INDEX refresh_tokens_session_idx ON refresh_tokens (session_id);

-- session_epoch is bumped by every revocation of all of a user's sessions (logout-all, reset,
-- suspension, …): a login that read the row before such a revocation and finishes after it
-- sees the change and opens nothing. tokens_revoked_at is when the user's access tokens were
-- last all refused while their sessions stayed (a demotion), for the same reconciliation.
ALTER TABLE users ADD COLUMN session_epoch bigint NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN tokens_revoked_at timestamptz;
CREATE INDEX users_tokens_revoked_at_idx ON users (tokens_revoked_at) WHERE tokens_revoked_at IS NOT NULL;
