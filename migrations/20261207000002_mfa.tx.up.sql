-- Second factor: a TOTP secret per user (encrypted), recovery codes (hashed), and the pending
-- second step of logins (mfa_token, hashed).

-- Read by login's session decision and by GET /auth/me with the rest of the row.
ALTER TABLE users ADD COLUMN mfa_enabled boolean NOT NULL DEFAULT false;

-- secret is AES-256-GCM under MFA_ENCRYPTION_KEY (key_id names which key), with the user id as
-- associated data: a row copied onto another user does not open. last_step is the last
-- accepted TOTP time step: a code is accepted only for a later step (no replay), set with one
-- conditional UPDATE, so two instances cannot both accept one code.
CREATE TABLE mfa_factors (
    user_id      uuid        PRIMARY KEY,
    secret       bytea       NOT NULL,
    key_id       text        NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    confirmed_at timestamptz,
    last_step    bigint      NOT NULL DEFAULT 0
);

-- Recovery codes: HMAC-SHA256 under a key derived from MFA_ENCRYPTION_KEY (key_id), single use.
CREATE TABLE mfa_recovery_codes (
    user_id   uuid        NOT NULL,
    code_hash bytea       NOT NULL CHECK (length(code_hash) = 32),
    key_id    text        NOT NULL,
    used_at   timestamptz,
    PRIMARY KEY (user_id, code_hash)
);

-- The second step of a login: the mfa_token as SHA-256, what the password step proved (the hash
-- it matched and the session epoch it read, checked again when the session opens), and the
-- wrong codes so far (the fifth kills it).
CREATE TABLE mfa_challenges (
    token_hash    bytea       PRIMARY KEY CHECK (length(token_hash) = 32),
    user_id       uuid        NOT NULL,
    email         text        NOT NULL,
    verified_hash text        NOT NULL,
    session_epoch bigint      NOT NULL,
    ip            text        NOT NULL DEFAULT '',
    user_agent    text        NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    expires_at    timestamptz NOT NULL,
    failures      integer     NOT NULL DEFAULT 0,
    used_at       timestamptz
);
CREATE INDEX mfa_challenges_expires_at_idx ON mfa_challenges (expires_at);
