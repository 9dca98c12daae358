//! Suspended users. The suspension row is the truth; each
//! of the user's tokens mirrors it (`owner_suspended`) so verification reads
//! it from the token's own row and the refusal trigger announces it. A
//! per-user transaction lock on PostgreSQL (the write gate on SQLite) makes
//! a suspension and a concurrent creation, rotation or grant for the same
//! user happen one after the other, never interleaved.

use std::collections::HashSet;

use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, QueryFragment};
use diesel::result::Error as DieselError;
use diesel::sql_types::{Array, Integer};
use tessera_domain::{EventDraft, Timestamp, TokenHash, UserId};

use crate::audit::append;

use crate::connection::{AnyConnection, Backend};
use crate::schema::{api_tokens, suspended_users};
use crate::store::Store;

/// Namespace of the per-user advisory locks (the revocation log's lock is
/// the single-key 7261535).
const USER_LOCK_SPACE: i32 = 7_261_536;

/// Takes the user's lock for a suspension or its end: exclusive until the
/// transaction ends (PostgreSQL); SQLite's single writer already
/// serialises every write.
pub(crate) fn lock_user(
    conn: &mut AnyConnection,
    backend: Backend,
    user: i64,
) -> Result<(), DieselError> {
    advisory(conn, backend, user, "pg_advisory_xact_lock")
}

/// Whether a token may be issued to `user` (a creation, a rotation, a
/// grant): takes the user's lock shared — issuers never wait for each other,
/// only for a suspension — then reads the suspension under it, so a
/// suspension that commits can never miss a token issued beside it.
pub(crate) fn may_issue_to(
    conn: &mut AnyConnection,
    backend: Backend,
    user: i64,
) -> Result<bool, DieselError> {
    advisory(conn, backend, user, "pg_advisory_xact_lock_shared")?;
    Ok(!is_suspended(conn, user)?)
}

/// What [`users_to_issue_to`] found of a batch's users.
#[derive(Debug, Default)]
pub(crate) struct Issuable {
    /// Suspended: their creations are refused.
    pub(crate) suspended: HashSet<i64>,
    /// Their lock is held (a suspension under way, on PostgreSQL): their
    /// creations are left out of the batch, to wait for it on their own
    /// rather than hold the batch's other users up.
    pub(crate) busy: HashSet<i64>,
}

/// [`may_issue_to`] of a creation batch's users, without waiting: each
/// user's lock taken shared if it is free, then the suspensions of those
/// whose lock was had read under it. Two statements whatever their number.
pub(crate) fn users_to_issue_to(
    conn: &mut AnyConnection,
    users: &[i64],
) -> Result<Issuable, DieselError> {
    let mut issuable = Issuable::default();
    if let AnyConnection::Postgresql(pg) = conn {
        let mut keys: Vec<i32> = users.iter().map(|&user| lock_key(user)).collect();
        keys.sort_unstable();
        keys.dedup();
        let busy: HashSet<i32> = TryUserLocks { keys: &keys }
            .load::<BusyKey>(pg)?
            .into_iter()
            .map(|row| row.key)
            .collect();
        issuable.busy = users
            .iter()
            .copied()
            .filter(|&user| busy.contains(&lock_key(user)))
            .collect();
    }
    let locked: Vec<i64> = users
        .iter()
        .copied()
        .filter(|user| !issuable.busy.contains(user))
        .collect();
    issuable.suspended = suspended_users::table
        .filter(suspended_users::user_id.eq_any(locked))
        .select(suspended_users::user_id)
        .load::<i64>(conn)?
        .into_iter()
        .collect();
    Ok(issuable)
}

/// The users' shared locks tried, the keys whose lock a suspension holds
/// answered; fixed text, prepared once per connection.
struct TryUserLocks<'a> {
    keys: &'a [i32],
}

fixed_statement!(TryUserLocks<'_>, id TryUserLocks<'static>, on PgConnection, rows diesel::sql_types::Untyped);

