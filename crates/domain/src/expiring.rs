//! A bounded map from fingerprints to values that expire: the storage under
//! the verification cache, kept apart from what the cache decides (which
//! entries to serve, invalidation epochs, the revocation view).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{PoisonError, RwLock, RwLockReadGuard};
use std::time::{Duration, Instant};

use crate::crypto::TokenHash;

/// Hashes a fingerprint by its first eight bytes: an HMAC output is already
/// uniformly random, so hashing it again (SipHash) would only cost time.
#[derive(Default)]
struct FingerprintHasher(u64);

impl Hasher for FingerprintHasher {
    fn write(&mut self, bytes: &[u8]) {
        if let Some(head) = bytes.first_chunk::<8>() {
            self.0 = u64::from_le_bytes(*head);
        }
    }

    fn write_usize(&mut self, _length: usize) {}

    fn finish(&self) -> u64 {
        self.0
    }
}

/// Each entry with the instant it stops being served.
type Shard<V> = HashMap<TokenHash, (V, Instant), BuildHasherDefault<FingerprintHasher>>;

const SHARDS: usize = 64;

/// The longest an entry may live, whatever the configuration says.
pub(crate) const MAX_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// A bounded map whose entries expire: sharded read-write locks, so a hit
/// costs a shared lock and one lookup. When a shard is full it first drops
/// what expired, then an arbitrary entry: a cache of verifications needs no
/// recency bookkeeping on every read.
pub(crate) struct ExpiringMap<V> {
    shards: Vec<RwLock<Shard<V>>>,
    per_shard: usize,
    ttl: Duration,
}

impl<V> ExpiringMap<V> {
    /// How long entries live at most.
    pub(crate) fn ttl(&self) -> Duration {
        self.ttl
    }

    pub(crate) fn new(capacity: u64, ttl: Duration) -> Self {
        // Deadlines are `Instant`s: a lifetime of centuries would overflow.
        let ttl = ttl.min(MAX_TTL);
        let per_shard = usize::try_from(capacity.div_ceil(SHARDS as u64)).unwrap_or(usize::MAX);
        Self {
            shards: (0..SHARDS).map(|_| RwLock::new(Shard::default())).collect(),
            per_shard: per_shard.max(1),
            ttl,
        }
    }

    fn shard(&self, key: &TokenHash) -> &RwLock<Shard<V>> {
        // Byte 8 is independent of the eight bytes the shard's map hashes.
        &self.shards[usize::from(key.0[8]) % SHARDS]
    }

    fn read(lock: &RwLock<Shard<V>>) -> RwLockReadGuard<'_, Shard<V>> {
        lock.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// `f` of the live entry, under the shard's read lock: entries are kept
    /// inline (no pointer to chase, no reference count to touch per hit).
    pub(crate) fn read_with<R>(
        &self,
        key: &TokenHash,
        now: Instant,
        f: impl FnOnce(&V) -> R,
    ) -> Option<R> {
        let shard = Self::read(self.shard(key));
        let (value, until) = shard.get(key)?;
        (now < *until).then(|| f(value))
    }

    /// An entry lives between three quarters of the TTL and all of it,
    /// spread by its fingerprint: entries filled together (a deploy, a
    /// burst of new callers) must not all expire together and send every
    /// verification of that moment to the database at once.
    pub(crate) fn lifetime(&self, key: &TokenHash) -> Duration {
        let spread = self.ttl / 4;
        let Some(spread_nanos) = u64::try_from(spread.as_nanos()).ok().filter(|n| *n > 0) else {
            return self.ttl;
        };
        let bytes = key.0[16..24].try_into().unwrap_or([0; 8]);
        self.ttl - Duration::from_nanos(u64::from_le_bytes(bytes) % spread_nanos)
    }

    pub(crate) fn insert(&self, key: TokenHash, value: V) {
        let mut shard = self
            .shard(&key)
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        if shard.len() >= self.per_shard && !shard.contains_key(&key) {
            shard.retain(|_, (_, until)| now < *until);
            if shard.len() >= self.per_shard {
                // An eighth at once, so the scan above stays rare.
                let victims: Vec<TokenHash> =
                    shard.keys().take(self.per_shard / 8 + 1).copied().collect();
                for victim in victims {
                    shard.remove(&victim);
                }
            }
        }
        let until = now + self.lifetime(&key);
        shard.insert(key, (value, until));
    }

    /// Keys whose entries stop being served before `horizon` and pass
    /// `wanted`, at most `limit` of them.
    pub(crate) fn expiring(
        &self,
        horizon: Instant,
        limit: usize,
        wanted: impl Fn(&V) -> bool,
    ) -> Vec<TokenHash> {
        let mut keys = Vec::new();
        for shard in &self.shards {
            let shard = Self::read(shard);
            for (key, (value, until)) in shard.iter() {
                if keys.len() >= limit {
                    return keys;
                }
                if *until <= horizon && wanted(value) {
                    keys.push(*key);
                }
            }
        }
        keys
    }

    pub(crate) fn invalidate(&self, key: &TokenHash) {
        self.shard(key)
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(key);
    }

    pub(crate) fn invalidate_all(&self) {
        for shard in &self.shards {
            shard
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .clear();
        }
    }

    pub(crate) fn entry_count(&self) -> u64 {
        self.shards
            .iter()
            .map(|shard| Self::read(shard).len() as u64)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_and_the_size_stays_bounded() {
        let map = ExpiringMap::new(SHARDS as u64 * 2, Duration::from_secs(60));
        for i in 0..=255u8 {
            let mut key = [i; 32];
            key[8] = 0; // all in one shard
            map.insert(TokenHash(key), i);
        }
        assert!(map.entry_count() <= 2, "a shard holds its share only");
        assert!(
            map.read_with(
                &TokenHash([
                    255, 255, 255, 255, 255, 255, 255, 255, 0, 255, 255, 255, 255, 255, 255, 255,
                    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255
                ]),
                Instant::now(),
                |v| *v
            )
            .is_some(),
            "the newest stays"
        );
        let expiring = ExpiringMap::new(10, Duration::ZERO);
        expiring.insert(TokenHash([1; 32]), 1);
        assert_eq!(
            expiring.read_with(&TokenHash([1; 32]), Instant::now(), |v| *v),
            None,
            "expired at once"
        );
    }

    #[test]
    fn lifetimes_spread_over_the_last_quarter_of_the_ttl() {
        let ttl = Duration::from_secs(60);
        let map = ExpiringMap::<u8>::new(10, ttl);
        let lifetimes: Vec<Duration> = (0..=255u8)
            .map(|i| map.lifetime(&TokenHash([i; 32])))
            .collect();
        assert!(lifetimes.iter().all(|l| *l > ttl * 3 / 4 && *l <= ttl));
        let shortest = lifetimes.iter().min().expect("not empty");
        let longest = lifetimes.iter().max().expect("not empty");
        assert!(
            *longest - *shortest > ttl / 8,
            "spread {shortest:?}..{longest:?}"
        );
    }
}
