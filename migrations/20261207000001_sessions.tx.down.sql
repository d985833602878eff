DROP INDEX IF EXISTS users_tokens_revoked_at_idx;
ALTER TABLE users DROP COLUMN IF EXISTS tokens_revoked_at;
ALTER TABLE users DROP COLUMN IF EXISTS session_epoch;
DROP TABLE IF EXISTS refresh_tokens;
DROP TABLE IF EXISTS sessions;
