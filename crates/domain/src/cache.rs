//! The per-instance verification cache: verified tokens (and unknown ones,
//! briefly) by fingerprint, never by token. Deleting a token invalidates
//! its entry before the deletion is acknowledged; an epoch counter makes
//! sure a verification that read the store before an invalidation can never
//! put a stale entry back.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use std::time::Instant;

use crate::address::AllowedIps;
use crate::canary::Canary;
use crate::crypto::TokenHash;
use crate::expiring::{CacheLine, ExpiringMap, MAX_TTL};
use crate::freshness::RevocationView;
use crate::ids::{ClientId, UserId};
use crate::permission::PermissionSet;
use crate::principal::Principal;
use crate::revocations::RevocationSink;
use crate::time::Timestamp;

/// Sizes and lives of the cache (`[cache]` configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheSettings {
    /// 0 disables the cache: every verification reads the store.
    pub max_entries: u64,
    pub positive_ttl: Duration,
    pub negative_ttl: Duration,
    /// The revocation deadline: valid entries are served only while the
    /// instance's revocation view is younger (`None`: always fresh).
    pub max_staleness: Option<Duration>,
    /// While the store does not answer, serve cached valid entries even
    /// when the view is stale (availability over the deadline).
    pub serve_stale_on_outage: bool,
}

impl Default for CacheSettings {
    fn default() -> Self {
        Self {
            max_entries: 200_000,
            positive_ttl: Duration::from_secs(60),
            negative_ttl: Duration::from_secs(5),
            max_staleness: None,
            serve_stale_on_outage: false,
        }
    }
}

/// A verified token as cached: what its [`Principal`] holds, kept small.
/// Every verification reads one at random among all the cached tokens, so
/// the entry's size is what a hit waits for from memory and what the cache
/// costs in RSS: without the fingerprint (the map's key already) and with
/// the rare client id behind a pointer, a slot of the map is 128 bytes
/// instead of 176 (6 MiB less for 100k tokens).
#[derive(Debug)]
pub struct ValidEntry {
    user_id: UserId,
    permissions: Arc<PermissionSet>,
    from_api_client: Option<Box<ClientId>>,
    created_at: Timestamp,
    expires_at: Option<Timestamp>,
    allowed_ips: Option<Arc<AllowedIps>>,
    /// When `lastUsedAt` was last recorded for it, so a busy token is
    /// written at most once a minute.
    pub last_recorded: AtomicI64,
    /// Served since it was filled: only entries in use are refreshed
    /// before they expire.
    pub touched: AtomicBool,
    /// The key of the last sighting noted (where and from which address),
    /// so a token used over and over from one place is noted once a minute
    /// and a new place at once.
    pub last_sighting: AtomicU64,
}

impl ValidEntry {
    /// `last_sighting`: the key of where it was last used as stored.
    pub fn new(principal: Principal, last_recorded: Timestamp, last_sighting: u64) -> Self {
        Self {
            user_id: principal.user_id,
            permissions: principal.permissions,
            from_api_client: principal.from_api_client.map(Box::new),
            created_at: principal.created_at,
            expires_at: principal.expires_at,
            allowed_ips: principal.allowed_ips,
            last_recorded: AtomicI64::new(last_recorded.as_millis()),
            touched: AtomicBool::new(false),
            last_sighting: AtomicU64::new(last_sighting),
        }
    }

    /// Who the token cached under `hash` speaks for.
    pub fn principal(&self, hash: TokenHash) -> Principal {
        Principal {
            user_id: self.user_id,
            permissions: self.permissions.clone(),
            from_api_client: self.from_api_client.as_deref().cloned(),
            hash,
            created_at: self.created_at,
            expires_at: self.expires_at,
            allowed_ips: self.allowed_ips.clone(),
        }
    }

    /// When the token stops being valid (a rotated one: its overlap's end).
    pub fn expires_at(&self) -> Option<Timestamp> {
        self.expires_at
    }
}

