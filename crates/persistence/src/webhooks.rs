//! The webhook outbox on Diesel. Rows are written by
//! [`append`](crate::audit::append) with their event; here they are claimed
//! for delivery — on PostgreSQL with `FOR UPDATE SKIP LOCKED`, so several
//! instances never take the same one — and settled.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Text};
use tessera_domain::webhooks::{PendingDelivery, ReceiverStatus, WebhookOutbox};
use tessera_domain::{AuditEvent, Timestamp};

use crate::connection::Backend;
use crate::schema::webhook_deliveries;
use crate::store::Store;

/// Takes what is due and holds it for a lease in one statement; the
/// subquery's row locks (PostgreSQL) make concurrent claimers skip what
/// another is taking. SQLite has one writer at a time anyway.
const CLAIM_SQL: [&str; 2] = [
    "UPDATE webhook_deliveries SET due_at = ?, tries = tries + 1 \
     WHERE id IN (SELECT id FROM webhook_deliveries \
                  WHERE state = 'pending' AND due_at <= ? ORDER BY due_at LIMIT ?) \
     RETURNING id, receiver, user_id, event, tries, created_at",
    "UPDATE webhook_deliveries SET due_at = $1, tries = tries + 1 \
     WHERE id IN (SELECT id FROM webhook_deliveries \
                  WHERE state = 'pending' AND due_at <= $2 ORDER BY due_at LIMIT $3 \
                  FOR UPDATE SKIP LOCKED) \
     RETURNING id, receiver, user_id, event, tries, created_at",
];

#[derive(QueryableByName)]
struct Claimed {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    receiver: String,
    #[diesel(sql_type = BigInt)]
    user_id: i64,
    #[diesel(sql_type = Text)]
    event: String,
    #[diesel(sql_type = Integer)]
    tries: i32,
    #[diesel(sql_type = BigInt)]
    created_at: i64,
}

impl TryFrom<Claimed> for PendingDelivery {
    type Error = anyhow::Error;

    fn try_from(row: Claimed) -> anyhow::Result<Self> {
        let event: AuditEvent = serde_json::from_str(&row.event)
            .map_err(|e| anyhow::anyhow!("webhook delivery {}: unreadable event: {e}", row.id))?;
        Ok(Self {
            id: row.id,
            receiver: row.receiver,
            event,
            user: tessera_domain::UserId::new(row.user_id)?,
            tries: u32::try_from(row.tries).unwrap_or(0),
            created_at: Timestamp::from_millis(row.created_at),
        })
    }
}

#[derive(Clone)]
pub struct DieselWebhookOutbox {
    store: Store,
}

impl std::fmt::Debug for DieselWebhookOutbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DieselWebhookOutbox")
            .finish_non_exhaustive()
    }
}

impl DieselWebhookOutbox {
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    fn settle(
        &self,
        id: i64,
        state: &'static str,
        at: Timestamp,
        error: Option<&str>,
    ) -> anyhow::Result<()> {
        self.store
            .write_query("settling a webhook delivery", |conn| {
                diesel::update(
                    webhook_deliveries::table
                        .find(id)
                        .filter(webhook_deliveries::state.eq("pending")),
                )
                .set((
                    webhook_deliveries::state.eq(state),
                    webhook_deliveries::due_at.eq(at.as_millis()),
                    webhook_deliveries::last_error.eq(error),
                ))
                .execute(conn)
                .map(drop)
            })
    }
}

impl WebhookOutbox for DieselWebhookOutbox {
    fn claim(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: usize,
    ) -> anyhow::Result<Vec<PendingDelivery>> {
        let backend = self.store.backend();
        let rows: Vec<Claimed> = self
            .store
            .write_query("claiming webhook deliveries", |conn| {
                diesel::sql_query(CLAIM_SQL[usize::from(backend == Backend::Postgres)])
                    .bind::<BigInt, _>(lease_until.as_millis())
                    .bind::<BigInt, _>(now.as_millis())
                    .bind::<BigInt, _>(i64::try_from(limit).unwrap_or(i64::MAX))
                    .load(conn)
            })?;
        let mut due = Vec::with_capacity(rows.len());
        for row in rows {
            let id = row.id;
            match PendingDelivery::try_from(row) {
                Ok(delivery) => due.push(delivery),
                // Never deliverable (an edited row): settled at once so it
                // neither comes back every lease nor holds the others.
                Err(error) => {
                    tracing::error!(delivery = id, error = %error, "webhook delivery dropped");
                    self.settle(id, "failed", now, Some(&error.to_string()))?;
                }
            }
        }
        Ok(due)
    }

    fn delivered(&self, id: i64, at: Timestamp) -> anyhow::Result<()> {
        self.settle(id, "delivered", at, None)
    }

    fn retry(&self, id: i64, at: Timestamp, error: &str) -> anyhow::Result<()> {
        self.settle(id, "pending", at, Some(error))
    }

    fn failed(&self, id: i64, at: Timestamp, error: &str) -> anyhow::Result<()> {
        self.settle(id, "failed", at, Some(error))
    }

    fn status(&self) -> anyhow::Result<Vec<ReceiverStatus>> {
        let rows: Vec<(String, String, i64)> =
            self.store
                .read_query("counting webhook deliveries", |conn| {
                    webhook_deliveries::table
                        .group_by((webhook_deliveries::receiver, webhook_deliveries::state))
                        .select((
                            webhook_deliveries::receiver,
                            webhook_deliveries::state,
                            diesel::dsl::count_star(),
                        ))
                        .order_by(webhook_deliveries::receiver.asc())
                        .load(conn)
                })?;
        let mut statuses: Vec<ReceiverStatus> = Vec::new();
        for (receiver, state, count) in rows {
            if statuses.last().is_none_or(|s| s.receiver != receiver) {
                statuses.push(ReceiverStatus {
                    receiver,
                    ..ReceiverStatus::default()
                });
            }
            let Some(status) = statuses.last_mut() else {
                continue;
            };
            let count = u64::try_from(count).unwrap_or(0);
            match state.as_str() {
                "pending" => status.pending = count,
                "delivered" => status.delivered = count,
                _ => status.failed = count,
            }
        }
        Ok(statuses)
    }

    fn purge(&self, before: Timestamp) -> anyhow::Result<usize> {
        self.store
            .write_query("forgetting old webhook deliveries", |conn| {
                diesel::delete(
                    webhook_deliveries::table
                        .filter(webhook_deliveries::state.eq_any(["delivered", "failed"]))
                        .filter(webhook_deliveries::due_at.lt(before.as_millis())),
                )
                .execute(conn)
            })
    }
}
