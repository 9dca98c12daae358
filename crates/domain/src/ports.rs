//! The storage port for API tokens. Adapters (PostgreSQL, SQLite, the
//! in-memory fake) must behave identically; the persistence crate's
//! conformance suite holds each of them to this contract.

use std::net::IpAddr;

use crate::address::AllowedIps;
use crate::audit::{Actor, EventDraft, EventType};
use crate::canary::Canary;
use crate::crypto::TokenHash;
use crate::idempotency::IdempotencyClaim;
use crate::ids::{ClientId, TokenId, UserId};
use crate::permission::PermissionSet;
use crate::time::Timestamp;

/// A token as stored: never the token itself, only its fingerprint and
/// its sealed form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    /// Store-assigned, increasing in insertion order: breaks `created_at` ties.
    pub id: i64,
    /// The public name.
    pub public_id: TokenId,
    pub user_id: UserId,
    pub identifier: String,
    pub hash: TokenHash,
    pub sealed: Vec<u8>,
    pub permissions: PermissionSet,
    pub from_api_client: Option<ClientId>,
    pub created_at: Timestamp,
    pub expires_at: Option<Timestamp>,
    pub last_used_at: Option<Timestamp>,
    /// Refused everywhere while set; the token is kept.
    pub disabled: bool,
    /// `None`: any address.
    pub allowed_ips: Option<AllowedIps>,
    pub canary: bool,
    /// The successor while a rotated token is in its overlap.
    pub superseded_by: Option<TokenId>,
    /// When the overlap ends: the token is refused from then on.
    pub superseded_until: Option<Timestamp>,
    /// The resource server that last introspected it, or `"status"`.
    pub last_used_by: Option<String>,
    /// Up to five distinct addresses, most recent first.
    pub last_used_ips: Vec<IpAddr>,
    /// The owner is suspended: refused, kept.
    pub owner_suspended: bool,
}

impl TokenRecord {
    /// Who a canary belongs to and which it is.
    pub fn canary_of(&self) -> Canary {
        Canary {
            user: self.user_id,
            id: self.public_id,
        }
    }

    pub fn is_expired(&self, now: Timestamp) -> bool {
        crate::cache::expired(self.expires_at, now)
    }

    /// When the token stops authenticating: its expiry, or the end of its
    /// overlap once rotated, whichever comes first.
    pub fn valid_until(&self) -> Option<Timestamp> {
        match (self.expires_at, self.superseded_until) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// The uses of one token noted since the last flush.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenUse {
    pub hash: TokenHash,
    /// The latest use; `lastUsedAt` never moves back.
    pub at: Timestamp,
    /// The latest place (`lastUsedBy`), if the uses named one.
    pub by: Option<String>,
    /// The addresses noted, most recent first; stored ones follow them.
    pub ips: Vec<IpAddr>,
}

impl TokenUse {
    /// `record` as it is once this use is written.
    pub fn apply_to(&self, record: &mut TokenRecord) {
        if record.last_used_at.is_some_and(|stored| stored > self.at) {
            return;
        }
        record.last_used_at = Some(self.at);
        if let Some(by) = &self.by {
            record.last_used_by = Some(by.clone());
        }
        if !self.ips.is_empty() {
            record.last_used_ips = most_recent_first(&self.ips, &record.last_used_ips);
        }
    }
}

/// Distinct addresses kept per token (`lastUsedIps`).
pub const MAX_USED_IPS: usize = 5;

/// `newer` first, then `earlier` without them, at most [`MAX_USED_IPS`]:
/// the one rule for `lastUsedIps`, wherever two lists meet (a use noted, a
/// batch put back, a flush over the stored list).
pub fn most_recent_first(newer: &[IpAddr], earlier: &[IpAddr]) -> Vec<IpAddr> {
    let newer: Vec<IpAddr> = newer.iter().map(IpAddr::to_canonical).collect();
    let mut merged = newer.clone();
    merged.extend(earlier.iter().filter(|ip| !newer.contains(ip)));
    merged.truncate(MAX_USED_IPS);
    merged
}

/// Which token a rotation replaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RotationOf {
    /// By its owner's session, named by id.
    Owned(UserId, TokenId),
    /// By the token itself (self-rotation).
    Presented(TokenHash),
}