/// What the store said of a fingerprint, to be cached.
#[derive(Debug)]
pub enum Cached {
    Valid(ValidEntry),
    Unknown,
    /// Refused like an unknown token, for as long, but each use is an
    /// alarm.
    Canary(Canary),
}

/// What the cache knows of a fingerprint.
#[derive(Debug, PartialEq, Eq)]
pub enum Hit<R> {
    /// Valid: what the caller's function made of the entry.
    Valid(R),
    Unknown,
    Canary(Canary),
}

type Observer = Box<dyn Fn() + Send + Sync>;

pub struct TokenCache {
    valid: Option<ExpiringMap<ValidEntry, CacheLine>>,
    /// Refused fingerprints: unknown ones, and canaries (`Some`).
    unknown: Option<ExpiringMap<Option<Canary>>>,
    epoch: AtomicU64,
    /// Lookups the cache could not answer (counted on the miss path only,
    /// so a hit pays nothing for it).
    misses: AtomicU64,
    observers: RwLock<Vec<Observer>>,
    /// Most tokens share one of a few permission sets: one copy each
    /// keeps a cached entry small.
    sets: Mutex<HashMap<PermissionSet, Arc<PermissionSet>>>,
    /// How old this instance's knowledge of revocations is.
    view: RevocationView,
    serve_stale_on_outage: bool,
}

/// Distinct permission sets kept for sharing; past it sets are not shared.
const MAX_SHARED_SETS: usize = 10_000;

impl std::fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenCache")
            .field("enabled", &self.valid.is_some())
            .field("epoch", &self.epoch)
            .finish_non_exhaustive()
    }
}

impl TokenCache {
    pub fn new(settings: CacheSettings) -> Self {
        let enabled = settings.max_entries > 0;
        Self {
            valid: enabled.then(|| ExpiringMap::new(settings.max_entries, settings.positive_ttl)),
            unknown: enabled
                .then(|| ExpiringMap::new(settings.max_entries / 4 + 1, settings.negative_ttl)),
            epoch: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            observers: RwLock::new(Vec::new()),
            sets: Mutex::new(HashMap::new()),
            view: RevocationView::new(settings.max_staleness),
            serve_stale_on_outage: settings.serve_stale_on_outage,
        }
    }

    /// This instance's revocation view: proven by the listener or the log
    /// follower, read by every verification.
    pub fn view(&self) -> &RevocationView {
        &self.view
    }

    /// Whether cached valid entries may stand in for a store that does
    /// not answer.
    pub fn serves_stale_on_outage(&self) -> bool {
        self.serve_stale_on_outage
    }

    /// The shared copy of `set`.
    pub fn intern(&self, set: PermissionSet) -> Arc<PermissionSet> {
        let mut sets = self.sets.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(shared) = sets.get(&set) {
            return shared.clone();
        }
        let shared = Arc::new(set);
        if sets.len() < MAX_SHARED_SETS {
            sets.insert((*shared).clone(), shared.clone());
        }
        shared
    }

    /// What the cache knows of `hash`: [`Self::get_valid`], then
    /// [`Self::get_refused`]. Verification asks the two apart (a token's
    /// checksum is checked between them); tests ask both at once.
    #[cfg(test)]
    pub fn get<R>(
        &self,
        hash: &TokenHash,
        on_valid: impl FnOnce(&ValidEntry) -> R,
    ) -> Option<Hit<R>> {
        if let Some(answer) = self.get_valid(hash, on_valid) {
            return Some(Hit::Valid(answer));
        }
        self.get_refused(hash).map(|refused| match refused {
            Hit::Valid(never) => match never {},
            Hit::Unknown => Hit::Unknown,
            Hit::Canary(canary) => Hit::Canary(canary),
        })
    }

