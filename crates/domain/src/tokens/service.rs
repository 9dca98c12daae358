//! The token service's state, and what the rest of the application asks of
//! it besides issuing and verifying: the time, the revocation view, how a
//! token is shown in logs, usage flushing.

use std::sync::Arc;

use crate::cache::TokenCache;
use crate::canary::{CanaryAlarms, CanaryUse};
use crate::client::ClientDirectory;
use crate::crypto::{Keyring, TokenHash};
use crate::freshness::RevocationView;
use crate::idempotency::IdempotencyStore;
use crate::permission::{PermissionCatalogue, PermissionSet};
use crate::ports::TokenRepository;
use crate::time::{Clock, Timestamp};
use crate::token::TokenFormat;

use super::usage::UsageLog;

pub struct TokenService {
    pub(super) repository: Arc<dyn TokenRepository>,
    pub(super) clients: Arc<dyn ClientDirectory>,
    pub(super) keyring: Keyring,
    pub(super) format: TokenFormat,
    pub(super) catalogue: PermissionCatalogue,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) cache: Arc<TokenCache>,
    pub(super) usage: UsageLog,
    pub(super) canaries: CanaryAlarms,
    /// Where `Idempotency-Key`s are kept; `None`: keys are refused.
    pub(super) idempotency: Option<Arc<dyn IdempotencyStore>>,
    /// `tokens.max_lifetime_days`; `0`: no policy.
    pub(super) max_lifetime_days: u32,
}

impl std::fmt::Debug for TokenService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenService")
            .field("format", &self.format)
            .field("catalogue", &self.catalogue)
            .finish_non_exhaustive()
    }
}

impl TokenService {
    /// The cache is this instance's one cache, shared with everything else
    /// that invalidates it (the client registry, the revocation listener).
    pub fn new(
        repository: Arc<dyn TokenRepository>,
        clients: Arc<dyn ClientDirectory>,
        keyring: Keyring,
        format: TokenFormat,
        catalogue: PermissionCatalogue,
        clock: Arc<dyn Clock>,
        cache: Arc<TokenCache>,
    ) -> Self {
        Self {
            repository,
            clients,
            keyring,
            format,
            catalogue,
            clock,
            cache,
            usage: UsageLog::default(),
            canaries: CanaryAlarms::default(),
            idempotency: None,
            max_lifetime_days: 0,
        }
    }

    /// The administrator's lifetime policy: a token made
    /// without `expiresAt` lives `days`, and none may be asked to live
    /// longer. `0` sets no policy.
    #[must_use]
    pub fn with_max_lifetime_days(mut self, days: u32) -> Self {
        self.max_lifetime_days = days;
        self
    }

    pub fn with_idempotency(mut self, store: Arc<dyn IdempotencyStore>) -> Self {
        self.idempotency = Some(store);
        self
    }

    pub fn forget(&self, hashes: &[TokenHash]) {
        self.cache.invalidate(hashes);
    }

    /// The service's clock: what "now" is for expiry, `serverTime` and codes.
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// The clock itself, for background work that must keep the same time
    /// (webhook retries, expiry warnings).
    pub fn clock(&self) -> Arc<dyn Clock> {
        self.clock.clone()
    }

    /// How fresh this instance's knowledge of revocations is (`/readyz`).
    pub fn revocation_view(&self) -> &RevocationView {
        self.cache.view()
    }

    /// Calls `observer` after every invalidation of this instance's cache
    /// (the revocation feed's long polls wake on it).
    pub fn on_revocation(&self, observer: impl Fn() + Send + Sync + 'static) {
        self.cache.subscribe(observer);
    }

    /// `token` as logs may show it: the prefix and the last four characters.
    pub fn shown(&self, token: &str) -> String {
        crate::secret::redact(token, self.format.prefix().len())
    }

    /// Every permission name of the catalogue (a session's permissions).
    pub fn all_permissions(&self) -> PermissionSet {
        self.catalogue.all()
    }

    /// The keyed fingerprint of a secret (tokens, authorization codes): how
    /// the store finds it without holding it.
    pub fn fingerprint(&self, secret: &str) -> TokenHash {
        self.keyring.fingerprint(secret)
    }

    /// Writes the noted uses (`lastUsedAt`) in one batch; called off the
    /// request path, and once more at shutdown. Returns how many.
    pub fn flush_usage(&self) -> anyhow::Result<usize> {
        let batch = self.usage.take();
        if batch.is_empty() {
            return Ok(0);
        }
        let written = batch.len();
        if let Err(error) = self.repository.record_usage(&batch) {
            self.usage.put_back(batch);
            return Err(error);
        }
        Ok(written)
    }

    /// Appends `token.expiring` for the tokens expiring within `within`
    /// not yet warned of, at most `limit` a call; returns how many.
    pub fn warn_expiring(
        &self,
        within: std::time::Duration,
        limit: usize,
    ) -> anyhow::Result<usize> {
        let now = self.clock.now();
        self.repository.warn_expiring(now, now + within, limit)
    }

    pub fn ping(&self) -> anyhow::Result<()> {
        self.repository.ping()
    }
}

impl TokenService {
    /// Queues a canary's use for [`Self::flush_canary_uses`]; `false` when
    /// too many are already waiting and this one was dropped.
    pub fn report_canary(&self, used: CanaryUse) -> bool {
        self.canaries.note(used)
    }

    /// Appends each queued use's `token.canary_used`, telling `recorded`
    /// of each (the log's warning is written here, off the request path, so
    /// answering a canary costs what answering an unknown token does);
    /// called in the background, and once more at shutdown. Returns how
    /// many were written; on failure the rest stay queued.
    pub fn flush_canary_uses(&self, mut recorded: impl FnMut(&CanaryUse)) -> anyhow::Result<usize> {
        let batch = self.canaries.take();
        if batch.is_empty() {
            return Ok(0);
        }
        let mut batch = batch.into_iter();
        let mut written = 0;
        while let Some(used) = batch.next() {
            if let Err(error) = self.repository.record_event(&used.event(), used.at) {
                // Only the unwritten ones: a written alarm is not repeated.
                self.canaries
                    .put_back(std::iter::once(used).chain(batch).collect());
                return Err(error);
            }
            recorded(&used);
            written += 1;
        }
        Ok(written)
    }

    /// Canary uses dropped since start because too many were waiting.
    pub fn dropped_canary_uses(&self) -> u64 {
        self.canaries.dropped()
    }
}
