-- Reverts up.sql of this migration.
DROP INDEX api_tokens_client_idx;
DROP TABLE oauth_codes;
DROP TABLE oauth_client_quota;
DROP TABLE oauth_clients;
