-- The token lifecycle: a public id to name a token by (a UUID; tokens made
-- before this migration get a random version 4 one, new ones a version 7
-- from the service), and what an owner, a rotation, a suspension or a
-- sighting changes.
ALTER TABLE api_tokens ADD COLUMN public_id TEXT NOT NULL DEFAULT '';
ALTER TABLE api_tokens ADD COLUMN disabled BOOLEAN NOT NULL DEFAULT FALSE;
-- JSON array of CIDR strings; NULL: any address.
ALTER TABLE api_tokens ADD COLUMN allowed_ips TEXT;
ALTER TABLE api_tokens ADD COLUMN canary BOOLEAN NOT NULL DEFAULT FALSE;
-- The successor's public id while this token is in its overlap, and when
-- the overlap ends.
ALTER TABLE api_tokens ADD COLUMN superseded_by TEXT;
ALTER TABLE api_tokens ADD COLUMN superseded_until BIGINT;
ALTER TABLE api_tokens ADD COLUMN last_used_by TEXT;
-- JSON array of up to five addresses, most recent first.
ALTER TABLE api_tokens ADD COLUMN last_used_ips TEXT;
-- Mirrors suspended_users, so a verification reads it from the row it
-- reads anyway, and so the refusal trigger announces it.
ALTER TABLE api_tokens ADD COLUMN owner_suspended BOOLEAN NOT NULL DEFAULT FALSE;

-- A version 4 UUID per existing row (randomblob is drawn per row).
UPDATE api_tokens SET public_id =
    lower(hex(randomblob(4))) || '-' || lower(hex(randomblob(2))) || '-4'
    || substr(lower(hex(randomblob(2))), 2) || '-'
    || substr('89ab', 1 + (abs(random()) % 4), 1) || substr(lower(hex(randomblob(2))), 2)
    || '-' || lower(hex(randomblob(6)))
    WHERE public_id = '';
CREATE UNIQUE INDEX api_tokens_public_id_key ON api_tokens (public_id);

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
-- exactly like a deletion: a row in the revocation log, in the changing
-- transaction. Recording use (last_used_*) announces nothing.
CREATE TRIGGER api_tokens_refusal_changed
    AFTER UPDATE OF disabled, expires_at, allowed_ips, superseded_by, owner_suspended ON api_tokens
    FOR EACH ROW
    WHEN OLD.disabled IS NOT NEW.disabled
        OR OLD.expires_at IS NOT NEW.expires_at
        OR OLD.allowed_ips IS NOT NEW.allowed_ips
        OR OLD.superseded_by IS NOT NEW.superseded_by
        OR OLD.owner_suspended IS NOT NEW.owner_suspended
BEGIN
    INSERT INTO token_revocations (token_hash, revoked_at)
        VALUES (OLD.token_hash, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
END;
