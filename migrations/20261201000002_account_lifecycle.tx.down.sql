DROP TABLE IF EXISTS mail_outbox;
DROP TABLE IF EXISTS mail_tokens;
ALTER TABLE users DROP COLUMN IF EXISTS email_verified_at;
