-- Audit trail: one row per security event (models/event.go), append-only, and the outbox of
-- their webhook deliveries.
--
-- events is partitioned by month on `at` (UTC months, partitions named events_pYYYYMM): an
-- insert touches one small partition's indexes, a keyset read walks (at, id) or (user_id, at,
-- id) or (type, at, id) backwards from its cursor and stops after a page, and retention drops
-- whole partitions (plus bounded batches inside the one that straddles the cutoff), never one
-- big DELETE. There is no DEFAULT partition: one that held rows of a month would make creating
-- that month's partition fail. Partitions are created ahead of time instead, here and by every
-- replica's maintenance (events_ensure_partitions, hourly, three months ahead); an insert for
-- a month with no partition fails, which is why the service makes them months in advance.
CREATE TABLE events (
    id         uuid        NOT NULL,
    type       text        NOT NULL,
    at         timestamptz NOT NULL,
    -- No foreign keys, as sessions: events outlive accounts (user.deleted keeps the id).
    user_id    uuid,
    actor_id   uuid,
    session_id uuid,
    ip         text        NOT NULL DEFAULT '',
    user_agent text        NOT NULL DEFAULT '' CHECK (octet_length(user_agent) <= 256),
    details    jsonb       NOT NULL DEFAULT '{}',
    PRIMARY KEY (at, id)
) PARTITION BY RANGE (at);

-- GET /auth/events and /users/{id}/events: a user's events, newest first.
CREATE INDEX events_user_at_idx ON events (user_id, at DESC, id DESC) WHERE user_id IS NOT NULL;
-- GET /events?type=: one type, newest first. GET /events alone walks the primary key backwards.
CREATE INDEX events_type_at_idx ON events (type, at DESC, id DESC);

-- events_ensure_partitions creates the monthly partitions of `months` months from the month of
-- start (UTC) that do not exist yet, and returns how many it created.
CREATE FUNCTION events_ensure_partitions(start timestamptz, months int) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
    m    timestamp := date_trunc('month', start AT TIME ZONE 'UTC');
    name text;
    made int := 0;
BEGIN
    FOR i IN 1..months LOOP
        name := 'events_p' || to_char(m, 'YYYYMM');
        IF to_regclass(name) IS NULL THEN
            EXECUTE format('CREATE TABLE %I PARTITION OF events FOR VALUES FROM (%L) TO (%L)',
                name, m AT TIME ZONE 'UTC', (m + interval '1 month') AT TIME ZONE 'UTC');
            made := made + 1;
        END IF;
        m := m + interval '1 month';
    END LOOP;
    RETURN made;
END $$;

SELECT events_ensure_partitions(now(), 3);

-- The webhook outbox: a row per delivery, written in the event's transaction (the same
-- statement as the event), worked by the same claim/lease/backoff mechanism as mail_outbox
-- (models.Outbox). payload is the exact JSON body POSTed; it holds no secret.
CREATE TABLE webhook_outbox (
    id              bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id        uuid        NOT NULL,
    -- The event's type (metric label).
    kind            text        NOT NULL,
    payload         text        NOT NULL,
    status          text        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    next_attempt_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    attempts        integer     NOT NULL DEFAULT 0,
    sent_at         timestamptz,
    last_error      text
);
CREATE INDEX webhook_outbox_due_idx ON webhook_outbox (next_attempt_at) WHERE status = 'pending';
