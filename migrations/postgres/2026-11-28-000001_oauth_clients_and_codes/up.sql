-- OAuth2 clients registered by users. The secret is stored like a token:
-- an HMAC-SHA256 fingerprint to verify it, an AES-256-GCM ciphertext to show it.
CREATE TABLE oauth_clients (
    client_id TEXT PRIMARY KEY,
    author BIGINT NOT NULL CHECK (author > 0),
    name TEXT NOT NULL,
    permissions TEXT NOT NULL,
    redirect_uri TEXT,
    webhook_uri TEXT,
    api_key_template TEXT,
    api_key_filename TEXT,
    secret_hash BYTEA NOT NULL,
    secret_sealed BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    CONSTRAINT oauth_clients_secret_hash_key UNIQUE (secret_hash)
);
CREATE INDEX oauth_clients_author_idx ON oauth_clients (author, created_at);

-- How many clients each user has: the row is locked by the transaction that
-- adds a client, so concurrent creations at the cap are settled here.
CREATE TABLE oauth_client_quota (
    user_id BIGINT PRIMARY KEY,
    used BIGINT NOT NULL CHECK (used >= 0)
);

-- Authorization codes, by fingerprint only.
CREATE TABLE oauth_codes (
    code_hash BYTEA PRIMARY KEY,
    user_id BIGINT NOT NULL CHECK (user_id > 0),
    client_id TEXT NOT NULL,
    code_challenge TEXT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT,
    token_hash BYTEA
);
CREATE INDEX oauth_codes_expires_idx ON oauth_codes (expires_at);
CREATE INDEX oauth_codes_client_idx ON oauth_codes (client_id);
CREATE INDEX api_tokens_client_idx ON api_tokens (from_api_client) WHERE from_api_client IS NOT NULL;
