DROP TRIGGER api_tokens_refusal_changed;
DROP TABLE suspended_users;
DROP INDEX api_tokens_superseded_idx;
DROP INDEX api_tokens_user_client_uidx;
CREATE UNIQUE INDEX api_tokens_user_client_uidx
    ON api_tokens (user_id, from_api_client)
    WHERE from_api_client IS NOT NULL;
DROP INDEX api_tokens_public_id_key;
ALTER TABLE api_tokens DROP COLUMN owner_suspended;
ALTER TABLE api_tokens DROP COLUMN last_used_ips;
ALTER TABLE api_tokens DROP COLUMN last_used_by;
ALTER TABLE api_tokens DROP COLUMN superseded_until;
ALTER TABLE api_tokens DROP COLUMN superseded_by;
ALTER TABLE api_tokens DROP COLUMN canary;
ALTER TABLE api_tokens DROP COLUMN allowed_ips;
ALTER TABLE api_tokens DROP COLUMN disabled;
ALTER TABLE api_tokens DROP COLUMN public_id;
