//! The audit trail on Diesel: [`append`] numbers and chains an event inside
//! the transaction of the change it records; [`DieselAuditLog`] reads the
//! chains back for the API and for `tessera audit verify`.

use std::sync::Arc;

use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, QueryFragment};
use diesel::result::Error as DieselError;
use diesel::sql_types::{Array, BigInt, Text};
use tessera_domain::audit::{GENESIS_HASH, UnreadableEvent};
use tessera_domain::webhooks::Subscription;
use tessera_domain::{Actor, AuditEvent, AuditLog, EventDraft, RevokeReason, Timestamp, UserId};

use crate::connection::{AnyConnection, Backend};
use crate::schema::{audit_events, audit_heads, webhook_deliveries};
use crate::store::Store;
use crate::token_rows::DeletedToken;

/// Bumps the user's head, creating it at 1 for a first event, and returns
/// the new `seq` with the previous event's hash (the genesis hash for a new
/// head): one statement. Both backends know `ON CONFLICT … DO UPDATE …
/// RETURNING`; Diesel's builder does not offer it for a connection that may
/// be either.
const BUMP_HEAD_SQL: [&str; 2] = [
    "INSERT INTO audit_heads (user_id, seq, hash) VALUES (?, 1, ?) \
     ON CONFLICT (user_id) DO UPDATE SET seq = audit_heads.seq + 1 RETURNING seq, hash",
    "INSERT INTO audit_heads (user_id, seq, hash) VALUES ($1, 1, $2) \
     ON CONFLICT (user_id) DO UPDATE SET seq = audit_heads.seq + 1 RETURNING seq, hash",
];

/// What appending needs besides the connection: the backend's SQL, and
/// which webhook receivers want which events (their outbox rows are written
/// with the event).
#[derive(Debug, Clone)]
pub(crate) struct Trail {
    backend: Backend,
    subscriptions: Arc<[Subscription]>,
}

impl Trail {
    pub(crate) fn new(backend: Backend, subscriptions: Arc<[Subscription]>) -> Self {
        Self {
            backend,
            subscriptions,
        }
    }

    pub(crate) fn backend(&self) -> Backend {
        self.backend
    }
}

#[derive(QueryableByName)]
struct Head {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    seq: i64,
    #[diesel(sql_type = diesel::sql_types::Text)]
    hash: String,
}

/// Appends `draft` as its user's next event. Call inside the change's
/// transaction: bumping the head locks its row until commit, so one user's
/// concurrent changes append one after another and a rollback takes the
/// number back with it (no gap).
pub(crate) fn append(
    conn: &mut AnyConnection,
    trail: &Trail,
    draft: &EventDraft,
    at: Timestamp,
) -> Result<AuditEvent, DieselError> {
    let backend = trail.backend;
    let user = draft.user.get();
    let Head {
        seq,
        hash: previous,
    } = diesel::sql_query(BUMP_HEAD_SQL[usize::from(backend == Backend::Postgres)])
        .bind::<diesel::sql_types::BigInt, _>(user)
        .bind::<diesel::sql_types::Text, _>(GENESIS_HASH)
        .get_result(conn)?;
    let event = AuditEvent::chain(draft, u64::try_from(seq).unwrap_or(0), at, &previous);
    let text =
        serde_json::to_string(&event).map_err(|e| DieselError::SerializationError(e.into()))?;
    diesel::insert_into(audit_events::table)
        .values(event_row(user, seq, &event, text.clone()))
        .execute(conn)?;
    diesel::update(audit_heads::table.find(user))
        .set(audit_heads::hash.eq(&event.hash))
        .execute(conn)?;
    // One statement per receiver: Diesel has no batch insert for a
    // connection that may be either backend, and receivers are few.
    for delivery in delivery_rows(trail, user, seq, &event, &text, at) {
        diesel::insert_into(webhook_deliveries::table)
            .values(delivery)
            .execute(conn)?;
    }
    Ok(event)
}

