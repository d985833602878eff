-- Users, with case-insensitive unique emails enforced by the database.
CREATE TABLE users (
    id                uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    email             text        NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
    password_hash     text        NOT NULL,
    status            text        NOT NULL DEFAULT 'pending_verification'
                                  CHECK (status IN ('active', 'suspended', 'pending_verification')),
    suspension_reason text,
    suspended_until   timestamptz,
    role              text        NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin')),
    -- clock_timestamp(), not now(): rows inserted in one transaction still get distinct times.
    created_at        timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email));

-- Keyset pagination walks this index: (created_at, id) > (cursor) ORDER BY created_at, id.
CREATE INDEX users_created_at_id_idx ON users (created_at, id);

-- Exact per-status counts, kept by a trigger in the same transaction as every change to users,
-- so GET /users/stats and the total of GET /users never scan the table.
CREATE TABLE user_counts (
    status text   PRIMARY KEY,
    n      bigint NOT NULL DEFAULT 0
);
INSERT INTO user_counts (status, n) VALUES ('active', 0), ('suspended', 0), ('pending_verification', 0);

CREATE FUNCTION users_count_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE user_counts SET n = n + 1 WHERE status = NEW.status;
    ELSIF TG_OP = 'DELETE' THEN
        UPDATE user_counts SET n = n - 1 WHERE status = OLD.status;
    ELSIF NEW.status IS DISTINCT FROM OLD.status THEN
        -- One statement for both rows, so concurrent changes lock them in the same order.
        UPDATE user_counts
           SET n = n + CASE WHEN status = NEW.status THEN 1 ELSE -1 END
         WHERE status IN (OLD.status, NEW.status);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER users_count
AFTER INSERT OR DELETE OR UPDATE OF status ON users
FOR EACH ROW EXECUTE FUNCTION users_count_trigger();

-- TRUNCATE bypasses row triggers: reset the counters with it.
CREATE FUNCTION users_truncate_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE user_counts SET n = 0;
    RETURN NULL;
END
$$;

CREATE TRIGGER users_truncate AFTER TRUNCATE ON users
FOR EACH STATEMENT EXECUTE FUNCTION users_truncate_trigger();
