//! How old this instance's view of revocations is. Whatever
//! tells the instance of other instances' revocations (the PostgreSQL
//! listener's heartbeat, the SQLite log follower) proves the view fresh "as
//! of" an instant: every revocation committed before it has been applied to
//! the cache. Cached verifications are served only while that proof is
//! younger than the deadline; past it the store is asked instead.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct RevocationView {
    /// Proofs are stored as nanoseconds since this instant (plus one, so
    /// that zero means "never proven").
    base: Instant,
    proven: AtomicU64,
    /// `None`: nothing revokes behind this instance's back (tests, a
    /// single process), so the view is always fresh.
    max_staleness: Option<Duration>,
}

impl RevocationView {
    pub fn new(max_staleness: Option<Duration>) -> Self {
        Self {
            base: Instant::now(),
            proven: AtomicU64::new(0),
            max_staleness,
        }
    }

    /// Every revocation committed before `as_of` has been applied. Proofs
    /// never move the view back.
    pub fn prove(&self, as_of: Instant) {
        let nanos = as_of.saturating_duration_since(self.base).as_nanos();
        let stamp = u64::try_from(nanos).unwrap_or(u64::MAX - 1) + 1;
        self.proven.fetch_max(stamp, Ordering::AcqRel);
    }

    /// `as_of` as a number this view can turn back into an instant: what a
    /// heartbeat carries through the database.
    pub fn stamp(&self, as_of: Instant) -> u64 {
        u64::try_from(as_of.saturating_duration_since(self.base).as_nanos()).unwrap_or(u64::MAX)
    }

    /// The instant a [`Self::stamp`] stands for.
    pub fn instant_of(&self, stamp: u64) -> Instant {
        self.base + Duration::from_nanos(stamp)
    }

    /// How old the view is at `now`; `None` before the first proof.
    pub fn age_at(&self, now: Instant) -> Option<Duration> {
        match self.proven.load(Ordering::Acquire) {
            0 => None,
            stamp => {
                Some(now.saturating_duration_since(self.base + Duration::from_nanos(stamp - 1)))
            }
        }
    }

    pub fn age(&self) -> Option<Duration> {
        self.age_at(Instant::now())
    }

    /// Whether cached verifications may be served at `now`.
    pub fn is_fresh_at(&self, now: Instant) -> bool {
        let Some(limit) = self.max_staleness else {
            return true;
        };
        self.age_at(now).is_some_and(|age| age < limit)
    }

    pub fn is_fresh(&self) -> bool {
        self.is_fresh_at(Instant::now())
    }

    /// The deadline, when one applies.
    pub fn max_staleness(&self) -> Option<Duration> {
        self.max_staleness
    }
}

impl Default for RevocationView {
    fn default() -> Self {
        Self::new(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_only_within_the_deadline_of_the_last_proof() {
        let view = RevocationView::new(Some(Duration::from_millis(1000)));
        let now = Instant::now();
        assert!(!view.is_fresh_at(now), "never proven");
        view.prove(now);
        assert!(view.is_fresh_at(now + Duration::from_millis(999)));
        assert!(!view.is_fresh_at(now + Duration::from_millis(1000)));
        // An older proof does not move it back.
        view.prove(now - Duration::from_secs(5));
        assert!(view.is_fresh_at(now + Duration::from_millis(500)));
        assert_eq!(
            view.age_at(now + Duration::from_millis(250)),
            Some(Duration::from_millis(250))
        );
    }

    #[test]
    fn stamps_round_trip_and_no_deadline_is_always_fresh() {
        let view = RevocationView::new(Some(Duration::from_secs(1)));
        let at = Instant::now() + Duration::from_millis(7);
        let back = view.instant_of(view.stamp(at));
        assert!(back <= at && at - back < Duration::from_micros(1));
        assert!(RevocationView::default().is_fresh());
    }
}