/// [`append`] of several drafts (one creation batch's), in their order:
/// on PostgreSQL three statements whatever their number — each user's head
/// bumped once by their count, in user order (batches of other instances
/// lock heads in the same order), the events chained here and inserted
/// with the heads' new hashes in one ([`ChainEvents`]), the receivers' rows
/// in one.
/// On SQLite, where a statement is no round trip, one [`append`] each.
pub(crate) fn append_many(
    conn: &mut AnyConnection,
    trail: &Trail,
    drafts: &[(EventDraft, Timestamp)],
) -> Result<(), DieselError> {
    let AnyConnection::Postgresql(pg) = conn else {
        for (draft, at) in drafts {
            append(conn, trail, draft, *at)?;
        }
        return Ok(());
    };
    if drafts.is_empty() {
        return Ok(());
    }
    let mut counts = std::collections::BTreeMap::<i64, i64>::new();
    for (draft, _) in drafts {
        *counts.entry(draft.user.get()).or_default() += 1;
    }
    let (users, added): (Vec<i64>, Vec<i64>) = counts.iter().map(|(u, n)| (*u, *n)).unzip();
    let bumped: Vec<BumpedHead> = BumpHeads {
        users: &users,
        added: &added,
    }
    .load(pg)?;
    // Each user's next number and the hash its next event chains to.
    let mut heads: std::collections::HashMap<i64, (i64, String)> = bumped
        .into_iter()
        .map(|head| {
            let first = head.seq - counts.get(&head.user_id).copied().unwrap_or(0) + 1;
            (head.user_id, (first, head.hash))
        })
        .collect();
    let mut chained = ChainEvents::default();
    let mut deliveries = Vec::new();
    for (draft, at) in drafts {
        let user = draft.user.get();
        let (seq, previous) = heads.get_mut(&user).ok_or_else(|| {
            DieselError::DeserializationError(format!("no audit head bumped for {user}").into())
        })?;
        let event = AuditEvent::chain(draft, u64::try_from(*seq).unwrap_or(0), *at, previous);
        let text =
            serde_json::to_string(&event).map_err(|e| DieselError::SerializationError(e.into()))?;
        deliveries.extend(delivery_rows(trail, user, *seq, &event, &text, *at));
        chained.users.push(user);
        chained.seqs.push(*seq);
        chained.ats.push(event.at);
        chained.kinds.push(event.kind);
        chained.texts.push(text);
        *seq += 1;
        *previous = event.hash;
    }
    (chained.head_users, chained.head_hashes) = heads
        .into_iter()
        .map(|(user, (_, hash))| (user, hash))
        .unzip();
    chained.execute(pg)?;
    if !deliveries.is_empty() {
        diesel::insert_into(webhook_deliveries::table)
            .values(&deliveries)
            .execute(pg)?;
    }
    Ok(())
}

/// Each user's head bumped by the number of the batch's events, in user
/// order (batches of other instances lock heads in the same order); fixed
/// text, prepared once per connection.
struct BumpHeads<'a> {
    users: &'a [i64],
    added: &'a [i64],
}

fixed_statement!(BumpHeads<'_>, id BumpHeads<'static>, on PgConnection, rows diesel::sql_types::Untyped);

impl QueryFragment<Pg> for BumpHeads<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql("INSERT INTO audit_heads (user_id, seq, hash) SELECT user_id, added, ");
        out.push_bind_param::<Text, _>(GENESIS_HASH)?;
        out.push_sql(" FROM unnest(");
        out.push_bind_param::<Array<BigInt>, _>(self.users)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<BigInt>, _>(self.added)?;
        out.push_sql(
            ") AS v(user_id, added) ORDER BY user_id \
             ON CONFLICT (user_id) DO UPDATE SET seq = audit_heads.seq + excluded.seq \
             RETURNING user_id, seq, hash",
        );
        Ok(())
    }
}

