DROP TRIGGER api_tokens_refusal_changed ON api_tokens;
ALTER TABLE api_tokens
    DROP CONSTRAINT api_tokens_public_id_key,
    DROP COLUMN public_id,
    DROP COLUMN disabled,
    DROP COLUMN allowed_ips,
    DROP COLUMN canary,
    DROP COLUMN superseded_by,
    DROP COLUMN superseded_until,
    DROP COLUMN last_used_by,
    DROP COLUMN last_used_ips;
