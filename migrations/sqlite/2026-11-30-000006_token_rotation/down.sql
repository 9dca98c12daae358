DROP INDEX api_tokens_superseded_idx;
DROP INDEX api_tokens_user_client_uidx;
CREATE UNIQUE INDEX api_tokens_user_client_uidx
    ON api_tokens (user_id, from_api_client)
    WHERE from_api_client IS NOT NULL;