/// A batch's events and its users' new head hashes, written by one
/// statement whose text never changes (each bound as an array), so each
/// connection parses and plans it once and the batch makes one round trip
/// for both.
#[derive(Default)]
struct ChainEvents {
    users: Vec<i64>,
    seqs: Vec<i64>,
    ats: Vec<i64>,
    kinds: Vec<String>,
    texts: Vec<String>,
    head_users: Vec<i64>,
    head_hashes: Vec<String>,
}

fixed_statement!(ChainEvents, id ChainEvents, on PgConnection);

impl QueryFragment<Pg> for ChainEvents {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql(
            "WITH events AS (INSERT INTO audit_events (user_id, seq, at, event_type, event) \
             SELECT * FROM unnest(",
        );
        out.push_bind_param::<Array<BigInt>, _>(&self.users)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<BigInt>, _>(&self.seqs)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<BigInt>, _>(&self.ats)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Text>, _>(&self.kinds)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Text>, _>(&self.texts)?;
        out.push_sql(")) UPDATE audit_heads AS h SET hash = v.hash FROM unnest(");
        out.push_bind_param::<Array<BigInt>, _>(&self.head_users)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Text>, _>(&self.head_hashes)?;
        out.push_sql(") AS v(user_id, hash) WHERE h.user_id = v.user_id");
        Ok(())
    }
}

/// An `audit_events` row as Diesel inserts it.
type EventRow = (
    diesel::dsl::Eq<audit_events::user_id, i64>,
    diesel::dsl::Eq<audit_events::seq, i64>,
    diesel::dsl::Eq<audit_events::at, i64>,
    diesel::dsl::Eq<audit_events::event_type, String>,
    diesel::dsl::Eq<audit_events::event, String>,
);

fn event_row(user: i64, seq: i64, event: &AuditEvent, text: String) -> EventRow {
    (
        audit_events::user_id.eq(user),
        audit_events::seq.eq(seq),
        audit_events::at.eq(event.at),
        audit_events::event_type.eq(event.kind.clone()),
        audit_events::event.eq(text),
    )
}

/// A `webhook_deliveries` row as Diesel inserts it.
type DeliveryRow = (
    diesel::dsl::Eq<webhook_deliveries::receiver, String>,
    diesel::dsl::Eq<webhook_deliveries::user_id, i64>,
    diesel::dsl::Eq<webhook_deliveries::seq, i64>,
    diesel::dsl::Eq<webhook_deliveries::event, String>,
    diesel::dsl::Eq<webhook_deliveries::due_at, i64>,
    diesel::dsl::Eq<webhook_deliveries::created_at, i64>,
);

/// The outbox rows of `event` (as `text`): one per receiver that wants it.
fn delivery_rows(
    trail: &Trail,
    user: i64,
    seq: i64,
    event: &AuditEvent,
    text: &str,
    at: Timestamp,
) -> Vec<DeliveryRow> {
    trail
        .subscriptions
        .iter()
        .filter(|subscription| subscription.wants(&event.kind))
        .map(|subscription| {
            (
                webhook_deliveries::receiver.eq(subscription.receiver.clone()),
                webhook_deliveries::user_id.eq(user),
                webhook_deliveries::seq.eq(seq),
                webhook_deliveries::event.eq(text.to_owned()),
                webhook_deliveries::due_at.eq(at.as_millis()),
                webhook_deliveries::created_at.eq(at.as_millis()),
            )
        })
        .collect()
}

#[derive(QueryableByName)]
struct BumpedHead {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    user_id: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    seq: i64,
    #[diesel(sql_type = diesel::sql_types::Text)]
    hash: String,
}

