//! Ports for what OAuth2 stores: registered clients (with their sealed
//! secrets) and authorization codes. The rules live in the oauth-clients
//! crate; adapters only keep the data and settle races in the database.

use crate::audit::{EventDraft, EventType};
use crate::client::OAuthClient;
use crate::client_fields::{ApiKeyTemplate, ClientName, FileName, HttpUrl};
use crate::crypto::TokenHash;
use crate::ids::{ClientId, UserId};
use crate::ports::{NewTokenRecord, TokenRecord};
use crate::time::Timestamp;

/// A client a user registered, with its secret as stored: a fingerprint to
/// verify it and a ciphertext to show it back to the owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredClient {
    pub client: OAuthClient,
    pub secret_hash: TokenHash,
    pub secret_sealed: Vec<u8>,
}

impl StoredClient {
    /// `client.created` in the author's trail; `None` for a client without
    /// one (built-in clients are configured, not stored).
    pub fn created_event(&self) -> Option<EventDraft> {
        let author = self.client.author?;
        Some(
            EventDraft::for_client(author, EventType::ClientCreated, &self.client.id)
                .detail("name", self.client.name.clone()),
        )
    }

    pub fn author(&self) -> Option<UserId> {
        self.client.author
    }
}

/// A change of a stored client: `None` leaves a field alone,
/// `Some(None)` clears an optional one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientUpdate {
    pub name: Option<ClientName>,
    pub redirect_uri: Option<Option<HttpUrl>>,
    pub webhook_uri: Option<Option<HttpUrl>>,
    pub api_key_template: Option<Option<ApiKeyTemplate>>,
    pub api_key_filename: Option<Option<FileName>>,
}

impl ClientUpdate {
    /// `client.updated` in the author's trail: the names of the members
    /// changed, not their values (a webhook URL may carry a credential in
    /// its query, and events are exported and sent on).
    pub fn updated_event(&self, author: UserId, client: &ClientId) -> EventDraft {
        let changed: Vec<&str> = [
            ("name", self.name.is_some()),
            ("redirectUri", self.redirect_uri.is_some()),
            ("webhookUri", self.webhook_uri.is_some()),
            ("apiKeyTemplate", self.api_key_template.is_some()),
            ("apiKeyFilename", self.api_key_filename.is_some()),
        ]
        .into_iter()
        .filter_map(|(member, present)| present.then_some(member))
        .collect();
        EventDraft::for_client(author, EventType::ClientUpdated, client).detail("changed", changed)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum InsertClientError {
    #[error("the author already has the maximum number of clients")]
    CapReached,
    #[error("a client with this id or secret exists")]
    Duplicate,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

pub trait ClientRepository: Send + Sync + 'static {
    /// Stores a client, with its `client.created`, unless its author already
    /// has `cap` clients.
    ///
    /// # Errors
    /// `CapReached` decided inside the store's transaction, so that of
    /// concurrent inserts at the cap only the allowed number succeed;
    /// `Duplicate` when the id or secret fingerprint exists.
    fn insert(&self, client: StoredClient, cap: u32) -> Result<StoredClient, InsertClientError>;

    /// As [`Self::insert`], and completes `claim` with the client's id in
    /// the same transaction: both are stored or neither.
    fn insert_claimed(
        &self,
        client: StoredClient,
        cap: u32,
        claim: &crate::IdempotencyClaim,
    ) -> Result<StoredClient, InsertClientError>;

    fn find(&self, id: &str) -> anyhow::Result<Option<StoredClient>>;

    /// Every registered client, oldest first (operators' listing).
    fn list_all(&self) -> anyhow::Result<Vec<StoredClient>>;

    /// The author's clients, oldest first.
    fn list_by_author(&self, author: UserId) -> anyhow::Result<Vec<StoredClient>>;

    /// Applies `update` with its `client.updated` made `at` (nothing for
    /// an empty update); `None` when the client does not exist.
    fn update(
        &self,
        id: &str,
        update: &ClientUpdate,
        at: Timestamp,
    ) -> anyhow::Result<Option<StoredClient>>;

    /// Replaces the secret, with `client.secret_reset` made `at`; `None`
    /// when the client does not exist.
    fn replace_secret(
        &self,
        id: &str,
        secret_hash: TokenHash,
        secret_sealed: Vec<u8>,
        at: Timestamp,
    ) -> anyhow::Result<Option<StoredClient>>;

    /// Deletes the client with every token issued from it and its codes, in
    /// one transaction, with `client.deleted` and each token's
    /// `token.revoked` (reason `client_deleted`) made `at`; returns the
    /// deleted tokens' fingerprints, or `None` when the client did not
    /// exist.
    fn delete(&self, id: &str, at: Timestamp) -> anyhow::Result<Option<Vec<TokenHash>>>;
}

/// An authorization code as stored: only its fingerprint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationCode {
    pub hash: TokenHash,
    pub user_id: UserId,
    pub client_id: ClientId,
    /// PKCE S256 challenge (base64url of SHA-256 of the verifier).
    pub code_challenge: Option<String>,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub used_at: Option<Timestamp>,
    /// The token issued from this code, revoked if the code is replayed.
    pub token_hash: Option<TokenHash>,
}

/// A redeemed code: the new token, and the earlier ones it replaced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redeemed {
    pub token: TokenRecord,
    pub replaced: Vec<TokenHash>,
}

#[derive(Debug, thiserror::Error)]
pub enum RedeemError {
    #[error("the code was used already")]
    AlreadyUsed,
    #[error("a token with this fingerprint exists")]
    DuplicateHash,
    /// The user was suspended since the code was issued; the code is left
    /// as it was.
    #[error("the user is suspended")]
    Suspended,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

pub trait CodeRepository: Send + Sync + 'static {
    fn insert(&self, code: AuthorizationCode) -> anyhow::Result<()>;

    /// Deletes codes that expired before `now`; returns how many.
    fn purge_expired(&self, now: Timestamp) -> anyhow::Result<usize>;

    fn find(&self, hash: &TokenHash) -> anyhow::Result<Option<AuthorizationCode>>;

    /// In one transaction: marks the code used (only if it still is not),
    /// deletes the user's earlier token from the code's client, and stores
    /// `token`.
    ///
    /// # Errors
    /// `AlreadyUsed` when the code was used before or concurrently; nothing
    /// changes then.
    fn redeem(
        &self,
        code: &TokenHash,
        token: NewTokenRecord,
        now: Timestamp,
    ) -> Result<Redeemed, RedeemError>;

    /// Deletes the token first issued from this code (replay, RFC 6749
    /// §4.1.2: two parties held the code), with its `token.revoked`
    /// (reason `reuse`, by the system) made `at`; returns its fingerprint
    /// if it still existed.
    fn revoke_issued(&self, code: &TokenHash, at: Timestamp) -> anyhow::Result<Option<TokenHash>>;
}