/// A rotation as the store carries it out: the old token is claimed only if
/// it is still rotatable (not superseded, not disabled, not expired at
/// `now`), and the successor copies its identifier, permissions, client and
/// addresses as they are at that moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotation {
    pub of: RotationOf,
    pub now: Timestamp,
    /// The old token works until then; `None`: it is deleted at once.
    pub overlap_until: Option<Timestamp>,
    pub successor_id: TokenId,
    pub successor_hash: TokenHash,
    pub successor_sealed: Vec<u8>,
    /// The body's `expiresAt`; `None`: the old token's, or
    /// `default_expiry` where it has none (the lifetime policy).
    pub expires_at: Option<Timestamp>,
    pub default_expiry: Option<Timestamp>,
}

impl Rotation {
    /// `token.rotated`, on the old token, naming its successor: by the
    /// owner's session, or by the old token itself when it was presented.
    pub fn rotated_event(&self, user: UserId, old: TokenId) -> EventDraft {
        let actor = match self.of {
            RotationOf::Owned(..) => Actor::session(user),
            RotationOf::Presented(_) => Actor::token(old),
        };
        let mut event = EventDraft::new(user, EventType::TokenRotated, actor)
            .token(old)
            .detail("successor", self.successor_id.to_string());
        if let Some(until) = self.overlap_until {
            event = event.detail("overlapUntil", until.as_millis());
        }
        event
    }
}

/// The two tokens after a rotation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotated {
    pub old: TokenRecord,
    pub successor: TokenRecord,
}

#[derive(Debug, thiserror::Error)]
pub enum RotateError {
    #[error("no such token")]
    NotFound,
    /// Superseded, disabled or expired (perhaps by a concurrent rotation).
    #[error("the token cannot be rotated: it is superseded, disabled or expired")]
    NotRotatable,
    #[error("a token with this fingerprint exists")]
    DuplicateHash,
    #[error("the user is suspended")]
    Suspended,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTokenRecord {
    pub public_id: TokenId,
    pub user_id: UserId,
    pub identifier: String,
    pub hash: TokenHash,
    pub sealed: Vec<u8>,
    pub permissions: PermissionSet,
    pub from_api_client: Option<ClientId>,
    pub created_at: Timestamp,
    pub expires_at: Option<Timestamp>,
    pub allowed_ips: Option<AllowedIps>,
    pub canary: bool,
    /// Who asked for it: the actor of its `token.created` event.
    pub created_by: Actor,
}

impl NewTokenRecord {
    /// `token.created`, appended in the transaction that stores the token.
    pub fn created_event(&self) -> EventDraft {
        let event = EventDraft::new(
            self.user_id,
            EventType::TokenCreated,
            self.created_by.clone(),
        )
        .token(self.public_id)
        .detail("identifier", self.identifier.clone());
        // Only its owner's trail and receivers learn that it is a canary.
        let event = if self.canary {
            event.detail("canary", true)
        } else {
            event
        };
        match &self.from_api_client {
            Some(client) => event.client(client.clone()),
            None => event,
        }
    }
}

/// What an owner changes of a token, already checked
/// against the rules; `None` leaves a member as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenChange {
    pub identifier: Option<String>,
    pub disabled: Option<bool>,
    /// Stored only if the token has no expiry or a later one, so two
    /// concurrent changes can only ever shorten a token's life.
    pub expires_at: Option<Timestamp>,
    /// `Some(None)` lifts the restriction.
    pub allowed_ips: Option<Option<AllowedIps>>,
}

impl TokenChange {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// `token.updated` by the owner: each member changed, with its new
    /// value, under its document name.
    pub fn updated_event(&self, user: UserId, token: TokenId) -> EventDraft {
        let mut event =
            EventDraft::new(user, EventType::TokenUpdated, Actor::session(user)).token(token);
        if let Some(identifier) = &self.identifier {
            event = event.detail("identifier", identifier.clone());
        }
        if let Some(disabled) = self.disabled {
            event = event.detail("disabled", disabled);
        }
        if let Some(at) = self.expires_at {
            event = event.detail("expiresAt", at.as_millis());
        }
        if let Some(allowed) = &self.allowed_ips {
            event = event.detail("allowedIps", allowed.as_ref().map(AllowedIps::to_strings));
        }
        event
    }
}

