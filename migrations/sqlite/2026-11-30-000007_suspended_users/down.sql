DROP TRIGGER api_tokens_refusal_changed;
CREATE TRIGGER api_tokens_refusal_changed
    AFTER UPDATE OF disabled, expires_at, allowed_ips, superseded_by ON api_tokens
    FOR EACH ROW
    WHEN OLD.disabled IS NOT NEW.disabled
        OR OLD.expires_at IS NOT NEW.expires_at
        OR OLD.allowed_ips IS NOT NEW.allowed_ips
        OR OLD.superseded_by IS NOT NEW.superseded_by
BEGIN
    INSERT INTO token_revocations (token_hash, revoked_at)
        VALUES (OLD.token_hash, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
END;
ALTER TABLE api_tokens DROP COLUMN owner_suspended;
DROP TABLE suspended_users;
