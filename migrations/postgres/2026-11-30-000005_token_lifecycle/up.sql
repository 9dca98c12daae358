-- The token lifecycle: a public id to name a token by (a UUID; tokens made
-- before this migration get a random version 4 one, new ones a version 7
-- from the service), and what an owner, a rotation, a suspension or a
-- sighting changes.
ALTER TABLE api_tokens
    ADD COLUMN public_id TEXT,
    ADD COLUMN disabled BOOLEAN NOT NULL DEFAULT FALSE,
    -- JSON array of CIDR strings; NULL: any address.
    ADD COLUMN allowed_ips TEXT,
    ADD COLUMN canary BOOLEAN NOT NULL DEFAULT FALSE,
    -- The successor's public id while this token is in its overlap, and
    -- when the overlap ends.
    ADD COLUMN superseded_by TEXT,
    ADD COLUMN superseded_until BIGINT,
    ADD COLUMN last_used_by TEXT,
    -- JSON array of up to five addresses, most recent first.
    ADD COLUMN last_used_ips TEXT,
    -- Mirrors suspended_users, so a verification reads it from the row it
    -- reads anyway, and so the refusal trigger announces it.
    ADD COLUMN owner_suspended BOOLEAN NOT NULL DEFAULT FALSE;

UPDATE api_tokens SET public_id = gen_random_uuid()::text WHERE public_id IS NULL;
ALTER TABLE api_tokens ALTER COLUMN public_id SET NOT NULL;
ALTER TABLE api_tokens ADD CONSTRAINT api_tokens_public_id_key UNIQUE (public_id);

-- A superseded token in its overlap no longer counts as its client's one
-- token (its successor does), so the successor can be stored beside it;
-- the sweep finds ended overlaps through their own index.
DROP INDEX api_tokens_user_client_uidx;
CREATE UNIQUE INDEX api_tokens_user_client_uidx
    ON api_tokens (user_id, from_api_client)
    WHERE from_api_client IS NOT NULL AND superseded_by IS NULL;
CREATE INDEX api_tokens_superseded_idx
    ON api_tokens (superseded_until)
    WHERE superseded_by IS NOT NULL;

-- Suspended users (an operator's decision): their tokens are kept but
-- refused, and no token may be created, rotated or granted for them.
CREATE TABLE suspended_users (
    user_id BIGINT PRIMARY KEY CHECK (user_id > 0),
    reason TEXT,
    suspended_at BIGINT NOT NULL
);

-- A change that makes a token refused (or accepted again) is announced
-- exactly like a deletion: a row in the revocation log and a NOTIFY, in
-- the changing transaction. Recording use (last_used_*) announces nothing.
CREATE TRIGGER api_tokens_refusal_changed
    AFTER UPDATE ON api_tokens
    FOR EACH ROW
    WHEN (OLD.disabled IS DISTINCT FROM NEW.disabled
          OR OLD.expires_at IS DISTINCT FROM NEW.expires_at
          OR OLD.allowed_ips IS DISTINCT FROM NEW.allowed_ips
          OR OLD.superseded_by IS DISTINCT FROM NEW.superseded_by
          OR OLD.owner_suspended IS DISTINCT FROM NEW.owner_suspended)
    EXECUTE FUNCTION tessera_token_revoked();
