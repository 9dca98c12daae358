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

DROP TRIGGER api_tokens_refusal_changed;
CREATE TRIGGER api_tokens_refusal_changed
    AFTER UPDATE OF disabled, expires_at, allowed_ips, superseded_by, owner_suspended ON api_tokens
    FOR EACH ROW
    WHEN OLD.disabled IS NOT NEW.disabled
        OR OLD.expires_at IS NOT NEW.expires_at
        OR OLD.allowed_ips IS NOT NEW.allowed_ips
        OR OLD.superseded_by IS NOT NEW.superseded_by
        OR OLD.owner_suspended IS NOT NEW.owner_suspended
BEGIN
    INSERT INTO token_revocations (token_hash, revoked_at)
        VALUES (OLD.token_hash, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
END;
