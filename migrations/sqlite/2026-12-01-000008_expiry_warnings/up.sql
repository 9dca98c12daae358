-- token.expiring is appended once per token: `expiry_warned` says it was.
-- The sweep reads the tokens about to expire and not yet warned through a
-- partial index holding only tokens with an expiry still to be warned of,
-- a range scan of the tokens due, however many tokens there are.
ALTER TABLE api_tokens ADD COLUMN expiry_warned BOOLEAN NOT NULL DEFAULT FALSE;
CREATE INDEX api_tokens_expiry_unwarned ON api_tokens (expires_at)
    WHERE expires_at IS NOT NULL AND NOT expiry_warned;
