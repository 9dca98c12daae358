//! What a database failure means, and the circuit that remembers it: the
//! classification every repository, connection and listener shares, with no
//! knowledge of pools or connections (so both may use it).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use diesel::result::{DatabaseErrorKind, Error as DieselError};

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
