//! What every handler shares: the token and OAuth2 services, the session
//! codec, the revocation log and the audit trail, and the facts `/api/v1/status` reports.

use std::sync::Arc;
use std::time::Duration;

use tessera_domain::{
    ApiToken, AuditLog, CreateTokenError, CreateTokenRequest, Networks, Principal, RevocationLog,
    Sighting, Timestamp, TokenHash, TokenService, UserId, VerifyError,
};
use tessera_oauth_clients::AuthorizationService;
use tokio::sync::Notify;

use crate::batches::Batches;
use crate::session::SessionCodec;

/// Renders the current metrics as Prometheus text; refreshes gauges (pool
/// state) first, so a scrape sees the present, not the last sample.
pub type MetricsRenderer = Arc<dyn Fn() -> String + Send + Sync>;

#[derive(Clone)]
pub struct AppState {
    pub(crate) tokens: Arc<TokenService>,
    pub(crate) oauth: Arc<AuthorizationService>,
    pub(crate) sessions: Arc<SessionCodec>,
    pub(crate) revocations: Arc<dyn RevocationLog>,
    pub(crate) audit: Arc<dyn AuditLog>,
    /// Woken by every invalidation of the cache (local or from another
    /// instance): what long polls of the revocation feed wait on.
    pub(crate) revoked: Arc<Notify>,
    pub(crate) long_poll: Duration,
    pub(crate) start_time: Timestamp,
    /// `None`: `/metrics` answers an empty document (no recorder installed).
    pub(crate) metrics: Option<MetricsRenderer>,
    /// Longest a request waits on the database (acquire + statement
    /// deadlines) before answering `503`.
    pub(crate) deadline: Duration,
    /// Whether the storage volume takes writes (SQLite), for `/readyz`.
    pub(crate) storage: Option<StorageProbe>,
    /// This instance's OpenAPI document, rendered on first request: it
    /// depends only on the code and the permission catalogue.
    pub(crate) openapi: Arc<std::sync::OnceLock<String>>,
    /// Proxies whose `X-Forwarded-For` names the client (`server.trusted_proxies`).
    pub(crate) trusted_proxies: Arc<Networks>,
    /// Cache misses, looked up in batches.
    pub(crate) misses: Batches<Miss, Result<Principal, VerifyError>>,
    /// Creations without an `Idempotency-Key`, stored in batches.
    pub(crate) creations: Batches<(UserId, CreateTokenRequest), Result<ApiToken, CreateTokenError>>,
}

/// A token the cache could not answer for, and the use to note if valid.
pub(crate) type Miss = (TokenHash, Sighting<'static>);

/// Batches each batcher (misses, creations) runs at once at most, each on
/// a connection of its own: one while the database keeps up, more only
/// while items wait longer than [`PATIENCE`] (a stalled connection holds
/// only its own).
const BATCHES: usize = 4;
/// Far longer than a healthy batch takes (a few milliseconds at most), far
/// shorter than the request deadline.
const PATIENCE: Duration = Duration::from_millis(100);
/// The most items one batch takes.
const BATCH_SIZE: usize = 64;

/// `Ok` when the database's volume takes writes, else a short reason.
pub type StorageProbe = Arc<dyn Fn() -> Result<(), String> + Send + Sync>;

/// The default request deadline: the default acquire (500 ms) and
/// statement (2 s) deadlines.
const DEFAULT_DEADLINE: Duration = Duration::from_millis(2500);

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("start_time", &self.start_time)
            .finish_non_exhaustive()
    }
}

impl AppState {
    pub fn new(
        tokens: Arc<TokenService>,
        oauth: Arc<AuthorizationService>,
        sessions: SessionCodec,
        revocations: Arc<dyn RevocationLog>,
        audit: Arc<dyn AuditLog>,
        long_poll: Duration,
    ) -> Self {
        let start_time = tokens.now();
        let revoked = Arc::new(Notify::new());
        let waker = revoked.clone();
        tokens.on_revocation(move || waker.notify_waiters());
        let verifier = tokens.clone();
        let misses = Batches::new(BATCHES, BATCH_SIZE, PATIENCE, move |misses: Vec<Miss>| {
            verifier.verify_stored_many(&misses)
        });
        let creator = tokens.clone();
        let creations = Batches::new(BATCHES, BATCH_SIZE, PATIENCE, move |asked| {
            creator.create_many(asked)
        });
        Self {
            misses,
            creations,
            tokens,
            oauth,
            sessions: Arc::new(sessions),
            revocations,
            audit,
            revoked,
            long_poll,
            start_time,
            metrics: None,
            deadline: DEFAULT_DEADLINE,
            storage: None,
            openapi: Arc::default(),
            trusted_proxies: Arc::default(),
        }
    }

    /// The application's state, from a request it serves.
    pub(crate) fn of(req: &actix_web::HttpRequest) -> Result<&Self, crate::error::ApiError> {
        req.app_data::<actix_web::web::Data<Self>>()
            .map(|data| &***data)
            .ok_or_else(|| {
                crate::error::ApiError::Unexpected(anyhow::anyhow!("no application state"))
            })
    }

    /// Requests give up on the database after `deadline` (`503`).
    pub fn with_deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline;
        self
    }

    /// `/readyz` also asks `probe` whether the storage takes writes.
    pub fn with_storage_probe(mut self, probe: StorageProbe) -> Self {
        self.storage = Some(probe);
        self
    }

    /// Runs blocking (database) work off the executor, within the deadline.
    pub(crate) async fn blocking<F, T>(&self, work: F) -> Result<T, crate::error::ApiError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        crate::body::blocking(self.deadline, work).await
    }

    /// Believes `X-Forwarded-For` from these peers.
    pub fn with_trusted_proxies(mut self, proxies: Networks) -> Self {
        self.trusted_proxies = Arc::new(proxies);
        self
    }

    /// Serves `/metrics` from `render`.
    pub fn with_metrics(mut self, render: MetricsRenderer) -> Self {
        self.metrics = Some(render);
        self
    }
}