#[derive(Debug, thiserror::Error)]
pub enum UpdateTokenError {
    #[error("no such token")]
    NotFound,
    /// The token's expiry is (by now) earlier than the one asked for.
    #[error("expiresAt may only move earlier")]
    ExpiryNotEarlier,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

#[derive(Debug, thiserror::Error)]
pub enum InsertTokenError {
    #[error("a token with this fingerprint exists")]
    DuplicateHash,
    #[error("the user already has an unexpired token from this client")]
    DuplicateClientToken,
    #[error("the user is suspended")]
    Suspended,
    /// From [`TokenRepository::insert_many`] only: not stored, because the
    /// owner's lock was held (a suspension under way); store it alone,
    /// which waits for the lock.
    #[error("the user's lock is held")]
    Busy,
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

    /// Stores many new tokens, none from a client, each answered as
    /// [`Self::insert`] would answer it alone (a suspended owner's is
    /// refused, the others stored), or `Busy` when its owner's lock was held
    /// (nothing of it stored). A database adapter stores them in one
    /// transaction, so that concurrent creations share its statements and
    /// its commit, and a failure of the store then fails every one of them;
    /// this default stores each alone.
    fn insert_many(
        &self,
        tokens: Vec<NewTokenRecord>,
        now: Timestamp,
    ) -> Vec<Result<TokenRecord, InsertTokenError>> {
        self.insert_each(tokens, now)
    }

    /// Each token stored alone, as [`Self::insert`] stores it: what
    /// [`Self::insert_many`] falls back to.
    fn insert_each(
        &self,
        tokens: Vec<NewTokenRecord>,
        now: Timestamp,
    ) -> Vec<Result<TokenRecord, InsertTokenError>> {
        tokens
            .into_iter()
            .map(|token| self.insert(token, now))
            .collect()
    }

    /// The user's token with this store id (what an idempotent retry
    /// returns).
    fn find_by_id(&self, user: UserId, id: i64) -> anyhow::Result<Option<TokenRecord>>;

    /// The user's token with this public id.
    fn find_by_public_id(&self, user: UserId, id: TokenId) -> anyhow::Result<Option<TokenRecord>>;

    /// Applies `change` to the user's token `id` in one statement, with its
    /// `token.updated` ([`TokenChange::updated_event`]) made `at`, and
    /// returns it as stored; a non-empty change of a verification-relevant
    /// member (disabled, expiry, addresses) is announced on the revocation
    /// log like a deletion, so every instance drops what it cached.
    ///
    /// # Errors
    /// `NotFound` for an unknown id or another user's token;
    /// `ExpiryNotEarlier` when the stored expiry is earlier than the change's.
    fn update(
        &self,
        user: UserId,
        id: TokenId,
        change: &TokenChange,
        at: Timestamp,
    ) -> Result<TokenRecord, UpdateTokenError>;

    /// The user's tokens, expired ones included, by `created_at` then `id`.
    fn list_for_user(&self, user: UserId) -> anyhow::Result<Vec<TokenRecord>>;

    /// The token with this fingerprint, expired or not.
    fn find_by_hash(&self, hash: &TokenHash) -> anyhow::Result<Option<TokenRecord>>;

    /// The tokens with these fingerprints that exist, expired or not, in no
    /// particular order: a few statements for many tokens (the cache
    /// refreshing what is about to expire).
    fn find_many_by_hash(&self, hashes: &[TokenHash]) -> anyhow::Result<Vec<TokenRecord>>;

    /// The owner deletes their token with this fingerprint, appending
    /// `token.deleted` ([`EventDraft::deleted_by_owner`]) made `at` in the
    /// same transaction; `false` when the user has none (another user's
    /// token is left alone).
    fn delete(&self, user: UserId, hash: &TokenHash, at: Timestamp) -> anyhow::Result<bool>;

    /// As [`Self::delete`], naming the token by its public id; its
    /// fingerprint, or `None` when the user has no such token.
    fn delete_by_public_id(
        &self,
        user: UserId,
        id: TokenId,
        at: Timestamp,
    ) -> anyhow::Result<Option<TokenHash>>;

