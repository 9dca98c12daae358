//! Diesel adapters of Tessera's storage ports. One code path serves
//! PostgreSQL (production) and an embedded SQLite file (zero-setup default):
//! the backend is chosen from the URL scheme at startup.

/// A statement of our own whose text never changes: a static query id, so
/// each connection prepares it once and reuses it (Diesel prepares every
/// `sql_query`, and every `IN` list through a connection of either
/// backend, anew on each execution). `rows` gives the SQL type of what it
/// returns (`Untyped` for a `QueryableByName` row).
macro_rules! fixed_statement {
    ($statement:ty, id $id:ty, on $connection:ty $(, rows $rows:ty)?) => {
        impl diesel::query_builder::QueryId for $statement {
            type QueryId = $id;
            const HAS_STATIC_QUERY_ID: bool = true;
        }

        impl diesel::query_dsl::RunQueryDsl<$connection> for $statement {}

        $(
            impl diesel::query_builder::Query for $statement {
                type SqlType = $rows;
            }
        )?
    };
}

mod audit;
mod connection;
mod failure;
mod idempotency;
mod oauth;
mod revocations;
mod rotation;
mod schema;
mod store;
mod suspensions;
mod token_rows;
mod tokens;
mod usage;
mod webhooks;

#[cfg(feature = "testing")]
pub mod testing;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use diesel::r2d2::Pool;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use serde::Deserialize;
use tessera_domain::SecretString;
use tessera_domain::webhooks::Subscription;

pub use audit::DieselAuditLog;
pub use connection::{
    AnyConnection, Backend, ConnectionManager, Deadlines, open_postgres,
    postgres_url_with_deadlines,
};
pub use failure::Circuit;
pub use idempotency::DieselIdempotencyStore;
pub use oauth::DieselOAuthRepository;
pub use revocations::{DieselRevocationLog, HeartbeatSender, RevocationListener};
pub use store::{Store, WriteGate};
pub use tokens::DieselTokenRepository;
pub use webhooks::DieselWebhookOutbox;

const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");
const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");

/// The `[database]` configuration section.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    /// `sqlite://PATH` or `postgres://…`; may hold a password, hence secret.
    pub url: SecretString,
    #[serde(default = "default_pool_size")]
    pub pool_size: u32,
    /// Longest wait for a pooled connection before answering `503`.
    #[serde(default = "default_acquire_timeout")]
    pub acquire_timeout_ms: u64,
    /// Longest a statement may run (PostgreSQL `statement_timeout`, the
    /// SQLite busy wait) before answering `503`.
    #[serde(default = "default_statement_timeout")]
    pub statement_timeout_ms: u64,
}

impl DatabaseSettings {
    /// Settings for `url` with every other key at its default.
    pub fn for_url(url: impl Into<String>) -> Self {
        Self {
            url: SecretString::new(url.into()),
            pool_size: default_pool_size(),
            acquire_timeout_ms: default_acquire_timeout(),
            statement_timeout_ms: default_statement_timeout(),
        }
    }

    pub fn deadlines(&self) -> Deadlines {
        Deadlines {
            acquire: Duration::from_millis(self.acquire_timeout_ms.max(1)),
            statement: Duration::from_millis(self.statement_timeout_ms.max(1)),
        }
    }

    /// The URL without its password, for logs.
    pub fn redacted_url(&self) -> String {
        redact_url(self.url.expose())
    }
}

/// `scheme://user:secret@host/…` → `scheme://user:***@host/…`; a
/// `password=` query parameter is masked too.
pub fn redact_url(url: &str) -> String {
    let mut out = url.to_owned();
    if let Some(start) = out.find("://").map(|i| i + 3) {
        let authority_end = out[start..]
            .find(['/', '?'])
            .map_or(out.len(), |i| start + i);
        if let Some(at) = out[start..authority_end].rfind('@').map(|i| start + i)
            && let Some(colon) = out[start..at].find(':').map(|i| start + i)
        {
            out.replace_range(colon + 1..at, "***");
        }
    }
    if let Some(query_start) = out.find('?') {
        let (head, query) = out.split_at(query_start + 1);
        let masked: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=***"),
                _ => pair.to_owned(),
            })
            .collect();
        out = format!("{head}{}", masked.join("&"));
    }
    out
}

fn default_pool_size() -> u32 {
    8
}

fn default_acquire_timeout() -> u64 {
    500
}

fn default_statement_timeout() -> u64 {
    2000
}

