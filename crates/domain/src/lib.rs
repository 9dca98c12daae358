//! Tessera's domain: entities, the ports adapters implement, and the token
//! service that enforces the contract's rules. Nothing here performs IO or
//! knows about HTTP or SQL, so every rule can be unit-tested in isolation.

pub mod availability;
pub mod cache;
pub mod client;
pub mod crypto;
pub mod freshness;
pub mod idempotency;
pub mod ids;
pub mod oauth;
pub mod permission;
pub mod ports;
pub mod revocations;
pub mod secret;
pub mod service;
pub mod time;
pub mod token;

#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use availability::{Unavailable, is_unavailable};
pub use cache::{CacheSettings, TokenCache};
pub use client::{ClientDirectory, OAuthClient};
pub use crypto::{Keyring, KeyringError, TokenHash};
pub use freshness::RevocationView;
pub use idempotency::{
    ClaimLost, ClaimOutcome, IdempotencyClaim, IdempotencyKey, IdempotencyScope, IdempotencyStore,
    body_fingerprint,
};
pub use ids::{ClientId, UserId, UserIdError};
pub use oauth::{
    AuthorizationCode, ClientRepository, ClientUpdate, CodeRepository, InsertClientError,
    RedeemError, Redeemed, StoredClient,
};
pub use permission::{Identifier, IdentifierError, PermissionCatalogue, PermissionSet};
pub use ports::{InsertTokenError, NewTokenRecord, TokenRecord, TokenRepository};
pub use revocations::{LogFollower, Revocation, RevocationLog, RevocationPage};
pub use secret::SecretString;
pub use service::{
    ApiToken, CreateTokenError, CreateTokenRequest, DeleteTokenError, IdempotencyError, Lookup,
    Principal, TokenService, TokenSource, VerifyError, run_once,
};
pub use time::{Clock, ManualClock, SystemClock, Timestamp};
pub use token::{TokenFormat, TokenFormatError};
