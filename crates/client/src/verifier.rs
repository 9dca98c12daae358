//! [`Verifier`]: a token check answered from the local cache while the
//! revocation view is fresh, and by introspection otherwise.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use url::Url;

use crate::cache::{Answer, Cache, Key};
use crate::config::{BuildError, Builder};
use crate::feed::{self, Schedule};
use crate::introspect::Tessera;
use crate::principal::Principal;

/// Why a token was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Unknown, expired, revoked, disabled, or not valid from this address:
    /// `401`.
    #[error("the token is not valid")]
    Inactive,
    /// Tessera did not answer and the cache may not be used: `503`.
    #[error("tokens cannot be checked right now")]
    Unavailable,
}

impl Refusal {
    /// The HTTP status to answer with.
    pub fn status(&self) -> u16 {
        match self {
            Refusal::Inactive => 401,
            Refusal::Unavailable => 503,
        }
    }
}

/// Counters of a verifier's work, for a service's own metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Checks answered from the local cache.
    pub cache_hits: u64,
    /// Introspection requests sent to Tessera.
    pub introspections: u64,
    /// Feed entries applied to the cache.
    pub revocations: u64,
    /// Feed requests that failed.
    pub feed_failures: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    cache_hits: AtomicU64,
    introspections: AtomicU64,
    revocations: AtomicU64,
    feed_failures: AtomicU64,
}

impl Counters {
    pub(crate) fn note_revocations(&self, n: usize) {
        self.revocations.fetch_add(n as u64, Ordering::Relaxed);
    }

    pub(crate) fn note_feed_failure(&self) {
        self.feed_failures.fetch_add(1, Ordering::Relaxed);
    }
}

/// When the feed last proved the cache complete.
#[derive(Debug)]
pub(crate) struct Freshness {
    origin: Instant,
    /// Nanoseconds from `origin` to the proof, plus one; 0 for none yet.
    proof: AtomicU64,
}

impl Freshness {
    fn new() -> Self {
        Self {
            origin: Instant::now(),
            proof: AtomicU64::new(0),
        }
    }

    pub(crate) fn prove(&self, sent: Instant) {
        let nanos = sent.saturating_duration_since(self.origin).as_nanos();
        let nanos = u64::try_from(nanos).unwrap_or(u64::MAX - 1) + 1;
        self.proof.fetch_max(nanos, Ordering::AcqRel);
    }

    /// The age of the proof, or `None` before the first one.
    fn age(&self, now: Instant) -> Option<Duration> {
        let nanos = self.proof.load(Ordering::Acquire).checked_sub(1)?;
        let proven = self.origin + Duration::from_nanos(nanos);
        Some(now.saturating_duration_since(proven))
    }
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) tessera: Tessera,
    pub(crate) cache: Cache,
    pub(crate) freshness: Freshness,
    pub(crate) stats: Counters,
    max_staleness: Duration,
    active_ttl: Duration,
    inactive_ttl: Duration,
    request_timeout: Duration,
}

/// Checks tokens against one Tessera; cheap to clone (clones share the
/// cache and the feed follower).
#[derive(Debug, Clone)]
pub struct Verifier {
    inner: Arc<Inner>,
}

impl Verifier {
    /// Settings for a verifier of the tokens of the Tessera at `base_url`,
    /// as the resource server `client_id` (a built-in client with
    /// `resource_server = true` and a `client_secret`).
    pub fn builder(base_url: &str, client_id: &str, client_secret: &str) -> Builder {
        Builder::new(base_url, client_id, client_secret)
    }

    pub(crate) fn start(
        config: Builder,
        base: Url,
        runtime: &tokio::runtime::Handle,
    ) -> Result<Self, BuildError> {
        let inner = Arc::new(Inner {
            tessera: Tessera::new(&base, &config.client_id, &config.client_secret)?,
            cache: Cache::new(config.max_entries),
            freshness: Freshness::new(),
            stats: Counters::default(),
            max_staleness: config.max_staleness,
            active_ttl: config.active_ttl,
            inactive_ttl: config.inactive_ttl,
            request_timeout: config.request_timeout,
        });
        runtime.spawn(feed::follow(
            Arc::downgrade(&inner),
            Schedule::for_staleness(config.max_staleness),
            config.request_timeout,
        ));
        Ok(Self { inner })
    }

    /// Whom `token` speaks for, as seen from `client_ip` (the end client's
    /// address: a token restricted to addresses is valid only from them,
    /// and never without one).
    pub async fn verify(
        &self,
        token: &str,
        client_ip: Option<IpAddr>,
    ) -> Result<Arc<Principal>, Refusal> {
        let inner = &self.inner;
        let key = Key::new(token, client_ip);
        if self.is_fresh()
            && let Some(answer) = inner.cache.get(&key, Instant::now())
        {
            inner.stats.cache_hits.fetch_add(1, Ordering::Relaxed);
            return match answer {
                Answer::Active(principal) => Ok(principal),
                Answer::Inactive => Err(Refusal::Inactive),
            };
        }
        let generation = inner.cache.generation();
        inner.stats.introspections.fetch_add(1, Ordering::Relaxed);
        let answer = inner
            .tessera
            .introspect(token, client_ip, inner.request_timeout)
            .await
            .map_err(|error| {
                tracing::warn!(%error, "token check: Tessera gave no answer");
                Refusal::Unavailable
            })?;
        let now = Instant::now();
        match answer {
            Some(principal) => {
                let until = now + inner.active_ttl.min(remaining(principal.expires_at));
                let result = Ok(principal.clone());
                inner
                    .cache
                    .insert(key, Answer::Active(principal), until, generation);
                result
            }
            None => {
                let until = now + inner.inactive_ttl;
                inner.cache.insert(key, Answer::Inactive, until, generation);
                Err(Refusal::Inactive)
            }
        }
    }

    /// Whether the cache may answer now: the feed proved it complete within
    /// `max_staleness`.
    pub fn is_fresh(&self) -> bool {
        self.inner
            .freshness
            .age(Instant::now())
            .is_some_and(|age| age <= self.inner.max_staleness)
    }

    /// The work done so far.
    pub fn stats(&self) -> Stats {
        let counters = &self.inner.stats;
        Stats {
            cache_hits: counters.cache_hits.load(Ordering::Relaxed),
            introspections: counters.introspections.load(Ordering::Relaxed),
            revocations: counters.revocations.load(Ordering::Relaxed),
            feed_failures: counters.feed_failures.load(Ordering::Relaxed),
        }
    }

    /// Answers held in the cache.
    pub fn cached(&self) -> usize {
        self.inner.cache.len()
    }
}

/// Time until `expires_at` by this machine's clock (zero when past).
fn remaining(expires_at: Option<SystemTime>) -> Duration {
    expires_at.map_or(Duration::MAX, |at| {
        at.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO)
    })
}