    /// `on_valid` of the valid entry of `hash`, seen in place; `None` when
    /// there is none, or while the revocation view is stale (it may have
    /// been revoked elsewhere).
    pub fn get_valid<R>(
        &self,
        hash: &TokenHash,
        on_valid: impl FnOnce(&ValidEntry) -> R,
    ) -> Option<R> {
        let now = Instant::now();
        if self.view.is_fresh_at(now) {
            self.valid_at(hash, now, on_valid)
        } else {
            None
        }
    }

    /// What to answer for a refused fingerprint (unknown, a canary; served
    /// whatever the revocation view, as refusing is always safe), or
    /// `None`, a miss, when the cache has nothing to say.
    pub fn get_refused(&self, hash: &TokenHash) -> Option<Hit<Infallible>> {
        let known = self
            .unknown
            .as_ref()
            .and_then(|c| c.read_with(hash, Instant::now(), |canary| *canary))
            .map(|canary| canary.map_or(Hit::Unknown, Hit::Canary));
        if known.is_none() {
            self.misses.fetch_add(1, Ordering::Relaxed);
        }
        known
    }

    /// Lookups the cache could not answer since start (`/metrics`).
    pub fn misses(&self) -> u64 {
        self.misses.load(Ordering::Relaxed)
    }

    /// Valid and unknown entries held now (`/metrics`): one read lock per
    /// shard, for a scrape, not for the request path.
    pub fn entries(&self) -> (u64, u64) {
        (
            self.valid.as_ref().map_or(0, ExpiringMap::entry_count),
            self.unknown.as_ref().map_or(0, ExpiringMap::entry_count),
        )
    }

    /// A valid entry whatever the revocation view says: what an instance
    /// configured to prefer availability serves while the store is down.
    pub fn get_stale<R>(
        &self,
        hash: &TokenHash,
        on_valid: impl FnOnce(&ValidEntry) -> R,
    ) -> Option<R> {
        self.valid_at(hash, Instant::now(), on_valid)
    }

    fn valid_at<R>(
        &self,
        hash: &TokenHash,
        now: Instant,
        on_valid: impl FnOnce(&ValidEntry) -> R,
    ) -> Option<R> {
        let serve = |entry: &ValidEntry| {
            // Read first: an entry is written once per life, not per hit.
            if !entry.touched.load(Ordering::Relaxed) {
                entry.touched.store(true, Ordering::Relaxed);
            }
            on_valid(entry)
        };
        self.valid
            .as_ref()
            .and_then(|c| c.read_with(hash, now, serve))
    }

    /// When `lastUsedAt` was last recorded for a cached token, without
    /// counting as a use of it.
    pub fn last_recorded(&self, hash: &TokenHash) -> Option<Timestamp> {
        self.valid
            .as_ref()?
            .read_with(hash, Instant::now(), |entry| {
                Timestamp::from_millis(entry.last_recorded.load(Ordering::Relaxed))
            })
    }

    /// Valid entries served since they were filled whose life ends within
    /// `ahead` (or has ended), at most `limit`: what to refresh so busy
    /// tokens never miss the cache.
    pub fn due_for_refresh(&self, ahead: Duration, limit: usize) -> Vec<TokenHash> {
        self.valid.as_ref().map_or_else(Vec::new, |valid| {
            valid.expiring(Instant::now() + ahead.min(MAX_TTL), limit, |entry| {
                entry.touched.load(Ordering::Relaxed)
            })
        })
    }

    /// How long before its end an entry in use is refreshed: a quarter of
    /// the positive lifetime, the part the spread of lifetimes leaves out.
    pub fn refresh_ahead(&self) -> Duration {
        self.valid
            .as_ref()
            .map_or(Duration::ZERO, |valid| valid.ttl() / 4)
    }

