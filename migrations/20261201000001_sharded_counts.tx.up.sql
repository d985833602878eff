-- Exact per-status counts that stay linear under bulk writes and do not serialise concurrent
-- registrations.
--
-- The per-row trigger of 20261128000001 updated one counter row per inserted row: a statement
-- inserting n users rewrote the same row n times in one transaction, each new version found
-- behind all the previous ones, so the statement was quadratic (40,000 rows: 28 s). Here:
--  * statement-level triggers read the statement's transition tables and apply one change per
--    status per statement, so any statement costs O(its rows);
--  * a status's count is spread over shard rows (status, shard); a statement adds to the shard
--    of its backend (pg_backend_pid() % 16), so registrations on different connections update
--    different rows, and one transaction only ever touches one shard per status;
--  * GET /users/stats sums at most 3 x 16 rows: O(1) at any table size.
-- Postgres allows transition tables only on triggers with one event and no column list, hence
-- one trigger for each of INSERT, UPDATE and DELETE, and the UPDATE one fires on any update
-- (its function does nothing when no status changed).

-- Nothing may write users between the recount below and the new triggers.
LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE;

DROP TRIGGER users_count ON users;
DROP FUNCTION users_count_trigger();
DROP TRIGGER users_truncate ON users;
DROP FUNCTION users_truncate_trigger();
DROP TABLE user_counts;

CREATE TABLE user_counts (
    status text   NOT NULL,
    shard  int    NOT NULL,
    -- One shard may go negative (a user counted on one shard, deleted on another); the sum is exact.
    n      bigint NOT NULL,
    PRIMARY KEY (status, shard)
);

INSERT INTO user_counts (status, shard, n)
SELECT status, 0, count(*) FROM users GROUP BY status;

-- Each function adds its statement's per-status change to this backend's shard. The rows are
-- upserted in status order, so two statements that touch several statuses lock them in the
-- same order and cannot deadlock on each other.
CREATE FUNCTION users_count_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO user_counts AS c (status, shard, n)
    SELECT status, pg_backend_pid() % 16, count(*) FROM new_rows GROUP BY status ORDER BY status
    ON CONFLICT (status, shard) DO UPDATE SET n = c.n + EXCLUDED.n;
    RETURN NULL;
END
$$;

CREATE FUNCTION users_count_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO user_counts AS c (status, shard, n)
    SELECT status, pg_backend_pid() % 16, -count(*) FROM old_rows GROUP BY status ORDER BY status
    ON CONFLICT (status, shard) DO UPDATE SET n = c.n + EXCLUDED.n;
    RETURN NULL;
END
$$;

CREATE FUNCTION users_count_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- New count minus old count per status: no row at all when no status changed.
    INSERT INTO user_counts AS c (status, shard, n)
    SELECT status, pg_backend_pid() % 16, sum(d) FROM (
        SELECT status, 1 AS d FROM new_rows
        UNION ALL
        SELECT status, -1 FROM old_rows
    ) changes
    GROUP BY status HAVING sum(d) <> 0 ORDER BY status
    ON CONFLICT (status, shard) DO UPDATE SET n = c.n + EXCLUDED.n;
    RETURN NULL;
END
$$;

CREATE TRIGGER users_count_insert AFTER INSERT ON users
REFERENCING NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION users_count_insert();

CREATE TRIGGER users_count_delete AFTER DELETE ON users
REFERENCING OLD TABLE AS old_rows
FOR EACH STATEMENT EXECUTE FUNCTION users_count_delete();

CREATE TRIGGER users_count_update AFTER UPDATE ON users
REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION users_count_update();

-- TRUNCATE fires no row or transition-table triggers: empty the counters with it.
CREATE FUNCTION users_count_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM user_counts;
    RETURN NULL;
END
$$;

CREATE TRIGGER users_count_truncate AFTER TRUNCATE ON users
FOR EACH STATEMENT EXECUTE FUNCTION users_count_truncate();
