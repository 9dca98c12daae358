-- The audit trail: each user's events, a hash chain numbered 1, 2, 3…
-- An event is appended in the transaction of the change it records, so a
-- change that rolls back leaves no event and no gap. `event` is the event
-- exactly as exported (RFC 8785 hashing reads it back from here).
CREATE TABLE audit_events (
    user_id BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    at BIGINT NOT NULL,
    event_type TEXT NOT NULL,
    event TEXT NOT NULL,
    PRIMARY KEY (user_id, seq)
);
-- The head of each user's chain. Appending bumps `seq` here first: the row
-- lock queues one user's concurrent changes (SQLite has one writer anyway),
-- and the stored hash lets verification notice trailing events removed or
-- rewritten.
CREATE TABLE audit_heads (
    user_id BIGINT PRIMARY KEY,
    seq BIGINT NOT NULL,
    hash TEXT NOT NULL
);
