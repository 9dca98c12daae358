//! A bounded map from fingerprints to values that expire: the storage under
//! the verification cache, kept apart from what the cache decides (which
//! entries to serve, invalidation epochs, the revocation view).

use std::sync::{PoisonError, RwLock, RwLockReadGuard};
use std::time::{Duration, Instant};

use hashbrown::HashTable;
use hashbrown::hash_table::Entry;

use crate::crypto::TokenHash;

/// Gives a slot the alignment of a cache line (64 bytes on x86-64 and most
/// ARM cores), at no size: `[CacheLine; 0]`.
#[derive(Debug, Clone, Copy, Default)]
#[repr(align(64))]
pub(crate) struct CacheLine;

/// An entry where the map keeps it: fingerprint, deadline and value side
/// by side, aligned as `A` says. A hit reads one slot at random among all
/// of them: a 128-byte slot aligned to a cache line is two lines from
/// memory, where the same 128 bytes at a 16-byte offset (what a map of
/// `(key, value)` pairs gets from the allocator) straddle three.
struct Slot<V, A> {
    _align: [A; 0],
    key: TokenHash,
    until: Instant,
    value: V,
}

/// A fingerprint's place in a shard's table: its first eight bytes. An
/// HMAC output is already uniformly random, so hashing it again would only
/// cost time.
fn hash_of(key: &TokenHash) -> u64 {
    let mut head = [0u8; 8];
    head.copy_from_slice(&key.0[..8]);
    u64::from_le_bytes(head)
}

type Shard<V, A> = HashTable<Slot<V, A>>;

const SHARDS: usize = 64;

/// The longest an entry may live, whatever the configuration says.
pub(crate) const MAX_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// A bounded map whose entries expire: sharded read-write locks, so a hit
/// costs a shared lock and one lookup. When a shard is full it first drops
/// what expired, then an arbitrary entry: a cache of verifications needs no
/// recency bookkeeping on every read. `A` aligns the slots
/// ([`CacheLine`] for the entries every verification reads).
pub(crate) struct ExpiringMap<V, A = ()> {
    shards: Vec<RwLock<Shard<V, A>>>,
    per_shard: usize,
    ttl: Duration,
}

impl<V, A> ExpiringMap<V, A> {
    /// How long entries live at most.
    pub(crate) fn ttl(&self) -> Duration {
        self.ttl
    }

    pub(crate) fn new(capacity: u64, ttl: Duration) -> Self {
        // Deadlines are `Instant`s: a lifetime of centuries would overflow.
        let ttl = ttl.min(MAX_TTL);
        let per_shard = usize::try_from(capacity.div_ceil(SHARDS as u64)).unwrap_or(usize::MAX);
        Self {
            shards: (0..SHARDS).map(|_| RwLock::new(HashTable::new())).collect(),
            per_shard: per_shard.max(1),
            ttl,
        }
    }

    fn shard(&self, key: &TokenHash) -> &RwLock<Shard<V, A>> {
        // Byte 8 is independent of the eight bytes the shard's table hashes.
        &self.shards[usize::from(key.0[8]) % SHARDS]
    }

    fn read(lock: &RwLock<Shard<V, A>>) -> RwLockReadGuard<'_, Shard<V, A>> {
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
        let slot = shard.find(hash_of(key), |slot| slot.key == *key)?;
        (now < slot.until).then(|| f(&slot.value))
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
        let hash = hash_of(&key);
        let rehash = |slot: &Slot<V, A>| hash_of(&slot.key);
        if shard.len() >= self.per_shard && shard.find(hash, |slot| slot.key == key).is_none() {
            shard.retain(|slot| now < slot.until);
            if shard.len() >= self.per_shard {
                // An eighth at once (the first the table holds), so the scan
                // above stays rare.
                let mut victims = self.per_shard / 8 + 1;
                shard.retain(|_| {
                    let keep = victims == 0;
                    victims = victims.saturating_sub(1);
                    keep
                });
            }
        }
        let slot = Slot {
            _align: [],
            key,
            until: now + self.lifetime(&key),
            value,
        };
        match shard.entry(hash, |slot| slot.key == key, rehash) {
            Entry::Occupied(mut occupied) => *occupied.get_mut() = slot,
            Entry::Vacant(vacant) => {
                vacant.insert(slot);
            }
        }
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
            for slot in shard.iter() {
                if keys.len() >= limit {
                    return keys;
                }
                if slot.until <= horizon && wanted(&slot.value) {
                    keys.push(slot.key);
                }
            }
        }
        keys
    }

    pub(crate) fn invalidate(&self, key: &TokenHash) {
        let mut shard = self
            .shard(key)
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if let Ok(entry) = shard.find_entry(hash_of(key), |slot| slot.key == *key) {
            entry.remove();
        }
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

/// The size of a slot holding `V` aligned as `A` (a test holds the valid
/// entries' to two cache lines).
#[cfg(test)]
pub(crate) const fn slot_size<V, A>() -> (usize, usize) {
    (
        std::mem::size_of::<Slot<V, A>>(),
        std::mem::align_of::<Slot<V, A>>(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_and_the_size_stays_bounded() {
        let map: ExpiringMap<u8> = ExpiringMap::new(SHARDS as u64 * 2, Duration::from_secs(60));
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
        let expiring: ExpiringMap<u8> = ExpiringMap::new(10, Duration::ZERO);
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
