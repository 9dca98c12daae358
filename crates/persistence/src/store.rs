//! Every repository's way to the database, with its deadlines: a pooled
//! connection within `acquire_timeout`, the SQLite write gate within the
//! statement deadline, and a circuit that answers "unavailable" at once
//! while the database is known to be down instead of letting every request
//! wait out the timeouts. Failures that mean "down, slow or full" become
//! [`Unavailable`] (a `503`); anything else stays a defect.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use diesel::r2d2::{Pool, PooledConnection};
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use parking_lot::{Mutex, MutexGuard};
use tessera_domain::Unavailable;

use crate::connection::{Backend, ConnectionManager};

/// While the circuit is open, one request in this interval is let through
/// to find out whether the database is back: recovery is seen within it.
const PROBE_EVERY: Duration = Duration::from_millis(200);

/// What a failure says about the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// Unreachable or not answering in time: the connection is dropped.
    Down,
    /// Answering, but refusing this work (disk full, locked by another
    /// process): `503` for this request, other requests still tried.
    Refusing,
}

/// Classifies a Diesel error. PostgreSQL's SQLSTATE is not exposed by
/// Diesel, so the server's messages (stable, English by default) are read.
pub(crate) fn failure_of(error: &DieselError) -> Option<Failure> {
    let DieselError::DatabaseError(kind, info) = error else {
        return None;
    };
    if matches!(
        kind,
        DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand
    ) {
        return Some(Failure::Down);
    }
    let message = info.message().to_ascii_lowercase();
    const DOWN: &[&str] = &[
        "statement timeout",
        "lock timeout",
        "canceling statement",
        "terminating connection",
        "server closed the connection",
        "no connection to the server",
        "connection to server",
        "could not receive data",
        "could not send data",
        "the database system is",
        "ssl syscall error",
        "eof detected",
    ];
    const REFUSING: &[&str] = &[
        "database is locked",
        "database table is locked",
        "disk is full",
        "disk i/o error",
        "no space left",
        "unable to open database",
        "readonly database",
        "read-only",
        "could not extend file",
        "could not write",
    ];
    if DOWN.iter().any(|needle| message.contains(needle)) {
        Some(Failure::Down)
    } else if REFUSING.iter().any(|needle| message.contains(needle)) {
        Some(Failure::Refusing)
    } else {
        None
    }
}

/// Opens when no connection can be had within the acquire timeout (the
/// database is unreachable, or every connection is stuck); lets one probe
/// through every [`PROBE_EVERY`] and closes on the first success. Shared
/// by every connection of a pool, which report their successes to it.
#[derive(Debug)]
pub struct Circuit {
    base: Instant,
    open: AtomicBool,
    /// Nanoseconds since `base` when the next probe may go.
    next_probe: AtomicU64,
}

impl Default for Circuit {
    fn default() -> Self {
        Self {
            base: Instant::now(),
            open: AtomicBool::new(false),
            next_probe: AtomicU64::new(0),
        }
    }
}

impl Circuit {
    fn now(&self) -> u64 {
        u64::try_from(self.base.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    fn probe_interval() -> u64 {
        u64::try_from(PROBE_EVERY.as_nanos()).unwrap_or(u64::MAX)
    }

    /// Whether work may try the database now: always while closed; while
    /// open, only the one probe of the interval.
    pub fn admit(&self) -> bool {
        if !self.open.load(Ordering::Acquire) {
            return true;
        }
        let now = self.now();
        let due = self.next_probe.load(Ordering::Acquire);
        now >= due
            && self
                .next_probe
                .compare_exchange(
                    due,
                    now + Self::probe_interval(),
                    Ordering::AcqRel,
                    Ordering::Acquire,
                )
                .is_ok()
    }

    pub fn is_open(&self) -> bool {
        self.open.load(Ordering::Acquire)
    }

    /// The database answered.
    pub fn succeeded(&self) {
        if self.open.load(Ordering::Relaxed) && self.open.swap(false, Ordering::AcqRel) {
            tracing::info!("the database answers again");
        }
    }

    /// The database is down or too slow.
    pub fn failed(&self, why: &str) {
        if !self.open.load(Ordering::Relaxed) {
            self.next_probe
                .store(self.now() + Self::probe_interval(), Ordering::Release);
            if !self.open.swap(true, Ordering::AcqRel) {
                tracing::warn!(
                    reason = why,
                    "the database is unavailable: answering 503 until it is back"
                );
            }
        }
    }
}

/// Serialises this process's writes to an SQLite file. SQLite admits one
/// writer at a time and makes the others retry with sleeps (its busy
/// handler), which under load turns into second-long tails; waiting on a
/// mutex instead hands the lock over at once. PostgreSQL needs none. The
/// wait is bounded: a writer stuck on a full or locked file must not make
/// every other writer wait forever.
#[derive(Clone, Debug, Default)]
pub struct WriteGate(Option<Arc<Mutex<()>>>);

impl WriteGate {
    pub fn for_backend(backend: Backend) -> Self {
        Self((backend == Backend::Sqlite).then(|| Arc::new(Mutex::new(()))))
    }
}

/// A pool with its deadlines, gate and circuit: what repositories hold.
#[derive(Clone)]
pub struct Store {
    pool: Pool<ConnectionManager>,
    gate: WriteGate,
    backend: Backend,
    circuit: Arc<Circuit>,
    statement_timeout: Duration,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend)
            .field("circuit_open", &self.circuit.is_open())
            .finish_non_exhaustive()
    }
}

