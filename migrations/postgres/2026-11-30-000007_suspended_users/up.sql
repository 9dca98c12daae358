-- Suspended users (an operator's decision): their tokens are kept but
-- refused, and no token may be created, rotated or granted for them.
CREATE TABLE suspended_users (
    user_id BIGINT PRIMARY KEY CHECK (user_id > 0),
    reason TEXT,
    suspended_at BIGINT NOT NULL
);

-- Mirrored on each of the user's tokens, so a verification reads it from
-- the row it reads anyway, and so the refusal trigger announces it.
ALTER TABLE api_tokens ADD COLUMN owner_suspended BOOLEAN NOT NULL DEFAULT FALSE;

DROP TRIGGER api_tokens_refusal_changed ON api_tokens;
CREATE TRIGGER api_tokens_refusal_changed
    AFTER UPDATE ON api_tokens
    FOR EACH ROW
    WHEN (OLD.disabled IS DISTINCT FROM NEW.disabled
          OR OLD.expires_at IS DISTINCT FROM NEW.expires_at
          OR OLD.allowed_ips IS DISTINCT FROM NEW.allowed_ips
          OR OLD.superseded_by IS DISTINCT FROM NEW.superseded_by
          OR OLD.owner_suspended IS DISTINCT FROM NEW.owner_suspended)
    EXECUTE FUNCTION tessera_token_revoked();
