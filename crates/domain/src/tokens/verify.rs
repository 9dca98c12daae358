//! Verifying a token: the cache first, the store on a miss, the cache
//! refreshed ahead of expiry off the request path, and the answer during an
//! outage.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::availability::copy_error;
use crate::cache::{Cached, Hit, ValidEntry, expired};
use crate::canary::Canary;
use crate::crypto::TokenHash;
use crate::ports::TokenRecord;
use crate::principal::Principal;
use crate::time::Timestamp;

use super::service::TokenService;
use super::usage::{Sighting, USAGE_RESOLUTION};

/// What [`TokenService::lookup`] could tell without the store.
#[derive(Debug)]
pub enum Lookup {
    Answered(Result<Principal, VerifyError>),
    /// Only the store can tell: pass to [`TokenService::verify_stored`].
    Miss(TokenHash),
}

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("malformed token")]
    Malformed,
    #[error("unknown token")]
    Unknown,
    /// A canary: to be answered exactly like [`Self::Unknown`], and
    /// reported ([`TokenService::report_canary`]).
    #[error("canary token {} of user {}", .0.id, .0.user)]
    Canary(Canary),
    #[error("expired token")]
    Expired,
    #[error("disabled token")]
    Disabled,
    #[error("the token's owner is suspended")]
    Suspended,
    /// Not allowed from the caller's address (or the address is unknown).
    #[error("token not allowed from this address")]
    Restricted,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Why a stored, unexpired token is refused anyway, if it is.
pub(super) fn refusal_of(record: &TokenRecord) -> Option<VerifyError> {
    if record.owner_suspended {
        Some(VerifyError::Suspended)
    } else if record.disabled {
        Some(VerifyError::Disabled)
    } else {
        None
    }
}

impl TokenService {
    /// What the cache (or the token's shape) says of `token`; a use is
    /// noted with `sighting` when the answer is a valid token.
    pub fn lookup(&self, token: &str, sighting: &Sighting<'_>) -> Lookup {
        // The length and prefix first: they are what keeps a header of any
        // size from being hashed. The alphabet and the checksum only when
        // the token is not a cached valid one, which was generated
        // well-formed: the answer is the same, and a hit (nearly every
        // verification) skips a CRC. Refused fingerprints are cached only
        // for tokens that passed the check, so those come after it.
        if !self.format.fits(token) {
            return Lookup::Answered(Err(VerifyError::Malformed));
        }
        let hash = self.keyring.fingerprint(token);
        if let Some(answer) = self
            .cache
            .get_valid(&hash, |entry| self.accept(hash, entry, sighting))
        {
            return Lookup::Answered(answer);
        }
        if self.format.check(token).is_err() {
            return Lookup::Answered(Err(VerifyError::Malformed));
        }
        match self.cache.get_refused(&hash) {
            Some(Hit::Valid(never)) => match never {},
            Some(Hit::Unknown) => Lookup::Answered(Err(VerifyError::Unknown)),
            Some(Hit::Canary(canary)) => Lookup::Answered(Err(VerifyError::Canary(canary))),
            None => Lookup::Miss(hash),
        }
    }

    /// A verification that records only the time of the use.
    pub fn verify(&self, token: &str) -> Result<Principal, VerifyError> {
        match self.lookup(token, &Sighting::none()) {
            Lookup::Answered(answer) => answer,
            Lookup::Miss(hash) => self.verify_stored(hash, &Sighting::none()),
        }
    }

    pub fn verify_stored(
        &self,
        hash: TokenHash,
        sighting: &Sighting<'_>,
    ) -> Result<Principal, VerifyError> {
        let epoch = self.cache.epoch();
        match self.repository.find_by_hash(&hash) {
            Ok(found) => self.settle(hash, found, sighting, epoch),
            Err(error) => self.answer_during_outage(&hash, sighting, error),
        }
    }

