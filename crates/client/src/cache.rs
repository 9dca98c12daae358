//! The verifier's local answers, by token digest and client address, with
//! an index by fingerprint so a feed entry removes every answer about its
//! token.
//!
//! A generation counter, moved by every removal, keeps a late answer out:
//! an introspection that started before a revocation was applied does not
//! put its (possibly stale) answer in the cache afterwards.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use parking_lot::RwLock;
use sha2::{Digest, Sha256};

use crate::principal::Principal;

/// A token is held as its SHA-256 digest, never as itself; restricted
/// tokens are active for some addresses only, so the address is part of
/// the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Key {
    digest: [u8; 32],
    client_ip: Option<IpAddr>,
}

impl Key {
    pub(crate) fn new(token: &str, client_ip: Option<IpAddr>) -> Self {
        Self {
            digest: Sha256::digest(token.as_bytes()).into(),
            client_ip,
        }
    }
}

/// What Tessera said about a token.
#[derive(Debug, Clone)]
pub(crate) enum Answer {
    Active(Arc<Principal>),
    Inactive,
}

#[derive(Debug)]
struct Entry {
    answer: Answer,
    until: Instant,
}

#[derive(Debug, Default)]
struct Maps {
    entries: HashMap<Key, Entry>,
    by_fingerprint: HashMap<String, Vec<Key>>,
}

#[derive(Debug)]
pub(crate) struct Cache {
    maps: RwLock<Maps>,
    generation: AtomicU64,
    max_entries: usize,
}

impl Cache {
    pub(crate) fn new(max_entries: usize) -> Self {
        Self {
            maps: RwLock::new(Maps::default()),
            generation: AtomicU64::new(0),
            max_entries,
        }
    }

    pub(crate) fn get(&self, key: &Key, now: Instant) -> Option<Answer> {
        let maps = self.maps.read();
        let entry = maps.entries.get(key)?;
        (entry.until > now).then(|| entry.answer.clone())
    }

    /// To pass to [`Cache::insert`] with the answer of a request started now.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Keeps `answer` until `until`, unless something was removed since
    /// `generation` was read.
    pub(crate) fn insert(&self, key: Key, answer: Answer, until: Instant, generation: u64) {
        let mut maps = self.maps.write();
        if self.generation.load(Ordering::Acquire) != generation {
            return;
        }
        if maps.entries.len() >= self.max_entries && !maps.entries.contains_key(&key) {
            maps.make_room(Instant::now());
        }
        if let Answer::Active(principal) = &answer {
            let keys = maps
                .by_fingerprint
                .entry(principal.fingerprint.clone())
                .or_default();
            if !keys.contains(&key) {
                keys.push(key);
            }
        }
        if let Some(replaced) = maps.entries.insert(key, Entry { answer, until }) {
            maps.unindex(&key, &replaced.answer);
        }
    }

    /// Forgets every answer about the tokens of `fingerprints`.
    pub(crate) fn revoke<'a>(&self, fingerprints: impl IntoIterator<Item = &'a str>) {
        let mut maps = self.maps.write();
        self.generation.fetch_add(1, Ordering::AcqRel);
        for fingerprint in fingerprints {
            for key in maps.by_fingerprint.remove(fingerprint).unwrap_or_default() {
                maps.entries.remove(&key);
            }
        }
    }

    /// Forgets everything: the feed lost entries this cache may depend on.
    pub(crate) fn clear(&self) {
        let mut maps = self.maps.write();
        self.generation.fetch_add(1, Ordering::AcqRel);
        maps.entries.clear();
        maps.by_fingerprint.clear();
    }

    pub(crate) fn len(&self) -> usize {
        self.maps.read().entries.len()
    }
}

impl Maps {
    /// Drops expired answers, and arbitrary ones until a sixteenth of the
    /// cache is free: the scan is paid once per many inserts, not per insert.
    fn make_room(&mut self, now: Instant) {
        let wanted = (self.entries.len() / 16).max(1);
        let mut victims: Vec<Key> = self
            .entries
            .iter()
            .filter(|(_, entry)| entry.until <= now)
            .map(|(key, _)| *key)
            .collect();
        if victims.len() < wanted {
            let more = wanted - victims.len();
            let arbitrary = self
                .entries
                .iter()
                .filter(|(_, entry)| entry.until > now)
                .map(|(key, _)| *key)
                .take(more);
            victims.extend(arbitrary.collect::<Vec<_>>());
        }
        for key in victims {
            if let Some(entry) = self.entries.remove(&key) {
                self.unindex(&key, &entry.answer);
            }
        }
    }

