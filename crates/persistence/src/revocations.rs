//! The revocation log on Diesel (filled by database triggers on every token
//! deletion), and the PostgreSQL listener that turns other instances'
//! deletions into cache invalidations here within the poll interval.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::result::Error as DieselError;
use tessera_domain::{
    Revocation, RevocationLog, RevocationPage, RevocationSink, Timestamp, TokenHash,
};

use crate::schema::{token_revocation_purges, token_revocations};
use crate::store::{Store, StoreContext as _};

/// The channel the `api_tokens_revoked` trigger notifies.
pub const CHANNEL: &str = "tessera_revocations";

#[derive(Clone)]
pub struct DieselRevocationLog {
    store: Store,
}

impl std::fmt::Debug for DieselRevocationLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DieselRevocationLog")
            .finish_non_exhaustive()
    }
}

impl DieselRevocationLog {
    pub fn new(store: Store) -> Self {
        Self { store }
    }
}

impl RevocationLog for DieselRevocationLog {
    fn after(&self, after: i64, limit: usize) -> anyhow::Result<RevocationPage> {
        self.store.read("reading revocations", |conn| {
            let rows: Vec<(i64, Vec<u8>, i64)> = token_revocations::table
                .filter(token_revocations::id.gt(after))
                .order(token_revocations::id.asc())
                .limit(i64::try_from(limit).unwrap_or(i64::MAX))
                .select((
                    token_revocations::id,
                    token_revocations::token_hash,
                    token_revocations::revoked_at,
                ))
                .load(conn)
                .store_context("reading revocations")?;
            let purged_through = token_revocation_purges::table
                .find(1_i16)
                .select(token_revocation_purges::purged_through)
                .get_result::<i64>(conn)
                .optional()
                .store_context("reading the purge mark")?
                .unwrap_or(0);
            let entries = rows
                .into_iter()
                .map(|(cursor, hash, revoked_at)| {
                    Ok(Revocation {
                        cursor,
                        hash: crate::hash_of(hash, &format!("revocation {cursor}:"))?,
                        revoked_at: Timestamp::from_millis(revoked_at),
                    })
                })
                .collect::<anyhow::Result<_>>()?;
            Ok(RevocationPage {
                entries,
                purged_through,
            })
        })
    }

    fn last_cursor(&self) -> anyhow::Result<i64> {
        self.store.read("reading revocations", |conn| {
            let newest: Option<i64> = token_revocations::table
                .select(diesel::dsl::max(token_revocations::id))
                .get_result(conn)
                .store_context("reading the newest revocation")?;
            match newest {
                Some(cursor) => Ok(cursor),
                None => Ok(token_revocation_purges::table
                    .find(1_i16)
                    .select(token_revocation_purges::purged_through)
                    .get_result::<i64>(conn)
                    .optional()
                    .store_context("reading the purge mark")?
                    .unwrap_or(0)),
            }
        })
    }

    fn purge_before(&self, cutoff: Timestamp) -> anyhow::Result<usize> {
        self.store.write_query("purging revocations", |conn| {
            conn.transaction::<usize, DieselError, _>(|conn| {
                let last: Option<i64> = token_revocations::table
                    .filter(token_revocations::revoked_at.lt(cutoff.as_millis()))
                    .select(diesel::dsl::max(token_revocations::id))
                    .get_result(conn)?;
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
        })
    }
}

/// Listens on PostgreSQL for revocations made by any instance and drops
/// them from this instance's cache, and proves its revocation view fresh.
///
/// The proof is a heartbeat: [`HeartbeatSender`] notifies this instance's
/// own channel, on another connection, with the moment it started and the
/// revocation log's last committed cursor. PostgreSQL delivers
/// notifications in commit order, so when a heartbeat comes back every
/// revocation committed before it was sent has come back too: the view is
/// fresh as of that moment. A connection that stops delivering (stalled,
/// half-open, partitioned) stops proving, the view goes stale within the
/// deadline, and the listener reconnects and catches up from the log's
/// cursor. Call [`RevocationListener::poll`] often; it never waits on the
/// network except to reconnect.
pub struct RevocationListener {
    url: String,
    statement_timeout: Duration,
    cache: Arc<dyn RevocationSink>,
    log: Arc<dyn RevocationLog>,
    channel: String,
    conn: Option<PgConnection>,
    /// Every revocation up to this cursor has been applied.
    cursor: Option<i64>,
    /// When the current connection last showed it delivers: connected, or
    /// a heartbeat came back.
    last_heard: Instant,
}

impl std::fmt::Debug for RevocationListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RevocationListener")
            .field("connected", &self.conn.is_some())
            .field("cursor", &self.cursor)
            .finish_non_exhaustive()
    }
}

