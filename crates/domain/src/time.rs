//! Time as the contract speaks it (Unix milliseconds) and the clock port, so
//! expiry can be tested by moving a clock instead of sleeping.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Unix time in milliseconds.
pub type Timestamp = i64;

/// The latest instant the service accepts (9999-12-31T23:59:59.999Z), so
/// arithmetic on client-supplied times can never overflow.
pub const MAX_TIMESTAMP: Timestamp = 253_402_300_799_999;

/// Whole seconds of a timestamp, rounded down: what JWT `exp` and RFC 7662
/// `exp`/`iat` carry. Every conversion from milliseconds goes through here.
pub fn whole_secs(at: Timestamp) -> i64 {
    at.div_euclid(1000)
}

/// A configured number of seconds as milliseconds, saturating: every
/// conversion into milliseconds goes through here.
pub fn secs_as_ms(secs: u64) -> i64 {
    i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX)
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
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(MAX_TIMESTAMP))
            .unwrap_or(0)
    }
}

/// A clock that only moves when told to; shared by tests of every crate.
#[derive(Debug)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    pub fn new(start: Timestamp) -> Self {
        Self(AtomicI64::new(start))
    }

    pub fn advance(&self, millis: i64) {
        self.0.fetch_add(millis, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        self.0.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod conversion_tests {
    use super::*;

    #[test]
    fn seconds_round_down_and_milliseconds_saturate() {
        assert_eq!(whole_secs(1_999), 1);
        assert_eq!(whole_secs(2_000), 2);
        assert_eq!(whole_secs(-1), -1, "before 1970 still rounds down");
        assert_eq!(secs_as_ms(600), 600_000);
        assert_eq!(secs_as_ms(u64::MAX), i64::MAX);
    }
}
