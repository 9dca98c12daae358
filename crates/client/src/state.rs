//! What a verifier shares with its feed follower: the cache, the proof of
//! how fresh it is, the counters, the settings.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::cache::Cache;
use crate::config::Builder;
use crate::introspect::Tessera;

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
    pub(crate) cache_hits: AtomicU64,
    pub(crate) introspections: AtomicU64,
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

    pub(crate) fn snapshot(&self) -> Stats {
        Stats {
            cache_hits: self.cache_hits.load(Ordering::Relaxed),
            introspections: self.introspections.load(Ordering::Relaxed),
            revocations: self.revocations.load(Ordering::Relaxed),
            feed_failures: self.feed_failures.load(Ordering::Relaxed),
        }
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
    pub(crate) fn new() -> Self {
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

    /// Whether a proof younger than `limit` holds at `now`.
    pub(crate) fn within(&self, limit: Duration, now: Instant) -> bool {
        let Some(nanos) = self.proof.load(Ordering::Acquire).checked_sub(1) else {
            return false;
        };
        now.saturating_duration_since(self.origin + Duration::from_nanos(nanos)) <= limit
    }
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) tessera: Tessera,
    pub(crate) cache: Cache,
    pub(crate) freshness: Freshness,
    pub(crate) stats: Counters,
    /// Whether the last introspection failed: an outage is logged once,
    /// not once per request.
    pub(crate) introspection_failing: AtomicBool,
    pub(crate) settings: Builder,
}
