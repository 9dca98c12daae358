//! Diesel adapters of Tessera's storage ports. One code path serves
//! PostgreSQL (production) and an embedded SQLite file (zero-setup default):
//! the backend is chosen from the URL scheme at startup.

mod connection;
mod oauth;
mod revocations;
mod schema;
mod tokens;

#[cfg(feature = "testing")]
pub mod testing;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use diesel::r2d2::Pool;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use serde::Deserialize;
use tessera_domain::SecretString;

pub use connection::{AnyConnection, Backend, ConnectionManager, WriteGate};
pub use oauth::DieselOAuthRepository;
pub use revocations::{DieselRevocationLog, RevocationListener};
pub use tokens::DieselTokenRepository;

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
}

fn default_pool_size() -> u32 {
    8
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
    pool: DbPool,
    backend: Backend,
    queries: Arc<AtomicU64>,
    gate: WriteGate,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("backend", &self.backend)
            .field("pool", &self.pool.state())
            .finish()
    }
}

impl Database {
    /// Connects once directly, so a wrong URL or an unreachable server fails
    /// here with the driver's own message, then builds the pool.
    pub fn connect(settings: &DatabaseSettings) -> Result<Self, DatabaseError> {
        if settings.pool_size == 0 {
            return Err(DatabaseError::EmptyPool);
        }
        let manager = ConnectionManager::from_url(settings.url.expose())?;
        let backend = manager.backend();
        let queries = manager.queries();
        drop(manager.open()?);
        let pool = Pool::builder()
            .max_size(settings.pool_size)
            .min_idle(Some(1))
            .connection_timeout(Duration::from_secs(5))
            // No `SELECT 1` per checkout (a round trip on the hot path): a
            // connection whose server went away is marked broken by the
            // query that found out, and dropped when it comes back.
            .test_on_check_out(false)
            .build(manager)?;
        Ok(Self {
            pool,
            backend,
            queries,
            gate: WriteGate::for_backend(backend),
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Connections open, of them idle, and the most the pool opens.
    pub fn pool_state(&self) -> PoolState {
        let state = self.pool.state();
        PoolState {
            connections: state.connections,
            idle: state.idle_connections,
            max_size: self.pool.max_size(),
        }
    }

    /// Queries run through this pool so far.
    pub fn queries_run(&self) -> u64 {
        self.queries.load(Ordering::Relaxed)
    }

    /// Applies pending migrations; returns how many ran.
    pub fn migrate(&self) -> Result<usize, DatabaseError> {
        let mut conn = self.pool.get()?;
        let migrations = self.migrations();
        conn.run_pending_migrations(migrations)
            .map(|applied| applied.len())
            .map_err(|e| DatabaseError::Migration(e.to_string()))
    }

    /// Whether migrations this binary carries are not applied yet.
    pub fn has_pending_migrations(&self) -> Result<bool, DatabaseError> {
        let mut conn = self.pool.get()?;
        let migrations = self.migrations();
        conn.has_pending_migration(migrations)
            .map_err(|e| DatabaseError::Migration(e.to_string()))
    }

    /// Reverts every migration (tests of the down scripts).
    pub fn revert_all(&self) -> Result<usize, DatabaseError> {
        let mut conn = self.pool.get()?;
        let migrations = self.migrations();
        conn.revert_all_migrations(migrations)
            .map(|reverted| reverted.len())
            .map_err(|e| DatabaseError::Migration(e.to_string()))
    }

    pub fn token_repository(&self) -> DieselTokenRepository {
        DieselTokenRepository::new(self.pool.clone(), self.gate.clone(), self.backend)
    }

    pub fn revocation_log(&self) -> DieselRevocationLog {
        DieselRevocationLog::new(self.pool.clone(), self.gate.clone())
    }

    /// A listener for other instances' revocations; PostgreSQL only (an
    /// embedded SQLite file serves a single instance).
    pub fn revocation_listener(
        &self,
        url: &str,
        cache: std::sync::Arc<tessera_domain::TokenCache>,
    ) -> Option<RevocationListener> {
        (self.backend == Backend::Postgres).then(|| RevocationListener::new(url, cache))
    }

    pub fn oauth_repository(&self) -> DieselOAuthRepository {
        DieselOAuthRepository::new(self.pool.clone(), self.gate.clone())
    }

    fn migrations(&self) -> EmbeddedMigrations {
        match self.backend {
            Backend::Postgres => POSTGRES_MIGRATIONS,
            Backend::Sqlite => SQLITE_MIGRATIONS,
        }
    }
}
