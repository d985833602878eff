DROP TABLE IF EXISTS users;
DROP FUNCTION IF EXISTS users_count_trigger();
DROP FUNCTION IF EXISTS users_truncate_trigger();
DROP TABLE IF EXISTS user_counts;
