DROP INDEX api_tokens_expiry_unwarned;
ALTER TABLE api_tokens DROP COLUMN expiry_warned;
