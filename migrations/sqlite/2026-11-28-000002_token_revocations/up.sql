-- Every deleted token's fingerprint, in commit order (SQLite serialises
-- writers): the revocation feed for relying services.
CREATE TABLE token_revocations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    token_hash BLOB NOT NULL,
    revoked_at BIGINT NOT NULL
);
CREATE INDEX token_revocations_revoked_at_idx ON token_revocations (revoked_at);

CREATE TABLE token_revocation_purges (
    id SMALLINT PRIMARY KEY CHECK (id = 1),
    purged_through BIGINT NOT NULL
);
INSERT INTO token_revocation_purges (id, purged_through) VALUES (1, 0);

CREATE TRIGGER api_tokens_revoked AFTER DELETE ON api_tokens FOR EACH ROW
BEGIN
    INSERT INTO token_revocations (token_hash, revoked_at)
        VALUES (OLD.token_hash, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
END;
