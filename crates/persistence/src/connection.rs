//! The one connection type serving both backends, and the r2d2 manager that
//! opens it. The dialect differences of the whole crate are fenced here.

use std::fmt;
use std::path::Path;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use diesel::connection::{Instrumentation, InstrumentationEvent, SimpleConnection};
use diesel::r2d2::R2D2Connection;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::{Connection, PgConnection, SqliteConnection};

use crate::DatabaseError;
use crate::failure::{Circuit, Failure, failure_of};

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

/// Settings applied to every SQLite connection. `busy_timeout` (the
/// statement deadline: how long to wait for another process's write) comes
/// first so that switching to WAL waits for a concurrent opener instead of
/// failing; `synchronous=FULL` because an acknowledged write must survive
/// power loss. Each pooled connection keeps its own page cache: SQLite's
/// default 2 MiB each made 16 MiB of a 100k-token instance's ~74 MiB;
/// 512 KiB still holds every interior page of the token index, and the
/// leaves a lookup misses come from the system's file cache.
fn sqlite_pragmas(statement_timeout: Duration) -> String {
    format!(
        "PRAGMA busy_timeout = {}; \
         PRAGMA journal_mode = WAL; \
         PRAGMA synchronous = FULL; \
         PRAGMA foreign_keys = ON; \
         PRAGMA cache_size = -{SQLITE_CACHE_KIB};",
        statement_timeout.as_millis()
    )
}

/// Each SQLite connection's page cache, in KiB.
const SQLITE_CACHE_KIB: u32 = 512;

/// How long a connection may take and how a dead peer is noticed
/// (libpq's parameters; a URL's own values win). Keepalives and
/// `tcp_user_timeout` turn a partition into an error instead of a wait of
/// many minutes for TCP to give up.
pub fn postgres_url_with_deadlines(url: &str, deadlines: Deadlines) -> String {
    let connect_secs = deadlines.acquire.as_secs().max(2);
    let user_timeout_ms = (deadlines.acquire + deadlines.statement).as_millis();
    let defaults = [
        ("connect_timeout", connect_secs.to_string()),
        ("keepalives", "1".to_owned()),
        ("keepalives_idle", "5".to_owned()),
        ("keepalives_interval", "1".to_owned()),
        ("keepalives_count", "3".to_owned()),
        ("tcp_user_timeout", user_timeout_ms.to_string()),
    ];
    let query = url.split_once('?').map_or("", |(_, query)| query);
    let present: Vec<&str> = query
        .split('&')
        .filter_map(|pair| pair.split('=').next())
        .collect();
    let mut out = url.to_owned();
    for (key, value) in defaults {
        if present.contains(&key) {
            continue;
        }
        out.push(if out.contains('?') { '&' } else { '?' });
        out.push_str(&format!("{key}={value}"));
    }
    out
}

/// The two deadlines of `[database]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadlines {
    /// Longest wait for a pooled connection.
    pub acquire: Duration,
    /// Longest a statement may run (PostgreSQL `statement_timeout`, the
    /// SQLite busy wait and write gate).
    pub statement: Duration,
}

/// Watches each connection's queries: counts them (per pool, so tests can
/// prove a request never reached the database) and marks the connection
/// broken when the server went away. The pool then drops it on return,
/// which lets it skip a `SELECT 1` round trip on every checkout.
/// A successful query also closes the pool's circuit: the probe that
/// found the database back.
struct ConnectionHealth {
    broken: bool,
    queries: Arc<AtomicU64>,
    circuit: Arc<Circuit>,
    /// Held while the connection exists: see [`ConnectionManager::alive`].
    _alive: Arc<()>,
}

impl Instrumentation for ConnectionHealth {
    fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
        match event {
            InstrumentationEvent::StartQuery { .. } => {
                self.queries.fetch_add(1, Ordering::Relaxed);
            }
            InstrumentationEvent::FinishQuery { error: None, .. } => self.circuit.succeeded(),
            InstrumentationEvent::FinishQuery {
                error: Some(error), ..
            } => {
                if let DieselError::DatabaseError(
                    DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
                    _,
                ) = error
                {
                    self.broken = true;
                }
                if failure_of(error) == Some(Failure::Down) {
                    // Lost or timed out mid-protocol: replaced, not reused.
                    // The circuit opens only when no connection can be had
                    // at all (the pool's checkout), not for one lost
                    // connection of a database that may be right back.
                    self.broken = true;
                }
            }
            _ => {}
        }
    }
}

