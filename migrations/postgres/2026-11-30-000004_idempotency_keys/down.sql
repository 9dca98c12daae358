-- Forgets every Idempotency-Key.
DROP TABLE idempotency_keys;
