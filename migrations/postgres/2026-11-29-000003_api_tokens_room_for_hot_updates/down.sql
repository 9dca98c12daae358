ALTER TABLE api_tokens RESET (fillfactor);
