//! The follower of Tessera's revocation feed: applies each page to the
//! cache and records how fresh its view is.
//!
//! Freshness is proven the only way a client can: a page that said
//! nothing more is waiting (`more: false`) proves every revocation
//! committed before that request was *sent* has been applied. So the poll
//! is shaped by the staleness limit: with a limit of 2 s or more, long
//! polls of half the limit (whole seconds) hear of a revocation at once
//! and still renew the proof in time; below that, short polls four times
//! per limit.

use std::sync::Weak;
use std::time::Duration;

use tokio::time::Instant;

use crate::state::Inner;

/// Waits between failed feed requests: from the first to the last, doubling.
const RETRY_FIRST: Duration = Duration::from_millis(100);
const RETRY_LAST: Duration = Duration::from_secs(2);

/// How the feed is asked, from the staleness limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Schedule {
    /// `wait` of each request, in whole seconds.
    pub wait_secs: u64,
    /// Least time between the starts of two requests.
    pub interval: Duration,
}

impl Schedule {
    pub(crate) fn for_staleness(limit: Duration) -> Self {
        let wait_secs = (limit / 2).as_secs();
        if wait_secs >= 1 {
            Self {
                wait_secs,
                interval: Duration::ZERO,
            }
        } else {
            Self {
                wait_secs: 0,
                interval: limit / 4,
            }
        }
    }
}

/// Runs until the verifier is dropped.
pub(crate) async fn follow(verifier: Weak<Inner>, schedule: Schedule, timeout: Duration) {
    let mut cursor = 0;
    let mut retry = RETRY_FIRST;
    let mut failing = false;
    loop {
        let Some(inner) = verifier.upgrade() else {
            return;
        };
        let sent = Instant::now();
        match inner
            .tessera
            .feed(cursor, schedule.wait_secs, timeout)
            .await
        {
            Ok(page) => {
                if failing {
                    tracing::info!("revocation feed answers again");
                    failing = false;
                }
                retry = RETRY_FIRST;
                if !page.complete {
                    // Entries after the cursor were purged: any of them may
                    // be about a cached token.
                    inner.cache.clear();
                }
                inner
                    .cache
                    .revoke(page.revocations.iter().map(|e| e.fingerprint.as_str()));
                inner.stats.note_revocations(page.revocations.len());
                cursor = page.cursor;
                if page.more {
                    continue;
                }
                inner.freshness.prove(sent.into_std());
                drop(inner);
                tokio::time::sleep_until(sent + schedule.interval).await;
            }
            Err(error) => {
                inner.stats.note_feed_failure();
                if !failing {
                    tracing::warn!(%error, "revocation feed unavailable; the cache is used until its view is too old");
                    failing = true;
                }
                drop(inner);
                tokio::time::sleep(retry).await;
                retry = (retry * 2).min(RETRY_LAST);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_polls_from_two_seconds_short_polls_below() {
        assert_eq!(
            Schedule::for_staleness(Duration::from_secs(1)),
            Schedule {
                wait_secs: 0,
                interval: Duration::from_millis(250)
            }
        );
        assert_eq!(
            Schedule::for_staleness(Duration::from_secs(2)),
            Schedule {
                wait_secs: 1,
                interval: Duration::ZERO
            }
        );
        assert_eq!(
            Schedule::for_staleness(Duration::from_secs(45)).wait_secs,
            22
        );
    }
}
