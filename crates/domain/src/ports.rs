//! The storage port for API tokens. Adapters (PostgreSQL, SQLite, the
//! in-memory fake) must behave identically; the persistence crate's
//! conformance suite holds each of them to this contract.

use crate::crypto::TokenHash;
use crate::idempotency::IdempotencyClaim;
use crate::ids::{ClientId, UserId};
use crate::permission::PermissionSet;
use crate::time::Timestamp;

/// A token as stored: never the token itself, only its fingerprint and
/// its sealed form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    /// Store-assigned, increasing in insertion order: breaks `created_at` ties.
    pub id: i64,
    pub user_id: UserId,
    pub identifier: String,
    pub hash: TokenHash,
    pub sealed: Vec<u8>,
    pub permissions: PermissionSet,
    pub from_api_client: Option<ClientId>,
    pub created_at: Timestamp,
    pub expires_at: Option<Timestamp>,
    pub last_used_at: Option<Timestamp>,
}

impl TokenRecord {
    pub fn is_expired(&self, now: Timestamp) -> bool {
        crate::cache::expired(self.expires_at, now)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTokenRecord {
    pub user_id: UserId,
    pub identifier: String,
    pub hash: TokenHash,
    pub sealed: Vec<u8>,
    pub permissions: PermissionSet,
    pub from_api_client: Option<ClientId>,
    pub created_at: Timestamp,
    pub expires_at: Option<Timestamp>,
}

#[derive(Debug, thiserror::Error)]
pub enum InsertTokenError {
    #[error("a token with this fingerprint exists")]
    DuplicateHash,
    #[error("the user already has an unexpired token from this client")]
    DuplicateClientToken,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

pub trait TokenRepository: Send + Sync + 'static {
    /// Stores a new token. When `from_api_client` is set, the user's
    /// *expired* token from that client (if any) is deleted first, in the
    /// same transaction, so it is replaced rather than conflicting.
    ///
    /// # Errors
    /// `DuplicateHash` when the fingerprint exists; `DuplicateClientToken`
    /// when the user still has an unexpired token from the same client. Both
    /// must come from the store's own constraints so concurrent inserts are
    /// settled there: of N racing inserts for one user and client exactly one
    /// succeeds.
    fn insert(
        &self,
        token: NewTokenRecord,
        now: Timestamp,
    ) -> Result<TokenRecord, InsertTokenError>;

    /// As [`Self::insert`], and completes `claim` with the new token's id
    /// in the same transaction: both are stored or neither.
    ///
    /// # Errors
    /// As `insert`; `Unexpected` wrapping [`crate::ClaimLost`] when the
    /// claim was taken over meanwhile (nothing is stored then).
    fn insert_claimed(
        &self,
        token: NewTokenRecord,
        now: Timestamp,
        claim: &IdempotencyClaim,
    ) -> Result<TokenRecord, InsertTokenError>;

    /// The user's token with this store id (what an idempotent retry
    /// returns).
    fn find_by_id(&self, user: UserId, id: i64) -> anyhow::Result<Option<TokenRecord>>;

    /// The user's tokens, expired ones included, by `created_at` then `id`.
    fn list_for_user(&self, user: UserId) -> anyhow::Result<Vec<TokenRecord>>;

    /// The token with this fingerprint, expired or not.
    fn find_by_hash(&self, hash: &TokenHash) -> anyhow::Result<Option<TokenRecord>>;

    /// The tokens with these fingerprints that exist, expired or not, in no
    /// particular order: a few statements for many tokens (the cache
    /// refreshing what is about to expire).
    fn find_many_by_hash(&self, hashes: &[TokenHash]) -> anyhow::Result<Vec<TokenRecord>>;

    /// Deletes the user's token with this fingerprint; `false` when the user
    /// has none (another user's token is left alone).
    fn delete(&self, user: UserId, hash: &TokenHash) -> anyhow::Result<bool>;

    /// Deletes the token with this fingerprint if it was issued from
    /// `client` (RFC 7009 revocation); `false` otherwise.
    fn delete_for_client(&self, hash: &TokenHash, client: &ClientId) -> anyhow::Result<bool>;

    /// Deletes every token of `user`, or only those issued from `client`,
    /// in one statement (an operator's response to a compromised account);
    /// returns the deleted fingerprints.
    fn delete_all_for_user(
        &self,
        user: UserId,
        client: Option<&ClientId>,
    ) -> anyhow::Result<Vec<TokenHash>>;

    /// Sets `last_used_at` of each token to the given time unless it holds a
    /// later one already; unknown fingerprints are skipped.
    fn record_usage(&self, uses: &[(TokenHash, Timestamp)]) -> anyhow::Result<()>;

    /// Succeeds when the store answers (readiness).
    fn ping(&self) -> anyhow::Result<()>;
}
