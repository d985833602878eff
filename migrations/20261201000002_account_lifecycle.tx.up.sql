-- Account lifecycle: single-use mail tokens and the mail outbox.

-- When the account's address was proven (POST /auth/verify, or a password reset through a
-- mailed link). Kept apart from status: a suspended account can verify and stay suspended.
ALTER TABLE users ADD COLUMN email_verified_at timestamptz;

-- Mail tokens are stored only as the SHA-256 of their 32 random bytes: a copy of this table
-- lets nobody verify an account or reset a password. Single use (used_at), with an expiry.
-- user_id has no foreign key on purpose: one would forbid `TRUNCATE users` (the bench's import
-- scenario and the counter tests use it). A token whose user is gone is dead anyway (verify and
-- reset join users and find no row) and is pruned once expired.
CREATE TABLE mail_tokens (
    token_hash bytea       PRIMARY KEY CHECK (length(token_hash) = 32),
    user_id    uuid        NOT NULL,
    kind       text        NOT NULL CHECK (kind IN ('verify', 'reset')),
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    expires_at timestamptz NOT NULL,
    used_at    timestamptz
);

-- "Every other reset token of this user dies" looks them up by user.
CREATE INDEX mail_tokens_user_kind_idx ON mail_tokens (user_id, kind) WHERE used_at IS NULL;
-- Pruning of expired tokens.
CREATE INDEX mail_tokens_expires_at_idx ON mail_tokens (expires_at);

-- The outbox: a row is written in the same transaction as the change that causes it (register)
-- or as the request (resend, forgot), and the delivery worker sends it. A row holds no token:
-- the worker mints the token when it sends the message, so a raw token never rests in the
-- database, and its expiry counts from the moment it is sent. A row names an address, not an
-- account: resend and forgot write the same row whether or not an account exists (no timing
-- difference), and the worker decides whether anything is sent.
CREATE TABLE mail_outbox (
    id              bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind            text        NOT NULL CHECK (kind IN ('verify', 'reset')),
    recipient       text        NOT NULL,
    status          text        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    -- A claimed row's next_attempt_at is pushed past its lease, so no other worker takes it
    -- while it is being sent; a worker that dies mid-send leaves it to be retried.
    next_attempt_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    attempts        integer     NOT NULL DEFAULT 0,
    sent_at         timestamptz,
    last_error      text
);

-- The worker's claim query walks this index only: due, pending rows.
CREATE INDEX mail_outbox_due_idx ON mail_outbox (next_attempt_at) WHERE status = 'pending';
