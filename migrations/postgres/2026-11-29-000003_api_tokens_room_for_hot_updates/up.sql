-- lastUsedAt is written about once a minute for every active token. With
-- room left on each page PostgreSQL updates the row in place (a HOT update):
-- no new entry in any of the table's four indexes, and far less to vacuum.
-- Applies to pages written from now on; `VACUUM FULL api_tokens` repacks
-- older ones.
ALTER TABLE api_tokens SET (fillfactor = 80);
