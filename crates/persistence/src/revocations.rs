//! The revocation log on Diesel (filled by database triggers on every token
//! deletion), and the PostgreSQL listener that turns other instances'
//! deletions into cache invalidations here within the poll interval.

use std::sync::Arc;

use anyhow::Context as _;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::Pool;
use diesel::result::Error as DieselError;
use tessera_domain::{Revocation, RevocationLog, RevocationPage, TokenCache, TokenHash};

use crate::connection::{ConnectionManager, WriteGate};
use crate::schema::{token_revocation_purges, token_revocations};

/// The channel the `api_tokens_revoked` trigger notifies.
pub const CHANNEL: &str = "tessera_revocations";

#[derive(Clone)]
pub struct DieselRevocationLog {
    pool: Pool<ConnectionManager>,
    gate: WriteGate,
}

impl std::fmt::Debug for DieselRevocationLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DieselRevocationLog")
            .finish_non_exhaustive()
    }
}

impl DieselRevocationLog {
    pub fn new(pool: Pool<ConnectionManager>, gate: WriteGate) -> Self {
        Self { pool, gate }
    }
}

impl RevocationLog for DieselRevocationLog {
    fn after(&self, after: i64, limit: usize) -> anyhow::Result<RevocationPage> {
        let mut conn = self
            .pool
            .get()
            .context("no database connection available")?;
        let rows: Vec<(i64, Vec<u8>, i64)> = token_revocations::table
            .filter(token_revocations::id.gt(after))
            .order(token_revocations::id.asc())
            .limit(i64::try_from(limit).unwrap_or(i64::MAX))
            .select((
                token_revocations::id,
                token_revocations::token_hash,
                token_revocations::revoked_at,
            ))
            .load(&mut conn)
            .context("reading revocations")?;
        let purged_through = token_revocation_purges::table
            .find(1_i16)
            .select(token_revocation_purges::purged_through)
            .first::<i64>(&mut conn)
            .optional()
            .context("reading the purge mark")?
            .unwrap_or(0);
        let entries = rows
            .into_iter()
            .map(|(cursor, hash, revoked_at)| {
                Ok(Revocation {
                    cursor,
                    hash: crate::hash_of(hash, &format!("revocation {cursor}:"))?,
                    revoked_at,
                })
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(RevocationPage {
            entries,
            purged_through,
        })
    }

    fn last_cursor(&self) -> anyhow::Result<i64> {
        let mut conn = self
            .pool
            .get()
            .context("no database connection available")?;
        let newest: Option<i64> = token_revocations::table
            .select(diesel::dsl::max(token_revocations::id))
            .first(&mut conn)
            .context("reading the newest revocation")?;
        match newest {
            Some(cursor) => Ok(cursor),
            None => Ok(token_revocation_purges::table
                .find(1_i16)
                .select(token_revocation_purges::purged_through)
                .first::<i64>(&mut conn)
                .optional()
                .context("reading the purge mark")?
                .unwrap_or(0)),
        }
    }

    fn purge_before(&self, cutoff: i64) -> anyhow::Result<usize> {
        let _writing = self.gate.enter();
        let mut conn = self
            .pool
            .get()
            .context("no database connection available")?;
        conn.transaction::<usize, DieselError, _>(|conn| {
            let last: Option<i64> = token_revocations::table
                .filter(token_revocations::revoked_at.lt(cutoff))
                .select(diesel::dsl::max(token_revocations::id))
                .first(conn)?;
            let Some(last) = last else {
                return Ok(0);
            };
            let purged =
                diesel::delete(token_revocations::table.filter(token_revocations::id.le(last)))
                    .execute(conn)?;
            diesel::update(token_revocation_purges::table.find(1_i16))
                .set(token_revocation_purges::purged_through.eq(last))
                .execute(conn)?;
            Ok(purged)
        })
        .context("purging revocations")
    }
}

/// Listens on PostgreSQL for revocations made by any instance and drops
/// them from this instance's cache. Call [`RevocationListener::poll`]
/// often (it never blocks): it reads what arrived on the socket.
pub struct RevocationListener {
    url: String,
    cache: Arc<TokenCache>,
    conn: Option<PgConnection>,
    polls_since_check: u32,
}

impl std::fmt::Debug for RevocationListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RevocationListener")
            .field("connected", &self.conn.is_some())
            .finish_non_exhaustive()
    }
}

/// Polls between liveness checks of the listening connection.
const POLLS_PER_CHECK: u32 = 200;

impl RevocationListener {
    pub fn new(url: &str, cache: Arc<TokenCache>) -> Self {
        Self {
            url: url.to_owned(),
            cache,
            conn: None,
            polls_since_check: 0,
        }
    }

    fn connect(&self) -> anyhow::Result<PgConnection> {
        let mut conn = PgConnection::establish(&self.url).context("connecting the listener")?;
        conn.batch_execute(&format!("LISTEN {CHANNEL}"))
            .context("LISTEN")?;
        Ok(conn)
    }

    /// Applies the revocations that arrived; reconnects when needed. While
    /// it was not listening it may have missed some, so a (re)connection
    /// empties the cache. An error means it is not listening (the caller
    /// logs it and polls again).
    pub fn poll(&mut self) -> anyhow::Result<()> {
        let conn = match &mut self.conn {
            Some(conn) => conn,
            None => {
                let conn = self.conn.insert(self.connect()?);
                self.cache.invalidate_all();
                conn
            }
        };
        let mut hashes = Vec::new();
        let mut broken = false;
        for notification in conn.notifications_iter() {
            match notification {
                Ok(notification) => hashes.extend(parse_hash(&notification.payload)),
                Err(error) => {
                    tracing::warn!(error = %error, "revocation listener lost its connection");
                    broken = true;
                    break;
                }
            }
        }
        self.polls_since_check += 1;
        if !broken && self.polls_since_check >= POLLS_PER_CHECK {
            // A half-open socket shows no error by itself.
            self.polls_since_check = 0;
            broken = conn.batch_execute("SELECT 1").is_err();
        }
        self.cache.invalidate(&hashes);
        if broken {
            self.conn = None;
            self.cache.invalidate_all();
        }
        Ok(())
    }
}

fn parse_hash(hex: &str) -> Option<TokenHash> {
    if hex.len() != 64 {
        return None;
    }
    let mut bytes = [0u8; 32];
    for (i, byte) in bytes.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(TokenHash(bytes))
}

#[cfg(test)]
mod tests {
    use super::parse_hash;

    #[test]
    fn notification_payloads_parse_as_fingerprints() {
        let hex = "ab".repeat(32);
        assert_eq!(parse_hash(&hex).map(|h| h.0), Some([0xab; 32]));
        assert_eq!(parse_hash("abc"), None);
        assert_eq!(parse_hash(&"zz".repeat(32)), None);
    }
}
