//! Issuing tokens: by permissions or for an OAuth2 client,
//! at most once per `Idempotency-Key`, and minting for the code grant.

use std::time::Duration;

use crate::audit::Actor;
use crate::client::OAuthClient;
use crate::idempotency::{
    IdempotencyClaim, IdempotencyError, IdempotencyKey, IdempotencyScope, run_once,
};
use crate::ids::{ClientId, TokenId, UserId};
use crate::permission::{Identifier, PermissionSet};
use crate::ports::{InsertTokenError, NewTokenRecord};
use crate::secret::SecretString;
use crate::time::Timestamp;

use super::document::{ApiToken, to_document};
use super::service::TokenService;

/// Where a new token's permissions come from (exactly one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSource {
    Permissions {
        identifier: Option<String>,
        permissions: Vec<String>,
        /// A canary: it authenticates nothing, and every use is an alarm.
        canary: bool,
    },
    Client(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateTokenRequest {
    pub source: TokenSource,
    pub expires_at: Option<Timestamp>,
}

#[derive(Debug, thiserror::Error)]
pub enum CreateTokenError {
    #[error("{0}")]
    Invalid(String),
    #[error("unknown permission {0:?}")]
    UnknownPermission(String),
    #[error("no OAuth2 client has the id {0:?}")]
    ClientNotFound(String),
    #[error("this user already has an unexpired token from client {0:?}")]
    Conflict(String),
    #[error("this user is suspended: no token can be created for them")]
    Suspended,
    /// From [`TokenService::create_many`] only: nothing stored, because the
    /// user's lock was held (a suspension under way); create it alone
    /// ([`TokenService::create`]), which waits for the lock.
    #[error("the user's lock is held: create the token alone")]
    Busy,
    #[error(transparent)]
    Idempotency(#[from] IdempotencyError),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// A fresh 190-bit token colliding is practically impossible; retrying a few
/// times turns "practically" into "never surfaces to a caller".
const INSERT_ATTEMPTS: usize = 3;

/// A token to be minted: everything but its secret parts.
#[derive(Debug)]
struct Draft {
    user: UserId,
    identifier: String,
    permissions: PermissionSet,
    from_api_client: Option<ClientId>,
    created_at: Timestamp,
    expires_at: Option<Timestamp>,
    created_by: Actor,
    canary: bool,
}

/// Why the store refused `draft`'s token, as creation answers it.
fn refusal(error: InsertTokenError, draft: &Draft) -> CreateTokenError {
    match error {
        InsertTokenError::DuplicateClientToken => CreateTokenError::Conflict(
            draft
                .from_api_client
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
        ),
        InsertTokenError::Suspended => CreateTokenError::Suspended,
        InsertTokenError::Busy => CreateTokenError::Busy,
        InsertTokenError::DuplicateHash => {
            anyhow::anyhow!("a fresh token's fingerprint was taken").into()
        }
        InsertTokenError::Unexpected(error) => error.into(),
    }
}

/// `"<client name> Token"`.
fn client_token_identifier(client: &OAuthClient) -> String {
    format!("{} Token", client.name)
}

impl TokenService {
    pub fn create_once(
        &self,
        user: UserId,
        request: CreateTokenRequest,
        key: Option<(IdempotencyKey, [u8; 32])>,
    ) -> Result<ApiToken, CreateTokenError> {
        let Some(key) = key else {
            return self.create(user, request);
        };
        run_once(
            self.idempotency.as_deref(),
            user,
            IdempotencyScope::TokenCreation,
            key,
            self.clock.now(),
            |claim| self.create_claimed(user, request, Some(claim)),
            |outcome| {
                let id: i64 = outcome
                    .parse()
                    .map_err(|_| anyhow::anyhow!("stored idempotency outcome {outcome:?}"))?;
                let Some(record) = self.repository.find_by_id(user, id)? else {
                    return Ok(None);
                };
                let token = self
                    .keyring
                    .open(&record.sealed, &record.hash)
                    .map_err(anyhow::Error::from)?;
                Ok(Some(to_document(record, token)))
            },
        )
    }

    pub fn new_client_token(
        &self,
        user: UserId,
        client: &OAuthClient,
    ) -> (SecretString, NewTokenRecord) {
        let now = self.clock.now();
        self.mint(&Draft {
            user,
            identifier: client_token_identifier(client),
            permissions: client.permissions.clone(),
            from_api_client: Some(client.id.clone()),
            created_at: now,
            // The grant asks for no expiry: the policy's lifetime, if any.
            expires_at: self.latest_expiry(now),
            created_by: Actor::client(&client.id),
            canary: false,
        })
    }

    fn mint(&self, draft: &Draft) -> (SecretString, NewTokenRecord) {
        let token = self.format.generate();
        let hash = self.keyring.fingerprint(token.expose());
        let record = NewTokenRecord {
            public_id: TokenId::generate(draft.created_at),
            user_id: draft.user,
            identifier: draft.identifier.clone(),
            hash,
            sealed: self.keyring.seal(&token, &hash),
            permissions: draft.permissions.clone(),
            from_api_client: draft.from_api_client.clone(),
            created_at: draft.created_at,
            expires_at: draft.expires_at,
            allowed_ips: None,
            canary: draft.canary,
            created_by: draft.created_by.clone(),
        };
        (token, record)
    }

    pub fn create(
        &self,
        user: UserId,
        request: CreateTokenRequest,
    ) -> Result<ApiToken, CreateTokenError> {
        self.create_claimed(user, request, None)
    }

    fn create_claimed(
        &self,
        user: UserId,
        request: CreateTokenRequest,
        claim: Option<&IdempotencyClaim>,
    ) -> Result<ApiToken, CreateTokenError> {
        let now = self.clock.now();
        let draft = self.draft(user, request, now)?;
        self.insert_drafted(&draft, claim, now)
    }

    /// [`Self::create`] of many requests with one trip to the store: the
    /// answers in the order of `requests`, each as it would be alone, or
    /// [`CreateTokenError::Busy`] for one to create alone.
    /// Concurrent creations share one transaction, whose round trips and
    /// commit cost far more than the rows it writes. A client's token
    /// (which may replace an expired one) is stored on its own.
    pub fn create_many(
        &self,
        requests: Vec<(UserId, CreateTokenRequest)>,
    ) -> Vec<Result<ApiToken, CreateTokenError>> {
        let now = self.clock.now();
        let drafts: Vec<Result<Draft, CreateTokenError>> = requests
            .into_iter()
            .map(|(user, request)| self.draft(user, request, now))
            .collect();
        let mut minted = Vec::new();
        let mut records = Vec::new();
        for draft in drafts.iter().flatten() {
            if draft.from_api_client.is_none() {
                let (token, record) = self.mint(draft);
                minted.push(token);
                records.push(record);
            }
        }
        let mut stored = minted
            .into_iter()
            .zip(self.repository.insert_many(records, now));
        drafts
            .into_iter()
            .map(|draft| {
                let draft = draft?;
                if draft.from_api_client.is_some() {
                    return self.insert_drafted(&draft, None, now);
                }
                match stored.next() {
                    Some((token, Ok(record))) => Ok(to_document(record, token)),
                    // Its fingerprint taken (practically never): minted again.
                    Some((_, Err(InsertTokenError::DuplicateHash))) => {
                        self.insert_drafted(&draft, None, now)
                    }
                    Some((_, Err(error))) => Err(refusal(error, &draft)),
                    None => {
                        Err(anyhow::anyhow!("the store answered fewer tokens than asked").into())
                    }
                }
            })
            .collect()
    }

    /// What `request` asks for, checked: the token to mint.
    fn draft(
        &self,
        user: UserId,
        request: CreateTokenRequest,
        now: Timestamp,
    ) -> Result<Draft, CreateTokenError> {
        let expires_at = self
            .checked_expiry(request.expires_at, now)
            .map_err(CreateTokenError::Invalid)?;
        let (identifier, permissions, from_api_client, canary) = match request.source {
            TokenSource::Permissions {
                identifier,
                permissions,
                canary,
            } => {
                let identifier = identifier.ok_or_else(|| {
                    CreateTokenError::Invalid(
                        "identifier is required when permissions are given".into(),
                    )
                })?;
                let identifier = Identifier::parse(&identifier)
                    .map_err(|e| CreateTokenError::Invalid(e.to_string()))?;
                let permissions = self
                    .catalogue
                    .resolve(&permissions)
                    .map_err(CreateTokenError::UnknownPermission)?;
                (identifier.into_string(), permissions, None, canary)
            }
            TokenSource::Client(client_id) => {
                let client = self
                    .clients
                    .find(&client_id)?
                    .ok_or(CreateTokenError::ClientNotFound(client_id))?;
                (
                    client_token_identifier(&client),
                    client.permissions,
                    Some(client.id),
                    false,
                )
            }
        };
        Ok(Draft {
            user,
            identifier,
            permissions,
            from_api_client,
            created_at: now,
            expires_at,
            created_by: Actor::session(user),
            canary,
        })
    }

    /// Mints `draft` and stores it alone (completing `claim`), minting
    /// again should its fingerprint be taken.
    fn insert_drafted(
        &self,
        draft: &Draft,
        claim: Option<&IdempotencyClaim>,
        now: Timestamp,
    ) -> Result<ApiToken, CreateTokenError> {
        for _ in 0..INSERT_ATTEMPTS {
            let (token, record) = self.mint(draft);
            let inserted = match claim {
                Some(claim) => self.repository.insert_claimed(record, now, claim),
                None => self.repository.insert(record, now),
            };
            match inserted {
                Ok(stored) => return Ok(to_document(stored, token)),
                Err(InsertTokenError::DuplicateHash) => continue,
                Err(error) => return Err(refusal(error, draft)),
            }
        }
        Err(anyhow::anyhow!("could not generate a unique token").into())
    }

    /// The expiry a token gets when `asked` is what a request asked for
    /// (creation, a change, a rotation): in the future, before the year
    /// 10000, within the lifetime policy; the policy's lifetime when nothing
    /// was asked. The error is the `400`'s detail.
    pub(super) fn checked_expiry(
        &self,
        asked: Option<Timestamp>,
        now: Timestamp,
    ) -> Result<Option<Timestamp>, String> {
        let latest = self.latest_expiry(now);
        let Some(at) = asked else {
            return Ok(latest);
        };
        if at <= now {
            return Err("expiresAt must be in the future".into());
        }
        if at > Timestamp::MAX {
            return Err("expiresAt must be before the year 10000".into());
        }
        if latest.is_some_and(|latest| at > latest) {
            return Err(format!(
                "expiresAt is beyond the longest lifetime tokens may have here ({} days)",
                self.max_lifetime_days
            ));
        }
        Ok(Some(at))
    }

    /// The latest expiry the lifetime policy allows for a token made `now`.
    pub(super) fn latest_expiry(&self, now: Timestamp) -> Option<Timestamp> {
        (self.max_lifetime_days > 0)
            .then(|| now + Duration::from_secs(u64::from(self.max_lifetime_days) * 24 * 3600))
    }
}