    fn unindex(&mut self, key: &Key, answer: &Answer) {
        let Answer::Active(principal) = answer else {
            return;
        };
        if let Some(keys) = self.by_fingerprint.get_mut(&principal.fingerprint) {
            keys.retain(|k| k != key);
            if keys.is_empty() {
                self.by_fingerprint.remove(&principal.fingerprint);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn principal(fingerprint: &str) -> Answer {
        Answer::Active(Arc::new(Principal {
            user_id: 1,
            permissions: vec![],
            client_id: None,
            expires_at: None,
            fingerprint: fingerprint.to_owned(),
        }))
    }

    fn later() -> Instant {
        Instant::now() + Duration::from_secs(60)
    }

    #[test]
    fn a_revoked_fingerprint_removes_its_answers_for_every_address() {
        let cache = Cache::new(10);
        let here = Key::new("tok", Some("192.0.2.1".parse().expect("ip")));
        let there = Key::new("tok", None);
        let other = Key::new("other", None);
        for (key, fp) in [(here, "aa"), (there, "aa"), (other, "bb")] {
            cache.insert(key, principal(fp), later(), cache.generation());
        }
        cache.revoke(["aa"]);
        assert!(cache.get(&here, Instant::now()).is_none());
        assert!(cache.get(&there, Instant::now()).is_none());
        assert!(cache.get(&other, Instant::now()).is_some());
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn an_answer_from_before_a_revocation_is_not_kept() {
        let cache = Cache::new(10);
        let key = Key::new("tok", None);
        let started = cache.generation();
        cache.revoke(["aa"]);
        cache.insert(key, principal("aa"), later(), started);
        assert!(cache.get(&key, Instant::now()).is_none());
    }

    #[test]
    fn an_expired_answer_is_not_returned() {
        let cache = Cache::new(10);
        let key = Key::new("tok", None);
        let until = Instant::now() + Duration::from_secs(5);
        cache.insert(key, Answer::Inactive, until, cache.generation());
        assert!(cache.get(&key, until).is_none());
        assert!(cache.get(&key, until - Duration::from_secs(1)).is_some());
    }

    #[test]
    fn a_full_cache_drops_expired_answers_then_any_and_keeps_its_index_exact() {
        let cache = Cache::new(2);
        // Expired from the moment it is inserted (`until <= now`).
        let soon = Instant::now();
        let a = Key::new("a", None);
        let b = Key::new("b", None);
        let c = Key::new("c", None);
        cache.insert(a, principal("fa"), soon, cache.generation());
        cache.insert(b, principal("fb"), later(), cache.generation());
        // Inserting `c` must drop the expired `a`, not `b`.
        cache.insert(c, principal("fc"), later(), cache.generation());
        assert_eq!(cache.len(), 2);
        assert!(cache.get(&b, Instant::now()).is_some());
        assert!(!cache.maps.read().by_fingerprint.contains_key("fa"));
        cache.insert(a, principal("fa"), later(), cache.generation());
        assert_eq!(cache.len(), 2);
        let maps = cache.maps.read();
        let indexed: usize = maps.by_fingerprint.values().map(Vec::len).sum();
        assert_eq!(indexed, 2, "{maps:?}");
    }

    #[test]
    fn a_full_cache_frees_a_sixteenth_at_once() {
        let cache = Cache::new(64);
        for n in 0..64 {
            cache.insert(
                Key::new(&n.to_string(), None),
                principal(&format!("f{n}")),
                later(),
                cache.generation(),
            );
        }
        cache.insert(
            Key::new("one more", None),
            principal("g"),
            later(),
            cache.generation(),
        );
        assert_eq!(cache.len(), 64 - 4 + 1);
        let maps = cache.maps.read();
        let indexed: usize = maps.by_fingerprint.values().map(Vec::len).sum();
        assert_eq!(indexed, maps.entries.len());
    }

    #[test]
    fn clear_forgets_everything_and_in_flight_answers() {
        let cache = Cache::new(10);
        let key = Key::new("tok", None);
        cache.insert(key, principal("aa"), later(), cache.generation());
        let started = cache.generation();
        cache.clear();
        cache.insert(Key::new("x", None), Answer::Inactive, later(), started);
        assert_eq!(cache.len(), 0);
    }
}