    /// Read before asking the store; pass to [`Self::fill`].
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::SeqCst)
    }

    /// Caches what the store said, unless an invalidation happened since
    /// `epoch_before` was read (the answer may then be stale). Checked again
    /// after the insert, so an invalidation racing with it still wins.
    /// Returns whether the entry stayed.
    pub fn fill(&self, hash: TokenHash, entry: Cached, epoch_before: u64) -> bool {
        if self.epoch() != epoch_before {
            return false;
        }
        match entry {
            Cached::Valid(valid) => {
                if let Some(cache) = &self.valid {
                    cache.insert(hash, valid);
                }
            }
            Cached::Unknown | Cached::Canary(_) => {
                if let Some(cache) = &self.unknown {
                    let canary = match entry {
                        Cached::Canary(canary) => Some(canary),
                        _ => None,
                    };
                    cache.insert(hash, canary);
                }
            }
        }
        if self.epoch() != epoch_before {
            self.remove(&hash);
            return false;
        }
        true
    }

    /// Drops entries without telling anyone: tokens the store no longer
    /// has, whose deletion is (or will be) announced by its own path.
    pub fn discard(&self, hashes: &[TokenHash]) {
        for hash in hashes {
            self.remove(hash);
        }
    }

    fn remove(&self, hash: &TokenHash) {
        if let Some(cache) = &self.valid {
            cache.invalidate(hash);
        }
        if let Some(cache) = &self.unknown {
            cache.invalidate(hash);
        }
    }

    /// Forgets these tokens now (they were deleted) and tells observers.
    pub fn invalidate(&self, hashes: &[TokenHash]) {
        if hashes.is_empty() {
            return;
        }
        self.epoch.fetch_add(1, Ordering::SeqCst);
        for hash in hashes {
            self.remove(hash);
        }
        self.notify();
    }

    /// Forgets everything: when revocations may have been missed (a lost
    /// connection to the notification channel).
    pub fn invalidate_all(&self) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        if let Some(cache) = &self.valid {
            cache.invalidate_all();
        }
        if let Some(cache) = &self.unknown {
            cache.invalidate_all();
        }
        self.notify();
    }

    /// Calls `observer` after every invalidation (e.g. to wake long polls).
    pub fn subscribe(&self, observer: impl Fn() + Send + Sync + 'static) {
        self.observers
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(Box::new(observer));
    }

    fn notify(&self) {
        for observer in self
            .observers
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
        {
            observer();
        }
    }
}

impl RevocationSink for TokenCache {
    fn invalidate(&self, hashes: &[TokenHash]) {
        TokenCache::invalidate(self, hashes);
    }

    fn invalidate_all(&self) {
        TokenCache::invalidate_all(self);
    }

    fn view(&self) -> &RevocationView {
        TokenCache::view(self)
    }
}

