//! Uses noted by verifications and not yet written: `lastUsedAt`, and where
//! (`lastUsedBy`) and from which addresses (`lastUsedIps`) a token was used,
//! are kept in memory and written in batches off the request path, never
//! once per request.

use std::borrow::Cow;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use crate::crypto::TokenHash;
pub use crate::ports::{MAX_USED_IPS, most_recent_first};
use crate::ports::{TokenRecord, TokenUse};
use crate::time::Timestamp;

/// `lastUsedAt` is written at most this often per token (unless it is used
/// from a new place or address).
pub const USAGE_RESOLUTION: Duration = Duration::from_secs(60);

/// `lastUsedBy` of a verification by `GET`/`POST /api/v1/status`.
pub const STATUS_SITE: &str = "status";

/// Where a verification happened and for which client address: what
/// `lastUsedBy` and `lastUsedIps` record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sighting<'a> {
    /// `"status"`, a resource server's client id, or `None` (another of
    /// Tessera's endpoints: only the time is recorded).
    pub by: Option<Cow<'a, str>>,
    pub ip: Option<IpAddr>,
}

impl<'a> Sighting<'a> {
    /// A use that records only its time.
    pub fn none() -> Self {
        Self::default()
    }

    pub fn status(ip: Option<IpAddr>) -> Self {
        Self {
            by: Some(Cow::Borrowed(STATUS_SITE)),
            ip,
        }
    }

    pub fn resource_server(client_id: &'a str, ip: Option<IpAddr>) -> Self {
        Self {
            by: Some(Cow::Borrowed(client_id)),
            ip,
        }
    }

    pub fn into_owned(self) -> Sighting<'static> {
        Sighting {
            by: self.by.map(|by| Cow::Owned(by.into_owned())),
            ip: self.ip,
        }
    }

    /// A cheap fingerprint (FNV-1a) of the place and address; `0` for a
    /// use that records nothing but its time.
    pub(super) fn key(&self) -> u64 {
        if self.by.is_none() && self.ip.is_none() {
            return 0;
        }
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        let mut eat = |bytes: &[u8]| {
            for byte in bytes {
                hash ^= u64::from(*byte);
                hash = hash.wrapping_mul(0x0100_0000_01b3);
            }
        };
        eat(self.by.as_deref().unwrap_or_default().as_bytes());
        eat(&[0xff]);
        match self.ip.map(|ip| ip.to_canonical()) {
            Some(IpAddr::V4(v4)) => eat(&v4.octets()),
            Some(IpAddr::V6(v6)) => eat(&v6.octets()),
            None => {}
        }
        hash.max(1)
    }
}

/// Fingerprint → what was noted since the last flush.
#[derive(Debug, Default)]
pub(super) struct UsageLog(Mutex<HashMap<TokenHash, TokenUse>>);

