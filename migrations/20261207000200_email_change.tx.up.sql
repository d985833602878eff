-- Email change: a confirmation to the new address (with a mail token) and a notice to the old
-- one, both through the outbox. The outbox row of a change names the user and the session that
-- asked (the new address has no account to look up); the token keeps the new address and that
-- session, which the confirmation keeps while it ends the others.
ALTER TABLE mail_outbox DROP CONSTRAINT mail_outbox_kind_check;
ALTER TABLE mail_outbox ADD CONSTRAINT mail_outbox_kind_check CHECK (kind IN ('verify', 'reset', 'email_change', 'email_notice'));
ALTER TABLE mail_outbox ADD COLUMN user_id uuid;
ALTER TABLE mail_outbox ADD COLUMN session_id uuid;
ALTER TABLE mail_tokens DROP CONSTRAINT mail_tokens_kind_check;
ALTER TABLE mail_tokens ADD CONSTRAINT mail_tokens_kind_check CHECK (kind IN ('verify', 'reset', 'email_change'));
ALTER TABLE mail_tokens ADD COLUMN new_email text;
ALTER TABLE mail_tokens ADD COLUMN session_id uuid;