impl QueryFragment<Pg> for TryUserLocks<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql("SELECT key FROM unnest(");
        out.push_bind_param::<Array<Integer>, _>(self.keys)?;
        out.push_sql(") AS key WHERE NOT pg_try_advisory_xact_lock_shared(");
        out.push_bind_param::<Integer, _>(&USER_LOCK_SPACE)?;
        out.push_sql(", key)");
        Ok(())
    }
}

#[derive(QueryableByName)]
struct BusyKey {
    #[diesel(sql_type = diesel::sql_types::Integer)]
    key: i32,
}

/// Two 32-bit keys: users that share one only wait for each other.
fn lock_key(user: i64) -> i32 {
    i32::try_from(user.rem_euclid(i64::from(i32::MAX))).unwrap_or_default()
}

fn advisory(
    conn: &mut AnyConnection,
    backend: Backend,
    user: i64,
    function: &str,
) -> Result<(), DieselError> {
    if backend == Backend::Postgres {
        diesel::sql_query(format!("SELECT {function}($1, $2)"))
            .bind::<diesel::sql_types::Integer, _>(USER_LOCK_SPACE)
            .bind::<diesel::sql_types::Integer, _>(lock_key(user))
            .execute(conn)?;
    }
    Ok(())
}

/// Whether `user` is suspended; call with the user's lock held.
pub(crate) fn is_suspended(conn: &mut AnyConnection, user: i64) -> Result<bool, DieselError> {
    suspended_users::table
        .find(user)
        .count()
        .get_result::<i64>(conn)
        .map(|found| found > 0)
}

#[derive(Insertable)]
#[diesel(table_name = suspended_users)]
struct SuspensionRow<'a> {
    user_id: i64,
    reason: Option<&'a str>,
    suspended_at: i64,
}

pub(crate) fn suspend(
    store: &Store,
    user: UserId,
    reason: Option<&str>,
    now: Timestamp,
) -> anyhow::Result<Vec<TokenHash>> {
    let trail = store.trail();
    let backend = trail.backend();
    let refused = store.write_query("suspending a user", |conn| {
        conn.transaction(|conn| {
            lock_user(conn, backend, user.get())?;
            let new = !is_suspended(conn, user.get())?;
            if new {
                diesel::insert_into(suspended_users::table)
                    .values(&SuspensionRow {
                        user_id: user.get(),
                        reason,
                        suspended_at: now.as_millis(),
                    })
                    .execute(conn)?;
            }
            // The refusal is announced (the revocation log's lock) before
            // the audit head is taken: every transaction takes the two in
            // that order, so none waits for the other in a circle.
            let refused =
                diesel::update(api_tokens::table.filter(api_tokens::user_id.eq(user.get())))
                    .set(api_tokens::owner_suspended.eq(true))
                    .returning(api_tokens::token_hash)
                    .get_results::<Vec<u8>>(conn)?;
            if new {
                append(conn, &trail, &EventDraft::suspended(user, reason), now)?;
            }
            Ok(refused)
        })
    })?;
    crate::token_hashes(refused)
}

pub(crate) fn resume(
    store: &Store,
    user: UserId,
    at: Timestamp,
) -> anyhow::Result<Option<Vec<TokenHash>>> {
    let trail = store.trail();
    let backend = trail.backend();
    let restored = store.write_query("resuming a user", |conn| {
        conn.transaction(|conn| {
            lock_user(conn, backend, user.get())?;
            let lifted = diesel::delete(suspended_users::table.find(user.get())).execute(conn)?;
            if lifted == 0 {
                return Ok(None);
            }
            // Announced before the head is taken, as for a suspension.
            let restored =
                diesel::update(api_tokens::table.filter(api_tokens::user_id.eq(user.get())))
                    .set(api_tokens::owner_suspended.eq(false))
                    .returning(api_tokens::token_hash)
                    .get_results::<Vec<u8>>(conn)?;
            append(conn, &trail, &EventDraft::resumed(user), at)?;
            Ok(Some(restored))
        })
    })?;
    restored.map(crate::token_hashes).transpose()
}