#[derive(Debug, thiserror::Error)]
pub enum DatabaseError {
    #[error("database.url must start with sqlite:// or postgres:// (got scheme {0:?})")]
    UnsupportedUrl(String),
    #[error("database.pool_size must be at least 1")]
    EmptyPool,
    #[error("cannot create the SQLite folder {path}: {source}")]
    SqliteFolder {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot connect to the {backend} database: {detail}")]
    Connect { backend: Backend, detail: String },
    #[error("database migration failed: {0}")]
    Migration(String),
    #[error("database pool: {0}")]
    Pool(#[from] diesel::r2d2::PoolError),
}

pub type DbPool = Pool<ConnectionManager>;

/// A stored fingerprint (token, code, client secret) back from its bytes.
pub(crate) fn hash_of(bytes: Vec<u8>, what: &str) -> anyhow::Result<tessera_domain::TokenHash> {
    let array: [u8; 32] = bytes
        .try_into()
        .map_err(|_| anyhow::anyhow!("{what} fingerprint is not 32 bytes"))?;
    Ok(tessera_domain::TokenHash(array))
}

/// The fingerprints of token rows a statement returned.
pub(crate) fn token_hashes(rows: Vec<Vec<u8>>) -> anyhow::Result<Vec<tessera_domain::TokenHash>> {
    rows.into_iter()
        .map(|bytes| hash_of(bytes, "token"))
        .collect()
}

/// A snapshot of the pool, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolState {
    pub connections: u32,
    pub idle: u32,
    pub max_size: u32,
}

/// A pool of connections to one database, and what can be done with it.
#[derive(Clone)]
pub struct Database {
    store: Store,
    queries: Arc<AtomicU64>,
    alive: Arc<()>,
    deadlines: Deadlines,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("backend", &self.store.backend())
            .field("pool", &self.store.pool().state())
            .finish()
    }
}

/// r2d2 logs every failed connection attempt, several a second while the
/// database is down; the circuit reports the outage once instead.
#[derive(Debug)]
struct QuietErrors;

impl diesel::r2d2::HandleError<connection::ManagerError> for QuietErrors {
    fn handle_error(&self, error: connection::ManagerError) {
        tracing::debug!(%error, "opening a pooled connection failed");
    }
}

impl Database {
    /// Connects once directly, so a wrong URL or an unreachable server fails
    /// here with the driver's own message, then builds the pool.
    pub fn connect(settings: &DatabaseSettings) -> Result<Self, DatabaseError> {
        if settings.pool_size == 0 {
            return Err(DatabaseError::EmptyPool);
        }
        let deadlines = settings.deadlines();
        let manager = ConnectionManager::from_url(settings.url.expose(), deadlines)?;
        let backend = manager.backend();
        let queries = manager.queries();
        let circuit = manager.circuit();
        let alive = manager.alive();
        drop(manager.open()?);
        let pool = Pool::builder()
            .max_size(settings.pool_size)
            .min_idle(Some(1))
            .connection_timeout(deadlines.acquire)
            .error_handler(Box::new(QuietErrors))
            // No `SELECT 1` per checkout (a round trip on the hot path): a
            // connection whose server went away is marked broken by the
            // query that found out, and dropped when it comes back.
            .test_on_check_out(false)
            .build(manager)?;
        Ok(Self {
            store: Store::new(pool, backend, circuit, deadlines.statement),
            queries,
            alive,
            deadlines,
        })
    }

    /// Writes an outbox row with every appended event a receiver wants.
    /// Set before the repositories are made: they copy the store.
    #[must_use]
    pub fn with_subscriptions(mut self, subscriptions: Vec<Subscription>) -> Self {
        self.store.set_subscriptions(subscriptions);
        self
    }

    pub fn backend(&self) -> Backend {
        self.store.backend()
    }

    pub fn deadlines(&self) -> Deadlines {
        self.deadlines
    }

    /// Whether the circuit is open: the database was found down and
    /// requests are answered `503` at once until a probe gets through.
    pub fn circuit_open(&self) -> bool {
        self.store.circuit().is_open()
    }

