//! Tessera's domain: entities, the ports adapters implement, and the token
//! service that enforces the contract's rules. Nothing here performs IO or
//! knows about HTTP or SQL, so every rule can be unit-tested in isolation.

pub mod address;
pub mod audit;
pub mod availability;
pub mod cache;
pub mod canary;
pub mod client;
pub mod client_fields;
pub mod crypto;
mod expiring;
pub mod freshness;
pub mod idempotency;
pub mod ids;
pub mod oauth;
pub mod permission;
pub mod ports;
pub mod principal;
pub mod random;
pub mod revocations;
pub mod secret;
pub mod time;
pub mod token;
pub mod tokens;
pub mod webhooks;

#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use address::{AllowedIps, AllowedIpsError, InvalidNetwork, MAX_ALLOWED_NETWORKS, Networks};
pub use audit::{
    Actor, ActorKind, AuditEvent, AuditLog, ChainBreak, ChainCheck, EventDraft, EventType,
    RevokeReason, verify_chain,
};
pub use availability::{Unavailable, copy_error, is_unavailable};
pub use cache::{CacheSettings, TokenCache};
pub use canary::{Canary, CanaryUse};
pub use client::{ClientDirectory, OAuthClient};
pub use client_fields::{ApiKeyTemplate, ClientName, FieldError, FileName, HttpUrl};
pub use crypto::{Keyring, KeyringError, TokenHash};
pub use freshness::RevocationView;
pub use idempotency::{
    ClaimLost, ClaimOutcome, IdempotencyClaim, IdempotencyError, IdempotencyKey, IdempotencyScope,
    IdempotencyStore, body_fingerprint, run_once,
};
pub use ids::{ClientId, TokenId, UserId, UserIdError};
pub use oauth::{
    AuthorizationCode, ClientRepository, ClientUpdate, CodeRepository, InsertClientError,
    RedeemError, Redeemed, StoredClient,
};
pub use permission::{Identifier, IdentifierError, PermissionCatalogue, PermissionSet};
pub use ports::{
    ClientRevocation, InsertTokenError, NewTokenRecord, RotateError, Rotated, Rotation, RotationOf,
    TokenChange, TokenRecord, TokenRepository, TokenUse, UpdateTokenError,
};
pub use principal::Principal;
pub use revocations::{LogFollower, Revocation, RevocationLog, RevocationPage, RevocationSink};
pub use secret::SecretString;
pub use time::{Clock, ManualClock, SystemClock, Timestamp};
pub use token::{TokenFormat, TokenFormatError};
pub use tokens::{
    ApiToken, CreateTokenError, CreateTokenRequest, DeleteTokenError, Lookup, MAX_USED_IPS,
    PatchTokenError, RotateRequest, RotateTokenError, Sighting, TokenPatch, TokenService,
    TokenSource, VerifyError, most_recent_first,
};