impl UsageLog {
    fn lock(&self) -> MutexGuard<'_, HashMap<TokenHash, TokenUse>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn note(&self, hash: TokenHash, at: Timestamp, sighting: &Sighting<'_>) {
        let mut usage = self.lock();
        let noted = usage.entry(hash).or_insert_with(|| TokenUse {
            hash,
            at,
            by: None,
            ips: Vec::new(),
        });
        noted.at = noted.at.max(at);
        if let Some(by) = &sighting.by {
            noted.by = Some(by.clone().into_owned());
        }
        if let Some(ip) = sighting.ip {
            noted.ips = most_recent_first(&[ip], &noted.ips);
        }
    }

    /// Shows uses not flushed yet in `records`.
    pub(super) fn apply_to(&self, records: &mut [TokenRecord]) {
        let pending = self.lock();
        for record in records {
            if let Some(noted) = pending.get(&record.hash) {
                noted.apply_to(record);
            }
        }
    }

    /// Everything noted, taken whole (so verifications noting uses never
    /// wait on the copy) and sorted, so instances writing the same tokens
    /// lock rows in one order.
    pub(super) fn take(&self) -> Vec<TokenUse> {
        let mut batch: Vec<_> = std::mem::take(&mut *self.lock()).into_values().collect();
        batch.sort_unstable_by_key(|noted| noted.hash.0);
        batch
    }

    /// A batch that could not be written, back for the next flush (what
    /// was noted meanwhile is newer and wins; older addresses follow it).
    pub(super) fn put_back(&self, batch: Vec<TokenUse>) {
        let mut usage = self.lock();
        for old in batch {
            match usage.get_mut(&old.hash) {
                Some(newer) => {
                    newer.at = newer.at.max(old.at);
                    if newer.by.is_none() {
                        newer.by = old.by;
                    }
                    newer.ips = most_recent_first(&newer.ips, &old.ips);
                }
                None => {
                    usage.insert(old.hash, old);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("address")
    }

    #[test]
    fn addresses_are_kept_most_recent_first_distinct_and_five_at_most() {
        let earlier = [
            ip("10.0.0.1"),
            ip("10.0.0.2"),
            ip("10.0.0.3"),
            ip("10.0.0.4"),
            ip("10.0.0.5"),
        ];
        assert_eq!(
            most_recent_first(&[ip("10.0.0.3")], &earlier),
            [
                ip("10.0.0.3"),
                ip("10.0.0.1"),
                ip("10.0.0.2"),
                ip("10.0.0.4"),
                ip("10.0.0.5")
            ]
        );
        assert_eq!(
            most_recent_first(&[ip("10.0.0.9")], &earlier),
            [
                ip("10.0.0.9"),
                ip("10.0.0.1"),
                ip("10.0.0.2"),
                ip("10.0.0.3"),
                ip("10.0.0.4")
            ]
        );
        assert_eq!(
            most_recent_first(&[ip("::ffff:10.0.0.2")], &earlier[..2]),
            [ip("10.0.0.2"), ip("10.0.0.1")],
            "an IPv4-mapped address is the IPv4 one"
        );
        assert_eq!(most_recent_first(&[], &earlier[..1]), [ip("10.0.0.1")]);
    }

    #[test]
    fn a_sightings_key_tells_places_and_addresses_apart() {
        let here = Sighting::status(Some(ip("10.0.0.1")));
        assert_eq!(here.key(), Sighting::status(Some(ip("10.0.0.1"))).key());
        assert_ne!(here.key(), Sighting::status(Some(ip("10.0.0.2"))).key());
        assert_ne!(here.key(), Sighting::resource_server("status", None).key());
        assert_ne!(
            Sighting::resource_server("CXA", Some(ip("10.0.0.1"))).key(),
            here.key()
        );
        assert_eq!(Sighting::none().key(), 0);
        assert_ne!(Sighting::status(None).key(), 0);
    }

    #[test]
    fn the_log_keeps_the_latest_place_and_the_recent_addresses() {
        let log = UsageLog::default();
        let hash = TokenHash([7; 32]);
        log.note(
            hash,
            Timestamp::from_millis(10),
            &Sighting::status(Some(ip("10.0.0.1"))),
        );
        log.note(
            hash,
            Timestamp::from_millis(20),
            &Sighting::resource_server("CXRes", Some(ip("10.0.0.2"))),
        );
        log.note(hash, Timestamp::from_millis(15), &Sighting::none());
        let batch = log.take();
        assert_eq!(batch.len(), 1);
        assert_eq!(batch[0].at, Timestamp::from_millis(20), "never moves back");
        assert_eq!(batch[0].by.as_deref(), Some("CXRes"));
        assert_eq!(batch[0].ips, [ip("10.0.0.2"), ip("10.0.0.1")]);
        assert!(log.take().is_empty());

        log.note(
            hash,
            Timestamp::from_millis(30),
            &Sighting::status(Some(ip("10.0.0.3"))),
        );
        log.put_back(batch);
        let merged = log.take();
        assert_eq!(merged[0].at, Timestamp::from_millis(30));
        assert_eq!(
            merged[0].by.as_deref(),
            Some("status"),
            "the newer place wins"
        );
        assert_eq!(
            merged[0].ips,
            [ip("10.0.0.3"), ip("10.0.0.2"), ip("10.0.0.1")]
        );
    }
}
