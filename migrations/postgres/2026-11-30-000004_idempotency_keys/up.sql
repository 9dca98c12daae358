-- Idempotency-Key of token and client creation: one row per user, scope
-- and key, kept 24 h. `outcome` (the created record's id) is written in the
-- transaction that stores the record, so a crash leaves both or neither.
CREATE TABLE idempotency_keys (
    user_id BIGINT NOT NULL,
    scope TEXT NOT NULL,
    idem_key TEXT NOT NULL,
    fingerprint BYTEA NOT NULL,
    claim BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    claimed_at BIGINT NOT NULL,
    outcome TEXT,
    PRIMARY KEY (user_id, scope, idem_key)
);
CREATE INDEX idempotency_keys_created_at_idx ON idempotency_keys (created_at);
