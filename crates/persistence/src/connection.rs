//! The one connection type serving both backends, and the r2d2 manager that
//! opens it. The dialect differences of the whole crate are fenced here.

use std::fmt;
use std::path::Path;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use diesel::connection::{Instrumentation, InstrumentationEvent, SimpleConnection};
use diesel::r2d2::R2D2Connection;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::{Connection, PgConnection, SqliteConnection};

use crate::DatabaseError;

// Diesel connections implement no Debug.
#[allow(missing_debug_implementations)]
#[derive(diesel::MultiConnection)]
pub enum AnyConnection {
    Postgresql(PgConnection),
    Sqlite(SqliteConnection),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Postgres => "PostgreSQL",
            Self::Sqlite => "SQLite",
        })
    }
}

/// Settings applied to every SQLite connection. `busy_timeout` comes first
/// so that switching to WAL waits for a concurrent opener instead of failing;
/// `synchronous=FULL` because an acknowledged write must survive power loss.
const SQLITE_PRAGMAS: &str = "PRAGMA busy_timeout = 5000; \
     PRAGMA journal_mode = WAL; \
     PRAGMA synchronous = FULL; \
     PRAGMA foreign_keys = ON;";

/// Watches each connection's queries: counts them (per pool, so tests can
/// prove a request never reached the database) and marks the connection
/// broken when the server went away. The pool then drops it on return,
/// which lets it skip a `SELECT 1` round trip on every checkout.
struct ConnectionHealth {
    broken: bool,
    queries: Arc<AtomicU64>,
}

impl Instrumentation for ConnectionHealth {
    fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
        match event {
            InstrumentationEvent::StartQuery { .. } => {
                self.queries.fetch_add(1, Ordering::Relaxed);
            }
            InstrumentationEvent::FinishQuery {
                error:
                    Some(DieselError::DatabaseError(
                        DatabaseErrorKind::ClosedConnection
                        | DatabaseErrorKind::UnableToSendCommand,
                        _,
                    )),
                ..
            } => self.broken = true,
            _ => {}
        }
    }
}

/// Opens connections by URL scheme itself: Diesel's derived `establish`
/// tries every backend and loses the real error.
pub struct ConnectionManager {
    target: Target,
    queries: Arc<AtomicU64>,
}

enum Target {
    Postgres(String),
    Sqlite(String),
}

impl fmt::Debug for ConnectionManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The URL may carry a password.
        f.debug_struct("ConnectionManager")
            .field("backend", &self.backend())
            .finish()
    }
}

impl ConnectionManager {
    pub fn from_url(url: &str) -> Result<Self, DatabaseError> {
        let target = if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err(DatabaseError::UnsupportedUrl(
                    "sqlite:// without a path".into(),
                ));
            }
            create_parent_folder(path)?;
            Target::Sqlite(path.to_owned())
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Target::Postgres(url.to_owned())
        } else {
            let scheme = url.split_once(':').map_or("", |(scheme, _)| scheme);
            return Err(DatabaseError::UnsupportedUrl(scheme.to_owned()));
        };
        Ok(Self {
            target,
            queries: Arc::new(AtomicU64::new(0)),
        })
    }

    /// Queries run on this pool's connections so far.
    pub fn queries(&self) -> Arc<AtomicU64> {
        self.queries.clone()
    }

    pub fn backend(&self) -> Backend {
        match self.target {
            Target::Postgres(_) => Backend::Postgres,
            Target::Sqlite(_) => Backend::Sqlite,
        }
    }

    pub fn open(&self) -> Result<AnyConnection, DatabaseError> {
        let connect_error = |detail: String| DatabaseError::Connect {
            backend: self.backend(),
            detail,
        };
        match &self.target {
            Target::Postgres(url) => PgConnection::establish(url)
                .map(AnyConnection::Postgresql)
                // libpq's messages span lines; the service reports one.
                .map_err(|e| connect_error(one_line(&e.to_string()))),
            Target::Sqlite(path) => {
                let mut conn = SqliteConnection::establish(path)
                    .map_err(|e| connect_error(format!("{path}: {e}")))?;
                conn.batch_execute(SQLITE_PRAGMAS)
                    .map_err(|e| connect_error(format!("{path}: {e}")))?;
                Ok(AnyConnection::Sqlite(conn))
            }
        }
    }
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn create_parent_folder(path: &str) -> Result<(), DatabaseError> {
    match Path::new(path).parent() {
        Some(parent) if !parent.as_os_str().is_empty() => {
            std::fs::create_dir_all(parent).map_err(|source| DatabaseError::SqliteFolder {
                path: parent.display().to_string(),
                source,
            })
        }
        _ => Ok(()),
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ManagerError(String);

impl diesel::r2d2::ManageConnection for ConnectionManager {
    type Connection = AnyConnection;
    type Error = ManagerError;

    fn connect(&self) -> Result<AnyConnection, ManagerError> {
        let mut conn = self.open().map_err(|e| ManagerError(e.to_string()))?;
        conn.set_instrumentation(ConnectionHealth {
            broken: false,
            queries: self.queries.clone(),
        });
        Ok(conn)
    }

    fn is_valid(&self, conn: &mut AnyConnection) -> Result<(), ManagerError> {
        conn.ping().map_err(|e| ManagerError(e.to_string()))
    }

    fn has_broken(&self, conn: &mut AnyConnection) -> bool {
        let lost = conn
            .instrumentation()
            .downcast_mut::<ConnectionHealth>()
            .is_some_and(|health| health.broken);
        lost || conn.is_broken()
    }
}

/// Serialises this process's writes to an SQLite file. SQLite admits one
/// writer at a time and makes the others retry with sleeps (its busy
/// handler), which under load turns into second-long tails; waiting on a
/// mutex instead hands the lock over at once. PostgreSQL needs none.
#[derive(Clone, Debug, Default)]
pub struct WriteGate(Option<Arc<Mutex<()>>>);

impl WriteGate {
    pub fn for_backend(backend: Backend) -> Self {
        Self((backend == Backend::Sqlite).then(|| Arc::new(Mutex::new(()))))
    }

    pub fn enter(&self) -> Option<MutexGuard<'_, ()>> {
        self.0
            .as_ref()
            .map(|lock| lock.lock().unwrap_or_else(PoisonError::into_inner))
    }
}
