-- Rotation: a superseded token in its overlap no longer counts as its
-- client's one token (its successor does), so the successor can be stored
-- beside it; the sweep finds ended overlaps through their own index.
DROP INDEX api_tokens_user_client_uidx;
CREATE UNIQUE INDEX api_tokens_user_client_uidx
    ON api_tokens (user_id, from_api_client)
    WHERE from_api_client IS NOT NULL AND superseded_by IS NULL;
CREATE INDEX api_tokens_superseded_idx
    ON api_tokens (superseded_until)
    WHERE superseded_by IS NOT NULL;