    /// Closes the pool and waits (at most `within`) until no pool thread
    /// is opening or closing a connection: a process must not exit while
    /// one is inside libpq or OpenSSL (their exit handlers would pull the
    /// ground from under it). Other clones of this `Database` must be
    /// dropped first; returns whether everything closed in time.
    pub fn close(self, within: Duration) -> bool {
        let alive = self.alive.clone();
        drop(self);
        let deadline = std::time::Instant::now() + within;
        while Arc::strong_count(&alive) > 1 {
            if std::time::Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        true
    }

    /// Connections open, of them idle, and the most the pool opens.
    pub fn pool_state(&self) -> PoolState {
        let pool = self.store.pool();
        let state = pool.state();
        PoolState {
            connections: state.connections,
            idle: state.idle_connections,
            max_size: pool.max_size(),
        }
    }

    /// Queries run through this pool so far.
    pub fn queries_run(&self) -> u64 {
        self.queries.load(Ordering::Relaxed)
    }

    /// Applies pending migrations; returns how many ran.
    pub fn migrate(&self) -> Result<usize, DatabaseError> {
        let mut conn = self.store.pool().get()?;
        let migrations = self.migrations();
        conn.run_pending_migrations(migrations)
            .map(|applied| applied.len())
            .map_err(|e| DatabaseError::Migration(e.to_string()))
    }

    /// Whether migrations this binary carries are not applied yet.
    pub fn has_pending_migrations(&self) -> Result<bool, DatabaseError> {
        let mut conn = self.store.pool().get()?;
        let migrations = self.migrations();
        conn.has_pending_migration(migrations)
            .map_err(|e| DatabaseError::Migration(e.to_string()))
    }

    /// Reverts every migration (tests of the down scripts).
    pub fn revert_all(&self) -> Result<usize, DatabaseError> {
        let mut conn = self.store.pool().get()?;
        let migrations = self.migrations();
        conn.revert_all_migrations(migrations)
            .map(|reverted| reverted.len())
            .map_err(|e| DatabaseError::Migration(e.to_string()))
    }

    pub fn token_repository(&self) -> DieselTokenRepository {
        DieselTokenRepository::new(self.store.clone())
    }

    pub fn revocation_log(&self) -> DieselRevocationLog {
        DieselRevocationLog::new(self.store.clone())
    }

    pub fn audit_log(&self) -> DieselAuditLog {
        DieselAuditLog::new(self.store.clone())
    }

    pub fn webhook_outbox(&self) -> DieselWebhookOutbox {
        DieselWebhookOutbox::new(self.store.clone())
    }

    /// A listener for other instances' revocations and the heartbeat that
    /// proves it alive; PostgreSQL only (an SQLite instance follows the
    /// revocation log instead).
    pub fn revocation_listener(
        &self,
        url: &str,
        cache: std::sync::Arc<dyn tessera_domain::RevocationSink>,
    ) -> Option<(RevocationListener, HeartbeatSender)> {
        (self.backend() == Backend::Postgres).then(|| {
            let url = postgres_url_with_deadlines(url, self.deadlines);
            revocations::listener_pair(
                &url,
                self.deadlines.statement,
                cache,
                Arc::new(self.revocation_log()),
            )
        })
    }

    pub fn idempotency_store(&self) -> DieselIdempotencyStore {
        DieselIdempotencyStore::new(self.store.clone())
    }

    pub fn oauth_repository(&self) -> DieselOAuthRepository {
        DieselOAuthRepository::new(self.store.clone())
    }

    fn migrations(&self) -> EmbeddedMigrations {
        match self.backend() {
            Backend::Postgres => POSTGRES_MIGRATIONS,
            Backend::Sqlite => SQLITE_MIGRATIONS,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `.cargo/config.toml` builds the bundled SQLite with the query
    /// planner's stability guarantee. Without it SQLite prepares a cached
    /// statement again whenever a parameter the planner looked at (any
    /// `LIMIT ?`) is bound again, which is on every execution.
    #[test]
    fn the_bundled_sqlite_keeps_its_prepared_statements() {
        use diesel::{Connection as _, RunQueryDsl as _};
        let mut conn = diesel::SqliteConnection::establish(":memory:").expect("in-memory SQLite");
        let compiled_in = diesel::select(diesel::dsl::sql::<diesel::sql_types::Integer>(
            "sqlite_compileoption_used('ENABLE_QPSG')",
        ))
        .get_result::<i32>(&mut conn)
        .expect("asked SQLite");
        assert_eq!(compiled_in, 1, "SQLite built without SQLITE_ENABLE_QPSG");
    }

    #[test]
    fn logged_urls_hide_passwords() {
        assert_eq!(
            redact_url("postgres://tessera:s3cret@db:5432/tessera?sslmode=require"),
            "postgres://tessera:***@db:5432/tessera?sslmode=require"
        );
        assert_eq!(
            redact_url("postgres://db/tessera?user=t&password=s3cret"),
            "postgres://db/tessera?user=t&password=***"
        );
        assert_eq!(
            redact_url("sqlite://data/tessera.db"),
            "sqlite://data/tessera.db"
        );
    }

    #[test]
    fn postgres_urls_get_deadlines_unless_they_set_their_own() {
        let deadlines = Deadlines {
            acquire: Duration::from_millis(500),
            statement: Duration::from_millis(2000),
        };
        let url = postgres_url_with_deadlines("postgres://db/t?connect_timeout=9", deadlines);
        assert!(
            url.starts_with("postgres://db/t?connect_timeout=9&"),
            "{url}"
        );
        assert_eq!(url.matches("connect_timeout").count(), 1, "{url}");
        assert!(url.contains("keepalives=1"), "{url}");
        assert!(url.contains("tcp_user_timeout=2500"), "{url}");
        let bare = postgres_url_with_deadlines("postgres://db/t", deadlines);
        assert!(
            bare.starts_with("postgres://db/t?connect_timeout=2&"),
            "{bare}"
        );
    }
}
