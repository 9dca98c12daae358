//! The revocation log: every deleted token's fingerprint, in commit order
//! with a monotonic cursor, so relying services that cache verifications
//! themselves can drop revoked tokens within a second. Kept for a window.

use crate::crypto::TokenHash;
use crate::freshness::RevocationView;
use crate::time::Timestamp;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    pub cursor: i64,
    pub hash: TokenHash,
    pub revoked_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RevocationPage {
    /// After the requested cursor, oldest first, at most the limit.
    pub entries: Vec<Revocation>,
    /// Entries up to this cursor were purged: a reader behind it missed some.
    pub purged_through: i64,
}

pub trait RevocationLog: Send + Sync + 'static {
    /// Entries with a cursor above `after`, at most `limit`.
    fn after(&self, after: i64, limit: usize) -> anyhow::Result<RevocationPage>;

    /// Where a reader that wants only what comes next starts: the newest
    /// cursor, or the purge mark when nothing is left.
    fn last_cursor(&self) -> anyhow::Result<i64>;

    /// Drops entries revoked before `cutoff`; returns how many.
    fn purge_before(&self, cutoff: Timestamp) -> anyhow::Result<usize>;
}

/// What the revocation listener and the log follower need of a cache: drop
/// these tokens, drop everything, and the view they prove fresh. Narrower
/// than the cache, so that nothing that only revokes can read or fill it.
pub trait RevocationSink: Send + Sync + 'static {
    fn invalidate(&self, hashes: &[TokenHash]);
    fn invalidate_all(&self);
    fn view(&self) -> &RevocationView;
}

/// Follows the log from where it stood when created and drops what it
/// lists from a cache: how a single instance on an embedded database learns
/// of revocations made by another process on the same file (an operator's
/// `tessera tokens revoke`), where PostgreSQL would notify.
pub struct LogFollower {
    log: std::sync::Arc<dyn RevocationLog>,
    cache: std::sync::Arc<dyn RevocationSink>,
    cursor: Option<i64>,
}

impl std::fmt::Debug for LogFollower {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogFollower")
            .field("cursor", &self.cursor)
            .finish_non_exhaustive()
    }
}

/// Entries read per round; a longer backlog is read over the next rounds.
const FOLLOW_PAGE: usize = 1000;

impl LogFollower {
    pub fn new(
        log: std::sync::Arc<dyn RevocationLog>,
        cache: std::sync::Arc<dyn RevocationSink>,
    ) -> Self {
        Self {
            log,
            cache,
            cursor: None,
        }
    }

