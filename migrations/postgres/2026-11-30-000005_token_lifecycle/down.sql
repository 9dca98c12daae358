DROP TRIGGER api_tokens_refusal_changed ON api_tokens;
DROP TABLE suspended_users;
DROP INDEX api_tokens_superseded_idx;
DROP INDEX api_tokens_user_client_uidx;
CREATE UNIQUE INDEX api_tokens_user_client_uidx
    ON api_tokens (user_id, from_api_client)
    WHERE from_api_client IS NOT NULL;
ALTER TABLE api_tokens
    DROP CONSTRAINT api_tokens_public_id_key,
    DROP COLUMN public_id,
    DROP COLUMN disabled,
    DROP COLUMN allowed_ips,
    DROP COLUMN canary,
    DROP COLUMN superseded_by,
    DROP COLUMN superseded_until,
    DROP COLUMN last_used_by,
    DROP COLUMN last_used_ips,
    DROP COLUMN owner_suspended;
