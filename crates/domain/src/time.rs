//! Time as the contract speaks it (Unix milliseconds) and the clock port, so
//! expiry can be tested by moving a clock instead of sleeping.

use std::ops::{Add, Sub};
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// An instant as Unix time in milliseconds: what the JSON documents carry.
///
/// A newtype so that a count of seconds or a cursor cannot be taken for an
/// instant; every conversion to or from a bare number is named.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    /// 1970-01-01T00:00:00Z.
    pub const EPOCH: Self = Self(0);
    /// The latest instant the service accepts (9999-12-31T23:59:59.999Z), so
    /// arithmetic on client-supplied times can never overflow.
    pub const MAX: Self = Self(253_402_300_799_999);
    /// Before every instant: the bound of "never" in comparisons.
    pub const NEVER: Self = Self(i64::MIN);

    pub const fn from_millis(millis: i64) -> Self {
        Self(millis)
    }

    pub const fn as_millis(self) -> i64 {
        self.0
    }

    /// Whole seconds, rounded down: what JWT `exp` and RFC 7662 `exp`/`iat`
    /// carry.
    pub const fn whole_secs(self) -> i64 {
        self.0.div_euclid(1000)
    }

    /// Time from `earlier` to `self`; zero when `earlier` is not earlier.
    pub fn since(self, earlier: Self) -> Duration {
        u64::try_from(self.0.saturating_sub(earlier.0))
            .map_or(Duration::ZERO, Duration::from_millis)
    }
}

/// Saturating, so a configured or client-supplied span cannot overflow.
impl Add<Duration> for Timestamp {
    type Output = Self;

    fn add(self, span: Duration) -> Self {
        Self(self.0.saturating_add(millis_of(span)))
    }
}

impl Sub<Duration> for Timestamp {
    type Output = Self;

    fn sub(self, span: Duration) -> Self {
        Self(self.0.saturating_sub(millis_of(span)))
    }
}

fn millis_of(span: Duration) -> i64 {
    i64::try_from(span.as_millis()).unwrap_or(i64::MAX)
}

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Timestamp;
}

#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(Timestamp::EPOCH, |since| Timestamp::EPOCH + since)
    }
}

/// A clock that only moves when told to; shared by tests of every crate.
#[derive(Debug)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    pub fn new(start: Timestamp) -> Self {
        Self(AtomicI64::new(start.as_millis()))
    }

    pub fn advance(&self, span: Duration) {
        self.0.fetch_add(millis_of(span), Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_millis(self.0.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod conversion_tests {
    use super::*;

    #[test]
    fn seconds_round_down_and_spans_saturate() {
        assert_eq!(Timestamp::from_millis(1_999).whole_secs(), 1);
        assert_eq!(Timestamp::from_millis(2_000).whole_secs(), 2);
        assert_eq!(
            Timestamp::from_millis(-1).whole_secs(),
            -1,
            "before 1970 still rounds down"
        );
        let at = Timestamp::from_millis(5_000);
        assert_eq!((at + Duration::from_secs(600)).as_millis(), 605_000);
        assert_eq!((at - Duration::from_millis(6_000)).as_millis(), -1_000);
        assert_eq!(
            (at + Duration::MAX).as_millis(),
            i64::MAX,
            "saturates, never wraps"
        );
        assert_eq!(
            (Timestamp::NEVER - Duration::from_secs(1)),
            Timestamp::NEVER
        );
        assert_eq!(at.since(Timestamp::EPOCH), Duration::from_secs(5));
        assert_eq!(
            Timestamp::EPOCH.since(at),
            Duration::ZERO,
            "a later start is no time"
        );
    }
}