/// Opens connections by URL scheme itself: Diesel's derived `establish`
/// tries every backend and loses the real error.
pub struct ConnectionManager {
    target: Target,
    queries: Arc<AtomicU64>,
    deadlines: Deadlines,
    circuit: Arc<Circuit>,
    alive: Arc<()>,
}

enum Target {
    /// `url` carries the deadlines this crate adds; `shown` is the URL as
    /// configured, without its password, for messages.
    Postgres {
        url: String,
        shown: String,
    },
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
    pub fn from_url(url: &str, deadlines: Deadlines) -> Result<Self, DatabaseError> {
        let target = if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err(DatabaseError::UnsupportedUrl(
                    "sqlite:// without a path".into(),
                ));
            }
            create_parent_folder(path)?;
            Target::Sqlite(path.to_owned())
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Target::Postgres {
                url: postgres_url_with_deadlines(url, deadlines),
                shown: crate::redact_url(url),
            }
        } else {
            let scheme = url.split_once(':').map_or("", |(scheme, _)| scheme);
            return Err(DatabaseError::UnsupportedUrl(scheme.to_owned()));
        };
        Ok(Self {
            target,
            queries: Arc::new(AtomicU64::new(0)),
            deadlines,
            circuit: Arc::new(Circuit::default()),
            alive: Arc::new(()),
        })
    }

    /// The circuit this pool's connections report to.
    pub fn circuit(&self) -> Arc<Circuit> {
        self.circuit.clone()
    }

    /// A token cloned into the manager and every connection it opened:
    /// when only the caller's copy is left, no pool thread can be opening
    /// or closing a connection (libpq and OpenSSL must be idle before the
    /// process exits).
    pub fn alive(&self) -> Arc<()> {
        self.alive.clone()
    }

    /// Queries run on this pool's connections so far.
    pub fn queries(&self) -> Arc<AtomicU64> {
        self.queries.clone()
    }

    pub fn backend(&self) -> Backend {
        match self.target {
            Target::Postgres { .. } => Backend::Postgres,
            Target::Sqlite(_) => Backend::Sqlite,
        }
    }

    pub fn open(&self) -> Result<AnyConnection, DatabaseError> {
        let connect_error = |detail: String| DatabaseError::Connect {
            backend: self.backend(),
            detail,
        };
        match &self.target {
            Target::Postgres { url, shown } => {
                let conn = open_postgres(url, self.deadlines.statement)
                    // libpq's messages span lines; the service reports one,
                    // naming the setting the URL came from.
                    .map_err(|e| {
                        connect_error(format!(
                            "{shown} (database.url, or TESSERA__DATABASE__URL): {}",
                            one_line(&e)
                        ))
                    })?;
                Ok(AnyConnection::Postgresql(conn))
            }
            Target::Sqlite(path) => {
                let mut conn = SqliteConnection::establish(path)
                    .map_err(|e| connect_error(format!("{path}: {e}")))?;
                conn.batch_execute(&sqlite_pragmas(self.deadlines.statement))
                    .map_err(|e| connect_error(format!("{path}: {e}")))?;
                Ok(AnyConnection::Sqlite(conn))
            }
        }
    }
}

/// A PostgreSQL connection whose statements stop at `statement_timeout`.
/// `url` already carries the connection deadlines.
pub fn open_postgres(url: &str, statement_timeout: Duration) -> Result<PgConnection, String> {
    let mut conn = PgConnection::establish(url).map_err(|e| e.to_string())?;
    conn.batch_execute(&format!(
        "SET statement_timeout = {}",
        statement_timeout.as_millis()
    ))
    .map_err(|e| e.to_string())?;
    Ok(conn)
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
            circuit: self.circuit.clone(),
            _alive: self.alive.clone(),
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
