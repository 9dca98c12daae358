-- Webhook deliveries, the outbox: one row per audit event and receiver that
-- asked for it, written in the event's transaction (so in its change's), so
-- an event is never lost between its commit and its delivery, and never
-- sent for a change that rolled back. `event` is the event as recorded.
-- A delivery is 'pending' until a receiver answered 2xx ('delivered') or
-- a day of retries passed ('failed'); `due_at` is when it may be tried
-- (while pending: held past it by the instance trying it), then when it
-- finished, which the purge of old deliveries goes by.
CREATE TABLE webhook_deliveries (
    -- A rowid alias: 64-bit in SQLite.
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    receiver TEXT NOT NULL,
    user_id BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    event TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'failed')),
    tries INTEGER NOT NULL DEFAULT 0,
    due_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    last_error TEXT,
    UNIQUE (receiver, user_id, seq)
);
-- What is due (state = 'pending', due_at <= now), and what is old enough to
-- forget (state <> 'pending', due_at < cut-off): ranges of one index.
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (state, due_at);