    /// [`Self::verify_stored`] of many misses with one trip to the store:
    /// the answers in the order of `misses`. Concurrent misses share the
    /// round trip, which costs far more than the lookup itself.
    pub fn verify_stored_many(
        &self,
        misses: &[(TokenHash, Sighting<'_>)],
    ) -> Vec<Result<Principal, VerifyError>> {
        let epoch = self.cache.epoch();
        let hashes: Vec<TokenHash> = misses.iter().map(|(hash, _)| *hash).collect();
        let records = match self.repository.find_many_by_hash(&hashes) {
            Ok(records) => records,
            // Not an outage (a row that does not read, say): each alone,
            // so that it fails only its own token.
            Err(error) if misses.len() > 1 && !crate::availability::is_unavailable(&error) => {
                return misses
                    .iter()
                    .map(|(hash, sighting)| self.verify_stored(*hash, sighting))
                    .collect();
            }
            Err(error) => {
                return misses
                    .iter()
                    .map(|(hash, sighting)| {
                        self.answer_during_outage(hash, sighting, copy_error(&error))
                    })
                    .collect();
            }
        };
        let mut found: HashMap<TokenHash, TokenRecord> = records
            .into_iter()
            .map(|record| (record.hash, record))
            .collect();
        misses
            .iter()
            .enumerate()
            .map(|(at, (hash, sighting))| {
                // The same token twice in one batch: each use gets the record
                // (a batch is at most a few dozen, so the scan is cheap).
                let again = hashes[at + 1..].contains(hash);
                let record = if again {
                    found.get(hash).cloned()
                } else {
                    found.remove(hash)
                };
                self.settle(*hash, record, sighting, epoch)
            })
            .collect()
    }

    /// The answer for `hash` once the store said what it holds (`found`),
    /// cached as of `epoch`, when the store was asked.
    fn settle(
        &self,
        hash: TokenHash,
        found: Option<TokenRecord>,
        sighting: &Sighting<'_>,
        epoch: u64,
    ) -> Result<Principal, VerifyError> {
        let Some(record) = found else {
            self.cache.fill(hash, Cached::Unknown, epoch);
            return Err(VerifyError::Unknown);
        };
        if record.canary {
            // Cached like an unknown token, for as long: its later uses are
            // answered as fast as an unknown token's.
            let canary = record.canary_of();
            self.cache.fill(hash, Cached::Canary(canary), epoch);
            return Err(VerifyError::Canary(canary));
        }
        if let Some(refusal) = refusal_of(&record) {
            // Cached like an unknown token: enabling it (or resuming its
            // owner) is announced on the revocation log, which drops this
            // entry everywhere.
            self.cache.fill(hash, Cached::Unknown, epoch);
            return Err(refusal);
        }
        let entry = self.entry_for(record, None);
        // Accepted first: the use it notes travels into the cache with it.
        let answer = self.accept(hash, &entry, sighting);
        self.cache.fill(hash, Cached::Valid(entry), epoch);
        answer
    }

    fn answer_during_outage(
        &self,
        hash: &TokenHash,
        sighting: &Sighting<'_>,
        error: anyhow::Error,
    ) -> Result<Principal, VerifyError> {
        if self.cache.serves_stale_on_outage()
            && crate::availability::is_unavailable(&error)
            && let Some(answer) = self
                .cache
                .get_stale(hash, |entry| self.accept(*hash, entry, sighting))
        {
            return answer;
        }
        Err(VerifyError::Unexpected(error))
    }

    fn entry_for(&self, record: TokenRecord, noted: Option<Timestamp>) -> ValidEntry {
        let recorded = record.last_used_at.unwrap_or(Timestamp::NEVER);
        // Where it was last used, as stored: a use from there again is
        // nothing new (and a restart notes no place it already knew).
        let stored = Sighting {
            by: record
                .last_used_by
                .as_deref()
                .map(std::borrow::Cow::Borrowed),
            ip: record.last_used_ips.first().copied(),
        }
        .key();
        // A rotated token works until its overlap ends.
        let valid_until = record.valid_until();
        ValidEntry::new(
            Principal {
                user_id: record.user_id,
                permissions: self.cache.intern(record.permissions),
                from_api_client: record.from_api_client,
                hash: record.hash,
                created_at: record.created_at,
                expires_at: valid_until,
                allowed_ips: record.allowed_ips.map(Arc::new),
            },
            noted.map_or(recorded, |noted| noted.max(recorded)),
            stored,
        )
    }

    pub fn refresh_cache(&self, ahead: Duration, limit: usize) -> anyhow::Result<usize> {
        let due = self.cache.due_for_refresh(ahead, limit);
        if due.is_empty() {
            return Ok(0);
        }
        let epoch = self.cache.epoch();
        let records = self.repository.find_many_by_hash(&due)?;
        let found: HashSet<TokenHash> = records.iter().map(|r| r.hash).collect();
        // Gone from the store: its deletion's notice may be late or lost.
        let gone: Vec<TokenHash> = due.into_iter().filter(|h| !found.contains(h)).collect();
        self.cache.discard(&gone);
        let now = self.clock.now();
        let mut renewed = 0;
        for record in records {
            // An expired token's entry just runs out.
            if expired(record.valid_until(), now) {
                continue;
            }
            // Refused now: its announcement may be late or lost, like a
            // deletion's.
            if refusal_of(&record).is_some() {
                self.cache.discard(&[record.hash]);
                continue;
            }
            let hash = record.hash;
            let noted = self.cache.last_recorded(&hash);
            // A deletion since `epoch` voids the whole batch: `fill` checks.
            if self
                .cache
                .fill(hash, Cached::Valid(self.entry_for(record, noted)), epoch)
            {
                renewed += 1;
            }
        }
        Ok(renewed)
    }

    /// Accepts a cached valid token unless it expired, noting the use: once
    /// a minute per token, and at once from a new place or address.
    fn accept(
        &self,
        hash: TokenHash,
        entry: &ValidEntry,
        sighting: &Sighting<'_>,
    ) -> Result<Principal, VerifyError> {
        let now = self.clock.now();
        if expired(entry.expires_at(), now) {
            return Err(VerifyError::Expired);
        }
        let last = entry.last_recorded.load(Ordering::Relaxed);
        let key = sighting.key();
        let due = now.since(Timestamp::from_millis(last)) >= USAGE_RESOLUTION
            && entry
                .last_recorded
                .compare_exchange(last, now.as_millis(), Ordering::Relaxed, Ordering::Relaxed)
                .is_ok();
        let moved = key != 0 && entry.last_sighting.load(Ordering::Relaxed) != key;
        if moved {
            entry.last_sighting.store(key, Ordering::Relaxed);
            self.usage.note(hash, now, sighting);
        } else if due {
            // Same place, same address: only the time is news.
            self.usage.note(hash, now, &Sighting::none());
        }
        Ok(entry.principal(hash))
    }
}
