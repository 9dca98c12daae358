//! Uses noted by verifications and not yet written: `lastUsedAt` is kept
//! in memory and written in batches off the request path, never once per
//! request.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::crypto::TokenHash;
use crate::ports::TokenRecord;
use crate::time::Timestamp;

/// `lastUsedAt` is written at most this often per token.
pub const USAGE_RESOLUTION_MS: i64 = 60_000;

/// Fingerprint → the latest use noted since the last flush.
#[derive(Debug, Default)]
pub(super) struct UsageLog(Mutex<HashMap<TokenHash, Timestamp>>);

impl UsageLog {
    fn lock(&self) -> MutexGuard<'_, HashMap<TokenHash, Timestamp>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn note(&self, hash: TokenHash, at: Timestamp) {
        self.lock().insert(hash, at);
    }

    /// Shows uses not flushed yet in `records`.
    pub(super) fn apply_to(&self, records: &mut [TokenRecord]) {
        let pending = self.lock();
        for record in records {
            if let Some(&at) = pending.get(&record.hash) {
                record.last_used_at = record.last_used_at.max(Some(at));
            }
        }
    }

    /// Everything noted, taken whole (so verifications noting uses never
    /// wait on the copy) and sorted, so instances writing the same tokens
    /// lock rows in one order.
    pub(super) fn take(&self) -> Vec<(TokenHash, Timestamp)> {
        let mut batch: Vec<_> = std::mem::take(&mut *self.lock()).into_iter().collect();
        batch.sort_unstable_by_key(|(hash, _)| hash.0);
        batch
    }

    /// A batch that could not be written, back for the next flush (newer
    /// uses noted meanwhile win).
    pub(super) fn put_back(&self, batch: Vec<(TokenHash, Timestamp)>) {
        let mut usage = self.lock();
        for (hash, at) in batch {
            usage.entry(hash).or_insert(at);
        }
    }
}