/// Revocations read per catch-up statement.
const CATCH_UP_PAGE: usize = 1000;

/// A listener and the heartbeat that proves it, on one instance's channel.
pub(crate) fn listener_pair(
    url: &str,
    statement_timeout: Duration,
    cache: Arc<dyn RevocationSink>,
    log: Arc<dyn RevocationLog>,
) -> (RevocationListener, HeartbeatSender) {
    let channel = heartbeat_channel();
    let sender = HeartbeatSender {
        url: url.to_owned(),
        statement_timeout,
        cache: cache.clone(),
        channel: channel.clone(),
        conn: None,
    };
    let listener = RevocationListener {
        url: url.to_owned(),
        statement_timeout,
        cache,
        log,
        channel,
        conn: None,
        cursor: None,
        last_heard: Instant::now(),
    };
    (listener, sender)
}

/// A channel name of this instance alone: instances on one database do
/// not hear each other's heartbeats.
fn heartbeat_channel() -> String {
    static INSTANCES: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "tessera_heartbeat_{:x}_{:x}_{nanos:x}",
        std::process::id(),
        INSTANCES.fetch_add(1, Ordering::Relaxed)
    )
}

impl RevocationListener {
    /// How long the connection may stay silent: the revocation deadline.
    fn silence_limit(&self) -> Duration {
        self.cache
            .view()
            .max_staleness()
            .unwrap_or(Duration::from_secs(1))
    }

    /// Listens, then reads what was committed since the last applied
    /// cursor (all of it before `LISTEN` took effect is in the log; all of
    /// it after arrives as notifications), then proves the view fresh as
    /// of the moment listening began.
    fn connect(&mut self) -> anyhow::Result<()> {
        let mut conn = crate::connection::open_postgres(&self.url, self.statement_timeout)
            .map_err(anyhow::Error::msg)
            .context("connecting the revocation listener")?;
        conn.batch_execute(&format!("LISTEN {CHANNEL}; LISTEN {}", self.channel))
            .context("LISTEN")?;
        let listening = Instant::now();
        match self.cursor {
            None => {
                // Nothing read before: anything cached meanwhile (from the
                // database, while this was down) is dropped once.
                self.cursor = Some(self.log.last_cursor()?);
                self.cache.invalidate_all();
            }
            Some(mut cursor) => loop {
                let page = self.log.after(cursor, CATCH_UP_PAGE)?;
                if page.purged_through > cursor {
                    // Entries this instance never saw are gone.
                    self.cache.invalidate_all();
                    cursor = page.purged_through;
                }
                let hashes: Vec<TokenHash> = page.entries.iter().map(|r| r.hash).collect();
                self.cache.invalidate(&hashes);
                if let Some(last) = page.entries.last() {
                    cursor = cursor.max(last.cursor);
                }
                self.cursor = Some(cursor);
                if page.entries.len() < CATCH_UP_PAGE {
                    break;
                }
            },
        }
        self.conn = Some(conn);
        self.last_heard = Instant::now();
        self.cache.view().prove(listening);
        Ok(())
    }

