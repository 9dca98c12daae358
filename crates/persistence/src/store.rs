//! Every repository's way to the database, with its deadlines: a pooled
//! connection within `acquire_timeout`, the SQLite write gate within the
//! statement deadline, and the circuit (`crate::failure`) that answers
//! "unavailable" at once while the database is known to be down. Failures
//! that mean "down, slow or full" become [`Unavailable`] (a `503`);
//! anything else stays a defect.

use std::sync::Arc;
use std::time::Duration;

use diesel::r2d2::{Pool, PooledConnection};
use diesel::result::Error as DieselError;
use parking_lot::{Mutex, MutexGuard};
use tessera_domain::Unavailable;
use tessera_domain::webhooks::Subscription;

use crate::audit::Trail;

use crate::connection::{AnyConnection, Backend, ConnectionManager};
use crate::failure::{Circuit, failure_of};

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
    /// The webhook receivers' subscriptions: every appended event matching
    /// one gets its outbox row.
    subscriptions: Arc<[Subscription]>,
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
            subscriptions: Arc::new([]),
        }
    }

    /// How events are appended through this store.
    pub(crate) fn trail(&self) -> Trail {
        Trail::new(self.backend, self.subscriptions.clone())
    }

    pub(crate) fn set_subscriptions(&mut self, subscriptions: Vec<Subscription>) {
        self.subscriptions = subscriptions.into();
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

    /// Runs `work` on a pooled connection: reads, and anything that needs
    /// no write turn. The connection comes within `acquire_timeout`, or
    /// `Unavailable` at once while the circuit is open.
    pub(crate) fn read<T, E>(
        &self,
        what: &'static str,
        work: impl FnOnce(&mut AnyConnection) -> Result<T, E>,
    ) -> Result<T, E>
    where
        E: From<anyhow::Error>,
    {
        let mut conn = self.conn(what)?;
        work(&mut conn)
    }

    /// Runs `work` as this process's writer: the SQLite write gate first
    /// (within the statement deadline), then a pooled connection, so that
    /// the single-writer rule is kept by every write without a call site
    /// having to remember it. Transactions are `work`'s own: their error
    /// types say why they roll back.
    pub(crate) fn write<T, E>(
        &self,
        what: &'static str,
        work: impl FnOnce(&mut AnyConnection) -> Result<T, E>,
    ) -> Result<T, E>
    where
        E: From<anyhow::Error>,
    {
        let _turn = self.write_gate(what)?;
        self.read(what, work)
    }

    /// [`Self::read`] of one Diesel query, its error classified once under
    /// `what` (`Unavailable` when the database is down, slow or full).
    pub(crate) fn read_query<T>(
        &self,
        what: &'static str,
        query: impl FnOnce(&mut AnyConnection) -> Result<T, DieselError>,
    ) -> anyhow::Result<T> {
        self.read(what, |conn| query(conn).store_context(what))
    }

    /// [`Self::write`] of one Diesel query (or one transaction of them).
    pub(crate) fn write_query<T>(
        &self,
        what: &'static str,
        query: impl FnOnce(&mut AnyConnection) -> Result<T, DieselError>,
    ) -> anyhow::Result<T> {
        self.write(what, |conn| query(conn).store_context(what))
    }

    /// A pooled connection, or `Unavailable` at once while the circuit is
    /// open and within `acquire_timeout` otherwise.
    fn conn(&self, what: &'static str) -> anyhow::Result<PooledConnection<ConnectionManager>> {
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
    fn write_gate(&self, what: &'static str) -> anyhow::Result<Option<MutexGuard<'_, ()>>> {
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
