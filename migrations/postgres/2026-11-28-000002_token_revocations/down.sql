-- Reverts up.sql of this migration.
DROP TRIGGER api_tokens_revoked ON api_tokens;
DROP FUNCTION tessera_token_revoked();
DROP TABLE token_revocation_purges;
DROP TABLE token_revocations;