    /// Applies the revocations and heartbeats that arrived; reconnects
    /// when the connection broke or stayed silent past the deadline. An
    /// error means it is not listening now (it tries again next poll).
    pub fn poll(&mut self) -> anyhow::Result<()> {
        if self.conn.is_none() {
            self.connect()?;
        }
        let Some(conn) = self.conn.as_mut() else {
            return Ok(());
        };
        let mut hashes = Vec::new();
        let mut beat: Option<(i64, u64)> = None;
        let mut broken = None;
        for notification in conn.notifications_iter() {
            match notification {
                Ok(notification) if notification.channel == self.channel => {
                    if let Some((cursor, stamp)) = parse_heartbeat(&notification.payload) {
                        beat = Some(
                            beat.map_or((cursor, stamp), |(c, s)| (c.max(cursor), s.max(stamp))),
                        );
                    }
                }
                Ok(notification) => hashes.extend(parse_hash(&notification.payload)),
                Err(error) => {
                    broken = Some(error.to_string());
                    break;
                }
            }
        }
        // Revocations first: a heartbeat vouches for those before it.
        self.cache.invalidate(&hashes);
        if let Some((cursor, stamp)) = beat {
            self.cursor = Some(self.cursor.map_or(cursor, |c| c.max(cursor)));
            let view = self.cache.view();
            view.prove(view.instant_of(stamp));
            self.last_heard = Instant::now();
        }
        if let Some(error) = broken {
            self.conn = None;
            anyhow::bail!("the revocation listener lost its connection: {error}");
        }
        let silent = self.last_heard.elapsed();
        if silent > self.silence_limit() {
            self.conn = None;
            anyhow::bail!(
                "no heartbeat came back on the revocation listener's connection for {} ms: \
                 reconnecting",
                silent.as_millis()
            );
        }
        Ok(())
    }
}

/// Sends the heartbeats [`RevocationListener`] waits for, on a connection
/// of its own (a stalled pool or listener must not stop it, and it must not
/// queue behind requests for a pooled connection).
pub struct HeartbeatSender {
    url: String,
    statement_timeout: Duration,
    cache: Arc<dyn RevocationSink>,
    channel: String,
    conn: Option<PgConnection>,
}

impl std::fmt::Debug for HeartbeatSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeartbeatSender")
            .field("channel", &self.channel)
            .finish_non_exhaustive()
    }
}

impl HeartbeatSender {
    /// How often to beat so that a healthy view never ages past `deadline`:
    /// four beats per deadline leave room for a late one.
    pub fn interval(deadline: Duration) -> Duration {
        (deadline / 4).max(Duration::from_millis(10))
    }

    /// One heartbeat: the moment it is sent and the log's last committed
    /// cursor (cursors grow in commit order, so all up to it committed).
    pub fn beat(&mut self) -> anyhow::Result<()> {
        let stamp = self.cache.view().stamp(Instant::now());
        if self.conn.is_none() {
            let conn = crate::connection::open_postgres(&self.url, self.statement_timeout)
                .map_err(anyhow::Error::msg)
                .context("connecting the revocation heartbeat")?;
            self.conn = Some(conn);
        }
        let Some(conn) = self.conn.as_mut() else {
            return Ok(());
        };
        let sql = format!(
            "SELECT pg_notify('{}', coalesce((SELECT max(id) FROM token_revocations), \
             (SELECT purged_through FROM token_revocation_purges WHERE id = 1), 0)::text \
             || ' {stamp}')",
            self.channel
        );
        if let Err(error) = conn.batch_execute(&sql) {
            self.conn = None;
            return Err(anyhow::Error::new(error).context("sending a revocation heartbeat"));
        }
        Ok(())
    }
}

/// `"<cursor> <stamp>"`.
fn parse_heartbeat(payload: &str) -> Option<(i64, u64)> {
    let (cursor, stamp) = payload.split_once(' ')?;
    Some((cursor.parse().ok()?, stamp.parse().ok()?))
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
    use super::{parse_hash, parse_heartbeat};

    #[test]
    fn notification_payloads_parse_as_fingerprints() {
        let hex = "ab".repeat(32);
        assert_eq!(parse_hash(&hex).map(|h| h.0), Some([0xab; 32]));
        assert_eq!(parse_hash("abc"), None);
        assert_eq!(parse_hash(&"zz".repeat(32)), None);
    }

    #[test]
    fn heartbeats_carry_a_cursor_and_a_stamp() {
        assert_eq!(parse_heartbeat("42 1234567"), Some((42, 1_234_567)));
        assert_eq!(parse_heartbeat("42"), None);
        assert_eq!(parse_heartbeat(&"ab".repeat(32)), None);
    }
}