/// `token.revoked` for each token a `DELETE … RETURNING`
/// [`DELETED_TOKEN`](crate::token_rows::DELETED_TOKEN) took, inside its
/// transaction, with `also` (the change's own event, if any); returns the
/// deleted fingerprints.
pub(crate) fn append_revoked(
    conn: &mut AnyConnection,
    trail: &Trail,
    deleted: Vec<DeletedToken>,
    actor: &Actor,
    reason: RevokeReason,
    at: Timestamp,
) -> Result<Vec<Vec<u8>>, DieselError> {
    append_revoked_with(conn, trail, deleted, actor, reason, None, at)
}

/// [`append_revoked`] with one more event of the same change. The events
/// are appended by ascending user, so two changes touching several users'
/// chains (two clients deleted at once) lock their heads in the same order
/// and never deadlock.
pub(crate) fn append_revoked_with(
    conn: &mut AnyConnection,
    trail: &Trail,
    deleted: Vec<DeletedToken>,
    actor: &Actor,
    reason: RevokeReason,
    also: Option<EventDraft>,
    at: Timestamp,
) -> Result<Vec<Vec<u8>>, DieselError> {
    let mut hashes = Vec::with_capacity(deleted.len());
    let mut events = Vec::with_capacity(deleted.len() + 1);
    for (hash, user, id) in deleted {
        let user = crate::token_rows::user_of(user)?;
        let id = crate::token_rows::parsed_token_id(&id)?;
        events.push(EventDraft::revoked(user, id, actor.clone(), reason));
        hashes.push(hash);
    }
    events.extend(also);
    events.sort_by_key(|event| event.user);
    for event in &events {
        append(conn, trail, event, at)?;
    }
    Ok(hashes)
}

#[derive(Clone)]
pub struct DieselAuditLog {
    store: Store,
}

impl std::fmt::Debug for DieselAuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DieselAuditLog").finish_non_exhaustive()
    }
}

impl DieselAuditLog {
    pub fn new(store: Store) -> Self {
        Self { store }
    }
}

impl AuditLog for DieselAuditLog {
    fn events(&self, user: UserId, after: u64, limit: usize) -> anyhow::Result<Vec<AuditEvent>> {
        let after = i64::try_from(after).unwrap_or(i64::MAX);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows: Vec<(i64, String)> =
            self.store.read_query("reading the audit trail", |conn| {
                audit_events::table
                    .filter(audit_events::user_id.eq(user.get()))
                    .filter(audit_events::seq.gt(after))
                    .order(audit_events::seq.asc())
                    .limit(limit)
                    .select((audit_events::seq, audit_events::event))
                    .load(conn)
            })?;
        rows.into_iter()
            .map(|(seq, text)| {
                serde_json::from_str(&text).map_err(|e| {
                    anyhow::Error::new(UnreadableEvent {
                        seq: u64::try_from(seq).unwrap_or(0),
                        reason: e.to_string(),
                    })
                    .context(format!("user {user}"))
                })
            })
            .collect()
    }

    fn headless(&self) -> anyhow::Result<Vec<UserId>> {
        let users: Vec<i64> = self.store.read_query("reading the audit heads", |conn| {
            audit_events::table
                .filter(diesel::dsl::not(diesel::dsl::exists(
                    audit_heads::table.filter(audit_heads::user_id.eq(audit_events::user_id)),
                )))
                .select(audit_events::user_id)
                .distinct()
                .order(audit_events::user_id.asc())
                .load(conn)
        })?;
        users.into_iter().map(|u| Ok(UserId::new(u)?)).collect()
    }

    fn heads(&self) -> anyhow::Result<Vec<(UserId, u64, String)>> {
        let rows: Vec<(i64, i64, String)> =
            self.store.read_query("reading the audit heads", |conn| {
                audit_heads::table
                    .order(audit_heads::user_id.asc())
                    .select((audit_heads::user_id, audit_heads::seq, audit_heads::hash))
                    .load(conn)
            })?;
        rows.into_iter()
            .map(|(user, seq, hash)| Ok((UserId::new(user)?, u64::try_from(seq)?, hash)))
            .collect()
    }
}
