-- Every deleted token's fingerprint, in commit order: the revocation feed
-- for relying services, and (through NOTIFY) the signal that makes every
-- Tessera instance drop the token from its cache.
CREATE TABLE token_revocations (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    token_hash BYTEA NOT NULL,
    revoked_at BIGINT NOT NULL
);
CREATE INDEX token_revocations_revoked_at_idx ON token_revocations (revoked_at);

-- Up to which cursor entries were purged (a reader behind it missed some).
CREATE TABLE token_revocation_purges (
    id SMALLINT PRIMARY KEY CHECK (id = 1),
    purged_through BIGINT NOT NULL
);
INSERT INTO token_revocation_purges (id, purged_through) VALUES (1, 0);

CREATE FUNCTION tessera_token_revoked() RETURNS trigger AS $$
BEGIN
    -- Revoking transactions take ids one at a time until they commit, so
    -- cursors grow in commit order and a reader never skips a late commit.
    PERFORM pg_advisory_xact_lock(7261535);
    INSERT INTO token_revocations (token_hash, revoked_at)
        VALUES (OLD.token_hash, (extract(epoch FROM clock_timestamp()) * 1000)::bigint);
    -- Delivered at commit to every instance listening.
    PERFORM pg_notify('tessera_revocations', encode(OLD.token_hash, 'hex'));
    RETURN OLD;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER api_tokens_revoked
    AFTER DELETE ON api_tokens
    FOR EACH ROW EXECUTE FUNCTION tessera_token_revoked();
