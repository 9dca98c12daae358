-- API tokens. The token itself is never stored: token_hash is its HMAC-SHA256
-- (lookup), token_sealed its AES-256-GCM ciphertext (shown back in the list).
-- Times are Unix milliseconds, as the contract speaks them.
CREATE TABLE api_tokens (
    -- A rowid alias, so ids grow in insertion order; 64-bit in SQLite.
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id BIGINT NOT NULL CHECK (user_id > 0),
    identifier TEXT NOT NULL,
    token_hash BLOB NOT NULL,
    token_sealed BLOB NOT NULL,
    -- JSON array of permission names.
    permissions TEXT NOT NULL,
    from_api_client TEXT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
    last_used_at BIGINT,
    CONSTRAINT api_tokens_token_hash_key UNIQUE (token_hash)
);

-- One token per user and OAuth2 client: settles concurrent creations.
CREATE UNIQUE INDEX api_tokens_user_client_uidx
    ON api_tokens (user_id, from_api_client)
    WHERE from_api_client IS NOT NULL;

CREATE INDEX api_tokens_user_created_idx ON api_tokens (user_id, created_at, id);
