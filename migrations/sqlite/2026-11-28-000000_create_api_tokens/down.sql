-- Reverts up.sql of this migration.
DROP TABLE api_tokens;
