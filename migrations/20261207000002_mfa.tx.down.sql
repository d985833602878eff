DROP TABLE IF EXISTS mfa_challenges;
DROP TABLE IF EXISTS mfa_recovery_codes;
DROP TABLE IF EXISTS mfa_factors;
ALTER TABLE users DROP COLUMN IF EXISTS mfa_enabled;