    /// Rotates a token in one transaction: claims the old one (so of
    /// concurrent rotations exactly one succeeds), stores the successor, and
    /// deletes the old one unless it keeps an overlap.
    ///
    /// # Errors
    /// `NotFound`; `NotRotatable` when the old token is superseded, disabled
    /// or expired; `DuplicateHash` (nothing changed, retry with a new token).
    fn rotate(&self, rotation: &Rotation) -> Result<Rotated, RotateError>;

    /// Suspends `user` (again, harmlessly; `user.suspended` is appended
    /// only when the suspension is new): every token of theirs is
    /// refused from the commit on, announced like a deletion; creations,
    /// rotations and grants for them fail with `Suspended` — settled in the
    /// database against concurrent ones. Returns the tokens now refused.
    fn suspend(
        &self,
        user: UserId,
        reason: Option<&str>,
        now: Timestamp,
    ) -> anyhow::Result<Vec<TokenHash>>;

    /// Whether `user` is suspended (a check before issuing a code; the
    /// writes that matter check again under the user's lock).
    fn is_suspended(&self, user: UserId) -> anyhow::Result<bool>;

    /// Lifts a suspension, appending `user.resumed` made `at`; `None` when
    /// `user` was not suspended, else the tokens accepted again.
    fn resume(&self, user: UserId, at: Timestamp) -> anyhow::Result<Option<Vec<TokenHash>>>;

    /// Deletes the token with this fingerprint and every successor it was
    /// rotated into (reuse of a superseded token: two parties hold it),
    /// each with its `token.revoked` (reason `reuse`, by the system) made
    /// `at`; returns the deleted fingerprints.
    fn revoke_lineage(&self, hash: &TokenHash, at: Timestamp) -> anyhow::Result<Vec<TokenHash>>;

    /// Deletes rotated tokens whose overlap (or life) has ended by `now`;
    /// returns their fingerprints.
    fn purge_superseded(&self, now: Timestamp) -> anyhow::Result<Vec<TokenHash>>;

    /// Deletes the token with this fingerprint if it was issued from
    /// `client` (RFC 7009 revocation), with its `token.revoked` (reason
    /// `oauth_revoke`, by the client) made `at`. Otherwise says whether the
    /// fingerprint is a canary's — asked for every token not revoked, so a
    /// canary costs no round trip an unknown token does not.
    fn delete_for_client(
        &self,
        hash: &TokenHash,
        client: &ClientId,
        at: Timestamp,
    ) -> anyhow::Result<ClientRevocation>;

    /// Deletes every token of `user`, or only those issued from `client`,
    /// in one statement (an operator's response to a compromised account),
    /// each with its `token.revoked` (reason `operator`) made `at`; returns
    /// the deleted fingerprints.
    fn delete_all_for_user(
        &self,
        user: UserId,
        client: Option<&ClientId>,
        at: Timestamp,
    ) -> anyhow::Result<Vec<TokenHash>>;

    /// Writes each use as [`TokenUse::apply_to`] describes (time never
    /// moving back, the place, the addresses in front of the stored ones);
    /// unknown fingerprints are skipped.
    fn record_usage(&self, uses: &[TokenUse]) -> anyhow::Result<()>;

    /// Appends `token.expiring` ([`EventDraft::expiring`], by the system,
    /// made `now`) for up to `limit` tokens that expire after `now` and by
    /// `horizon`, are not superseded, and were not warned of before; marks
    /// each warned in its event's transaction, so each token is warned of
    /// once, whichever instance sweeps. Returns how many.
    fn warn_expiring(
        &self,
        now: Timestamp,
        horizon: Timestamp,
        limit: usize,
    ) -> anyhow::Result<usize>;

    /// Appends an event that records no change of its own (a canary's
    /// use), made `at`, in its own transaction.
    fn record_event(&self, event: &EventDraft, at: Timestamp) -> anyhow::Result<()>;

    /// Succeeds when the store answers (readiness).
    fn ping(&self) -> anyhow::Result<()>;
}

/// What an RFC 7009 revocation by a client did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientRevocation {
    Revoked,
    /// Unknown, or not the client's: nothing changed.
    NotRevoked,
    /// A canary's fingerprint: nothing changed, and its use is an alarm.
    Canary(Canary),
}
