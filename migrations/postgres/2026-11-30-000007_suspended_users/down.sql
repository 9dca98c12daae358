DROP TRIGGER api_tokens_refusal_changed ON api_tokens;
CREATE TRIGGER api_tokens_refusal_changed
    AFTER UPDATE ON api_tokens
    FOR EACH ROW
    WHEN (OLD.disabled IS DISTINCT FROM NEW.disabled
          OR OLD.expires_at IS DISTINCT FROM NEW.expires_at
          OR OLD.allowed_ips IS DISTINCT FROM NEW.allowed_ips
          OR OLD.superseded_by IS DISTINCT FROM NEW.superseded_by)
    EXECUTE FUNCTION tessera_token_revoked();
ALTER TABLE api_tokens DROP COLUMN owner_suspended;
DROP TABLE suspended_users;
