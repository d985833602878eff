-- Back to 20261128000001's single counter row per status and per-row trigger, counts intact.
LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE;

DROP TRIGGER users_count_insert ON users;
DROP TRIGGER users_count_delete ON users;
DROP TRIGGER users_count_update ON users;
DROP TRIGGER users_count_truncate ON users;
DROP FUNCTION users_count_insert();
DROP FUNCTION users_count_delete();
DROP FUNCTION users_count_update();
DROP FUNCTION users_count_truncate();
DROP TABLE user_counts;

CREATE TABLE user_counts (
    status text   PRIMARY KEY,
    n      bigint NOT NULL DEFAULT 0
);
INSERT INTO user_counts (status, n)
SELECT s.status, (SELECT count(*) FROM users u WHERE u.status = s.status)
  FROM (VALUES ('active'), ('suspended'), ('pending_verification')) AS s(status);

CREATE FUNCTION users_count_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE user_counts SET n = n + 1 WHERE status = NEW.status;
    ELSIF TG_OP = 'DELETE' THEN
        UPDATE user_counts SET n = n - 1 WHERE status = OLD.status;
    ELSIF NEW.status IS DISTINCT FROM OLD.status THEN
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

CREATE FUNCTION users_truncate_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE user_counts SET n = 0;
    RETURN NULL;
END
$$;

CREATE TRIGGER users_truncate AFTER TRUNCATE ON users
FOR EACH STATEMENT EXECUTE FUNCTION users_truncate_trigger();