impl Store {
    pub(crate) fn new(
        pool: Pool<ConnectionManager>,
        backend: Backend,
        circuit: Arc<Circuit>,
        statement_timeout: Duration,
    ) -> Self {
        Self {
            pool,
            gate: WriteGate::for_backend(backend),
            backend,
            circuit,
            statement_timeout,
        }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub(crate) fn pool(&self) -> &Pool<ConnectionManager> {
        &self.pool
    }

    pub fn circuit(&self) -> &Arc<Circuit> {
        &self.circuit
    }

    /// A pooled connection, or `Unavailable` at once while the circuit is
    /// open and within `acquire_timeout` otherwise.
    pub(crate) fn conn(
        &self,
        what: &'static str,
    ) -> anyhow::Result<PooledConnection<ConnectionManager>> {
        if !self.circuit.admit() {
            return Err(Unavailable::new(what, "the database was found down moments ago").into());
        }
        self.pool.get().map_err(|error| {
            let detail = format!("no connection within the acquire timeout: {error}");
            self.circuit.failed(&detail);
            Unavailable::new(what, detail).into()
        })
    }

    /// This process's turn to write (SQLite), within the statement deadline.
    pub(crate) fn write_gate(
        &self,
        what: &'static str,
    ) -> anyhow::Result<Option<MutexGuard<'_, ()>>> {
        match &self.gate.0 {
            None => Ok(None),
            Some(lock) => lock
                .try_lock_for(self.statement_timeout)
                .map(Some)
                .ok_or_else(|| {
                    Unavailable::new(what, "another write held the database past the deadline")
                        .into()
                }),
        }
    }
}

/// `.context(…)` for Diesel results that also marks unavailability.
pub(crate) trait StoreContext<T> {
    fn store_context(self, what: &'static str) -> anyhow::Result<T>;
}

impl<T> StoreContext<T> for Result<T, DieselError> {
    fn store_context(self, what: &'static str) -> anyhow::Result<T> {
        self.map_err(|error| store_error(error, what))
    }
}

/// A Diesel error as the ports report it: `Unavailable` (keeping the
/// cause) when the database is down, slow or full, else a plain error.
pub(crate) fn store_error(error: DieselError, what: &'static str) -> anyhow::Error {
    match failure_of(&error) {
        Some(_) => anyhow::Error::new(Unavailable::new(what, error.to_string())),
        None => anyhow::Error::new(error).context(what),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_open_circuit_lets_one_probe_through_per_interval_and_closes_on_success() {
        let circuit = Circuit::default();
        assert!(
            circuit.admit() && circuit.admit(),
            "closed: everything goes"
        );
        circuit.failed("test");
        assert!(circuit.is_open());
        assert!(!circuit.admit(), "no probe before the interval");
        circuit.next_probe.store(circuit.now(), Ordering::Release);
        assert!(circuit.admit(), "the probe");
        assert!(!circuit.admit(), "only one");
        circuit.succeeded();
        assert!(circuit.admit() && !circuit.is_open());
    }
}
