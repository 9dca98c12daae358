//! The revocation log: every deleted token's fingerprint, in commit order
//! with a monotonic cursor, so relying services that cache verifications
//! themselves can drop revoked tokens within a second. Kept for a window.

use crate::crypto::TokenHash;
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

    /// Drops entries revoked before `cutoff`; returns how many.
    fn purge_before(&self, cutoff: Timestamp) -> anyhow::Result<usize>;
}