/// Whether `expires_at` has passed at `now`.
pub fn expired(expires_at: Option<Timestamp>, now: Timestamp) -> bool {
    expires_at.is_some_and(|at| at <= now)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the cache knows of `hash`, without looking into the entry.
    fn probe(cache: &TokenCache, hash: &TokenHash) -> Option<Hit<()>> {
        cache.get(hash, |_| ())
    }

    fn entry() -> Cached {
        Cached::Valid(ValidEntry::new(
            Principal {
                user_id: UserId::new(1).expect("positive"),
                permissions: Arc::new(PermissionSet::default()),
                from_api_client: None,
                hash: TokenHash([1; 32]),
                created_at: Timestamp::EPOCH,
                expires_at: None,
                allowed_ips: None,
            },
            Timestamp::EPOCH,
            0,
        ))
    }

    #[test]
    fn a_cached_token_takes_two_whole_cache_lines() {
        // The map's slot (key, deadline, entry): what a hit waits for from
        // memory (two whole cache lines) and what 100k cached tokens cost.
        assert_eq!(
            crate::expiring::slot_size::<ValidEntry, CacheLine>(),
            (128, 64)
        );
    }

    #[test]
    fn only_lookups_the_cache_cannot_answer_count_as_misses() {
        let cache = TokenCache::new(CacheSettings::default());
        let (valid, unknown) = (TokenHash([1; 32]), TokenHash([2; 32]));
        assert!(probe(&cache, &valid).is_none());
        assert_eq!(cache.misses(), 1);
        cache.fill(valid, entry(), cache.epoch());
        cache.fill(unknown, Cached::Unknown, cache.epoch());
        assert_eq!(cache.entries(), (1, 1));
        for _ in 0..3 {
            assert!(probe(&cache, &valid).is_some());
            assert!(probe(&cache, &unknown).is_some());
        }
        assert_eq!(cache.misses(), 1, "hits are not misses");
        cache.invalidate(&[valid]);
        assert!(probe(&cache, &valid).is_none());
        assert_eq!(cache.misses(), 2);
        assert_eq!(cache.entries(), (0, 1));
    }

    #[test]
    fn filled_entries_are_found_until_invalidated() {
        let cache = TokenCache::new(CacheSettings::default());
        let hash = TokenHash([1; 32]);
        cache.fill(hash, entry(), cache.epoch());
        assert!(probe(&cache, &hash) == Some(Hit::Valid(())));
        cache.invalidate(&[hash]);
        assert!(probe(&cache, &hash).is_none());
    }

    #[test]
    fn a_read_that_raced_an_invalidation_is_not_cached() {
        let cache = TokenCache::new(CacheSettings::default());
        let hash = TokenHash([2; 32]);
        let before = cache.epoch();
        cache.invalidate(&[TokenHash([3; 32])]);
        cache.fill(hash, entry(), before);
        assert!(probe(&cache, &hash).is_none());
    }

    #[test]
    fn unknown_tokens_are_cached_negatively() {
        let cache = TokenCache::new(CacheSettings::default());
        let hash = TokenHash([4; 32]);
        cache.fill(hash, Cached::Unknown, cache.epoch());
        assert!(probe(&cache, &hash) == Some(Hit::Unknown));
        cache.invalidate_all();
        assert!(probe(&cache, &hash).is_none());
    }

    #[test]
    fn valid_entries_are_misses_while_the_view_is_stale_but_unknown_ones_stay() {
        let cache = TokenCache::new(CacheSettings {
            max_staleness: Some(Duration::from_secs(1)),
            ..CacheSettings::default()
        });
        let valid = TokenHash([7; 32]);
        let unknown = TokenHash([8; 32]);
        cache.fill(valid, entry(), cache.epoch());
        cache.fill(unknown, Cached::Unknown, cache.epoch());
        assert!(probe(&cache, &valid).is_none(), "never proven: stale");
        assert!(probe(&cache, &unknown) == Some(Hit::Unknown));
        assert!(
            cache.get_stale(&valid, |_| ()).is_some(),
            "kept for outages"
        );
        cache.view().prove(Instant::now());
        assert!(probe(&cache, &valid) == Some(Hit::Valid(())));
        cache.view().prove(Instant::now() - Duration::from_secs(2));
        assert!(
            probe(&cache, &valid) == Some(Hit::Valid(())),
            "an older proof does not make it stale"
        );
    }

    #[test]
    fn a_disabled_cache_holds_nothing() {
        let cache = TokenCache::new(CacheSettings {
            max_entries: 0,
            ..CacheSettings::default()
        });
        let hash = TokenHash([5; 32]);
        cache.fill(hash, entry(), cache.epoch());
        assert!(probe(&cache, &hash).is_none());
    }

    #[test]
    fn observers_hear_every_invalidation() {
        let cache = TokenCache::new(CacheSettings::default());
        let heard = Arc::new(AtomicU64::new(0));
        let counter = heard.clone();
        cache.subscribe(move || {
            counter.fetch_add(1, Ordering::SeqCst);
        });
        cache.invalidate(&[TokenHash([6; 32])]);
        cache.invalidate(&[]);
        cache.invalidate_all();
        assert_eq!(heard.load(Ordering::SeqCst), 2);
    }
}