    /// Reads what was logged since the last round and drops it. The first
    /// round only finds where the log ends: nothing older can be cached.
    /// A successful round proves the cache's revocation view fresh as of
    /// the moment it began: everything committed before then was read.
    pub fn poll(&mut self) -> anyhow::Result<usize> {
        let started = std::time::Instant::now();
        let Some(cursor) = self.cursor else {
            self.cursor = Some(self.log.last_cursor()?);
            self.cache.view().prove(started);
            return Ok(0);
        };
        let page = self.log.after(cursor, FOLLOW_PAGE)?;
        let mut next = cursor;
        if page.purged_through > cursor {
            // Entries this follower never saw are gone: forget everything,
            // once, and go on from past the purge.
            self.cache.invalidate_all();
            next = page.purged_through;
        }
        let hashes: Vec<TokenHash> = page.entries.iter().map(|r| r.hash).collect();
        if let Some(last) = page.entries.last() {
            next = next.max(last.cursor);
        }
        self.cursor = Some(next);
        self.cache.invalidate(&hashes);
        if page.entries.len() < FOLLOW_PAGE {
            // The whole backlog was read, not just a page of it.
            self.cache.view().prove(started);
        }
        Ok(hashes.len())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::NewTokenRecord;
    use crate::cache::{Cached, TokenCache};
    use crate::ids::UserId;
    use crate::ports::TokenRepository;
    use crate::testing::InMemoryStore;

    fn insert(store: &InMemoryStore, byte: u8) -> TokenHash {
        let hash = TokenHash([byte; 32]);
        store
            .insert(
                NewTokenRecord {
                    public_id: crate::TokenId::generate(Timestamp::EPOCH),
                    user_id: UserId::new(1).expect("positive"),
                    identifier: "followed".into(),
                    hash,
                    sealed: vec![1],
                    permissions: crate::PermissionSet::default(),
                    from_api_client: None,
                    created_at: Timestamp::EPOCH,
                    expires_at: None,
                    allowed_ips: None,
                    canary: false,
                    created_by: crate::Actor::system(),
                },
                Timestamp::EPOCH,
            )
            .expect("insert");
        hash
    }

    #[test]
    fn the_follower_drops_what_is_logged_after_it_started() {
        let store = Arc::new(InMemoryStore::default());
        let cache = Arc::new(TokenCache::new(crate::CacheSettings::default()));
        let before = insert(&store, 1);
        let after = insert(&store, 2);
        let kept = insert(&store, 3);
        store
            .delete(UserId::new(1).expect("positive"), &before, Timestamp::EPOCH)
            .expect("delete");
        let mut follower = LogFollower::new(store.clone(), cache.clone());
        assert_eq!(follower.poll().expect("poll"), 0, "history is skipped");

        for hash in [after, kept] {
            cache.fill(hash, Cached::Unknown, cache.epoch());
        }
        store
            .delete(UserId::new(1).expect("positive"), &after, Timestamp::EPOCH)
            .expect("delete");
        assert_eq!(follower.poll().expect("poll"), 1);
        assert!(cache.get(&after, |_| ()).is_none(), "dropped");
        assert!(cache.get(&kept, |_| ()).is_some(), "others stay");
        assert_eq!(follower.poll().expect("poll"), 0, "read once");
    }

    /// A log that cannot be read (a locked or vanished file).
    struct Unreadable;

    impl RevocationLog for Unreadable {
        fn after(&self, _: i64, _: usize) -> anyhow::Result<RevocationPage> {
            anyhow::bail!("unreadable")
        }
        fn last_cursor(&self) -> anyhow::Result<i64> {
            anyhow::bail!("unreadable")
        }
        fn purge_before(&self, _: Timestamp) -> anyhow::Result<usize> {
            anyhow::bail!("unreadable")
        }
    }

    #[test]
    fn only_successful_rounds_prove_the_view_fresh() {
        let cache = Arc::new(TokenCache::new(crate::CacheSettings {
            max_staleness: Some(std::time::Duration::from_secs(1)),
            ..crate::CacheSettings::default()
        }));
        let mut blind = LogFollower::new(Arc::new(Unreadable), cache.clone());
        assert!(blind.poll().is_err());
        assert!(!cache.view().is_fresh(), "a failed round proves nothing");

        let store = Arc::new(InMemoryStore::default());
        let mut follower = LogFollower::new(store, cache.clone());
        follower.poll().expect("poll");
        assert!(cache.view().is_fresh());
        let first = cache.view().age().expect("proven");
        follower.poll().expect("poll");
        assert!(
            cache.view().age().expect("proven") <= first + std::time::Duration::from_millis(50)
        );
    }

    #[test]
    fn a_follower_that_fell_behind_the_purge_empties_the_cache() {
        let store = Arc::new(InMemoryStore::default());
        let cache = Arc::new(TokenCache::new(crate::CacheSettings::default()));
        let mut follower = LogFollower::new(store.clone(), cache.clone());
        follower.poll().expect("poll");
        let gone = insert(&store, 4);
        let cached = insert(&store, 5);
        cache.fill(cached, Cached::Unknown, cache.epoch());
        store
            .delete(UserId::new(1).expect("positive"), &gone, Timestamp::EPOCH)
            .expect("delete");
        store.purge_before(Timestamp::MAX).expect("purge");
        follower.poll().expect("poll");
        assert!(cache.get(&cached, |_| ()).is_none(), "everything forgotten");

        // Once: the purge is behind it now, and so is a restart's follower.
        cache.fill(cached, Cached::Unknown, cache.epoch());
        follower.poll().expect("poll");
        assert!(cache.get(&cached, |_| ()).is_some(), "kept after the purge");
        let mut restarted = LogFollower::new(store.clone(), cache.clone());
        restarted.poll().expect("poll");
        restarted.poll().expect("poll");
        assert!(cache.get(&cached, |_| ()).is_some(), "kept after a restart");
    }
}
