//! The client registry: built-in clients and the ones users
//! register, with owner-only changes, a per-user cap and secrets sealed at
//! rest like tokens.

use std::sync::Arc;

use subtle::ConstantTimeEq;
use tessera_domain::random;
use tessera_domain::{
    ApiKeyTemplate, ClientDirectory, ClientId, ClientName, ClientRepository, ClientUpdate, Clock,
    FieldError, FileName, HttpUrl, IdempotencyClaim, IdempotencyError, IdempotencyKey,
    IdempotencyScope, IdempotencyStore, InsertClientError, Keyring, OAuthClient,
    PermissionCatalogue, RevocationSink, SecretString, StoredClient, UserId, run_once,
};

use crate::built_in::StaticClientDirectory;

const ID_RANDOM_LEN: usize = 24;
const SECRET_RANDOM_LEN: usize = 40;
/// Fresh ids and secrets colliding is practically impossible; a retry or two
/// makes it never surface.
const INSERT_ATTEMPTS: usize = 3;

/// What a user sends to register a client.
#[derive(Debug, Clone, Default)]
pub struct NewClient {
    pub name: String,
    pub permissions: Vec<String>,
    pub redirect_uri: Option<String>,
    pub webhook_uri: Option<String>,
    pub api_key_template: Option<String>,
    pub api_key_filename: Option<String>,
}

/// A change as sent: `None` leaves a field, `Some(None)` clears it.
#[derive(Debug, Clone, Default)]
pub struct ClientPatch {
    pub name: Option<String>,
    pub redirect_uri: Option<Option<String>>,
    pub webhook_uri: Option<Option<String>>,
    pub api_key_template: Option<Option<String>>,
    pub api_key_filename: Option<Option<String>>,
}

/// A client with its secret when the viewer may see it.
#[derive(Debug, Clone)]
pub struct ClientView {
    pub client: OAuthClient,
    pub secret: Option<SecretString>,
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("{0}")]
    Invalid(String),
    #[error("no OAuth2 client has this id")]
    NotFound,
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("a user may have at most {0} OAuth2 clients")]
    CapReached(u32),
    #[error(transparent)]
    Idempotency(#[from] IdempotencyError),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl From<FieldError> for ClientError {
    fn from(error: FieldError) -> Self {
        Self::Invalid(error.to_string())
    }
}

pub struct ClientService {
    built_in: StaticClientDirectory,
    repository: Arc<dyn ClientRepository>,
    keyring: Keyring,
    catalogue: PermissionCatalogue,
    clock: Arc<dyn Clock>,
    cap: u32,
    /// The verification cache, purged of a deleted client's tokens.
    revoked: Arc<dyn RevocationSink>,
    /// Where `Idempotency-Key`s are kept; `None`: keys are refused.
    idempotency: Option<Arc<dyn IdempotencyStore>>,
}

impl std::fmt::Debug for ClientService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientService")
            .field("cap", &self.cap)
            .finish_non_exhaustive()
    }
}

/// An optional member as sent, parsed when present.
fn optional<T>(
    value: Option<String>,
    parse: impl Fn(&str) -> Result<T, FieldError>,
) -> Result<Option<T>, ClientError> {
    value
        .map(|v| parse(&v))
        .transpose()
        .map_err(ClientError::from)
}

/// A change as sent (`None` keeps, `Some(None)` clears), parsed when set.
fn optional_change<T>(
    value: Option<Option<String>>,
    parse: impl Fn(&str) -> Result<T, FieldError>,
) -> Result<Option<Option<T>>, ClientError> {
    value.map(|change| optional(change, &parse)).transpose()
}

impl ClientService {
    pub fn new(
        built_in: StaticClientDirectory,
        repository: Arc<dyn ClientRepository>,
        keyring: Keyring,
        catalogue: PermissionCatalogue,
        clock: Arc<dyn Clock>,
        cap: u32,
        revoked: Arc<dyn RevocationSink>,
    ) -> Self {
        Self {
            built_in,
            repository,
            keyring,
            catalogue,
            clock,
            cap,
            revoked,
            idempotency: None,
        }
    }

    /// Keeps `Idempotency-Key`s in `store`.
    #[must_use]
    pub fn with_idempotency(mut self, store: Arc<dyn IdempotencyStore>) -> Self {
        self.idempotency = Some(store);
        self
    }

    /// [`Self::create`] at most once per `Idempotency-Key`: a retry with the
    /// key and the same body (`fingerprint`) gets the client (and secret)
    /// the first request created.
    pub fn create_once(
        &self,
        user: UserId,
        new: NewClient,
        key: Option<(IdempotencyKey, [u8; 32])>,
    ) -> Result<ClientView, ClientError> {
        let Some(key) = key else {
            return self.create(user, new);
        };
        run_once(
            self.idempotency.as_deref(),
            user,
            IdempotencyScope::ClientCreation,
            key,
            self.clock.now(),
            |claim| self.create_claimed(user, new, Some(claim)),
            |outcome| match self.repository.find(outcome)? {
                Some(stored) if stored.author() == Some(user) => self.view(stored).map(Some),
                _ => Ok(None),
            },
        )
    }

    fn view(&self, stored: StoredClient) -> Result<ClientView, ClientError> {
        let secret = self
            .keyring
            .open(&stored.secret_sealed, &stored.secret_hash)
            .map_err(|e| anyhow::anyhow!("client {}: {e}", stored.client.id))?;
        Ok(ClientView {
            client: stored.client,
            secret: Some(secret),
        })
    }

    pub fn list_own(&self, user: UserId) -> Result<Vec<ClientView>, ClientError> {
        self.repository
            .list_by_author(user)?
            .into_iter()
            .map(|stored| self.view(stored))
            .collect()
    }

    /// Every client an operator should know of: the built-in ones from
    /// configuration, then the registered ones, oldest first. No secrets.
    pub fn list_all(&self) -> anyhow::Result<Vec<OAuthClient>> {
        let mut clients: Vec<OAuthClient> = self.built_in.clients().cloned().collect();
        clients.extend(self.repository.list_all()?.into_iter().map(|s| s.client));
        Ok(clients)
    }

    pub fn create(&self, user: UserId, new: NewClient) -> Result<ClientView, ClientError> {
        self.create_claimed(user, new, None)
    }

    fn create_claimed(
        &self,
        user: UserId,
        new: NewClient,
        claim: Option<&IdempotencyClaim>,
    ) -> Result<ClientView, ClientError> {
        let name = ClientName::parse(&new.name)?.into_string();
        if new.permissions.is_empty() {
            return Err(ClientError::Invalid(
                "permissions must name at least one permission".into(),
            ));
        }
        let permissions = self
            .catalogue
            .resolve(&new.permissions)
            .map_err(|p| ClientError::Invalid(format!("unknown permission {p:?}")))?;
        let client = OAuthClient {
            id: ClientId::new(String::new()),
            name,
            author: Some(user),
            permissions,
            redirect_uri: optional(new.redirect_uri, |v| HttpUrl::parse("redirectUri", v))?
                .map(HttpUrl::into_string),
            webhook_uri: optional(new.webhook_uri, |v| HttpUrl::parse("webhookUri", v))?
                .map(HttpUrl::into_string),
            api_key_template: optional(new.api_key_template, ApiKeyTemplate::parse)?
                .map(ApiKeyTemplate::into_string),
            api_key_filename: optional(new.api_key_filename, FileName::parse)?
                .map(FileName::into_string),
            created_at: self.clock.now(),
        };
        for _ in 0..INSERT_ATTEMPTS {
            let secret = SecretString::new(random::alphanumeric("CS", SECRET_RANDOM_LEN));
            let secret_hash = self.keyring.fingerprint(secret.expose());
            let stored = StoredClient {
                client: OAuthClient {
                    id: ClientId::new(random::alphanumeric("CI", ID_RANDOM_LEN)),
                    ..client.clone()
                },
                secret_hash,
                secret_sealed: self.keyring.seal(&secret, &secret_hash),
            };
            let inserted = match claim {
                Some(claim) => self.repository.insert_claimed(stored, self.cap, claim),
                None => self.repository.insert(stored, self.cap),
            };
            match inserted {
                Ok(stored) => {
                    return Ok(ClientView {
                        client: stored.client,
                        secret: Some(secret),
                    });
                }
                Err(InsertClientError::Duplicate) => continue,
                Err(InsertClientError::CapReached) => {
                    return Err(ClientError::CapReached(self.cap));
                }
                Err(InsertClientError::Unexpected(e)) => return Err(e.into()),
            }
        }
        Err(anyhow::anyhow!("could not generate a unique client id").into())
    }

    /// The public view (no secret), built-in clients included.
    pub fn get(&self, id: &str) -> Result<OAuthClient, ClientError> {
        self.find(id)?.ok_or(ClientError::NotFound)
    }

    /// The stored client `id` if `user` owns it.
    fn owned(&self, user: UserId, id: &str) -> Result<StoredClient, ClientError> {
        if self.built_in.get(id).is_some() {
            return Err(ClientError::Forbidden(
                "built-in clients cannot be changed through the API",
            ));
        }
        let stored = self.repository.find(id)?.ok_or(ClientError::NotFound)?;
        if stored.author() != Some(user) {
            return Err(ClientError::Forbidden(
                "only the client's author may change it",
            ));
        }
        Ok(stored)
    }

    pub fn update(
        &self,
        user: UserId,
        id: &str,
        patch: ClientPatch,
    ) -> Result<ClientView, ClientError> {
        self.owned(user, id)?;
        let update = ClientUpdate {
            name: optional(patch.name, ClientName::parse)?,
            redirect_uri: optional_change(patch.redirect_uri, |v| {
                HttpUrl::parse("redirectUri", v)
            })?,
            webhook_uri: optional_change(patch.webhook_uri, |v| HttpUrl::parse("webhookUri", v))?,
            api_key_template: optional_change(patch.api_key_template, ApiKeyTemplate::parse)?,
            api_key_filename: optional_change(patch.api_key_filename, FileName::parse)?,
        };
        let stored = self
            .repository
            .update(id, &update, self.clock.now())?
            .ok_or(ClientError::NotFound)?;
        self.view(stored)
    }

    pub fn reset_secret(&self, user: UserId, id: &str) -> Result<ClientView, ClientError> {
        self.owned(user, id)?;
        let secret = SecretString::new(random::alphanumeric("CS", SECRET_RANDOM_LEN));
        let hash = self.keyring.fingerprint(secret.expose());
        let sealed = self.keyring.seal(&secret, &hash);
        let stored = self
            .repository
            .replace_secret(id, hash, sealed, self.clock.now())?
            .ok_or(ClientError::NotFound)?;
        Ok(ClientView {
            client: stored.client,
            secret: Some(secret),
        })
    }

    /// Deletes the client and, in the same transaction, every token issued
    /// from it.
    pub fn delete(&self, user: UserId, id: &str) -> Result<(), ClientError> {
        self.owned(user, id)?;
        let deleted = self
            .repository
            .delete(id, self.clock.now())?
            .ok_or(ClientError::NotFound)?;
        self.revoked.invalidate(&deleted);
        Ok(())
    }

    /// The client whose id and secret these are. Unknown clients, clients
    /// without a secret and wrong secrets are the same `None`; secrets are
    /// compared in constant time.
    pub fn authenticate(&self, id: &str, secret: &str) -> anyhow::Result<Option<OAuthClient>> {
        let presented = self.keyring.fingerprint(secret);
        let (client, expected) = if let Some(built_in) = self.built_in.get(id) {
            (Some(built_in.client.clone()), built_in.secret_hash)
        } else {
            match self.repository.find(id)? {
                Some(stored) => (Some(stored.client), Some(stored.secret_hash)),
                None => (None, None),
            }
        };
        let matches = expected.is_some_and(|hash| bool::from(hash.0.ct_eq(&presented.0)));
        Ok(client.filter(|_| matches))
    }
}

impl ClientService {
    /// The resource server an `Authorization` value authenticates when it
    /// is HTTP Basic written as clients write it (see
    /// [`StaticClientDirectory`]): one fingerprint of the value, nothing
    /// decoded. `None` says only that this shortcut does not apply: the
    /// credentials are then read and checked by the general rule.
    pub fn resource_server_by_authorization(&self, value: &str) -> Option<&OAuthClient> {
        if !value.starts_with("Basic ") {
            return None;
        }
        self.built_in.by_basic(&self.keyring.fingerprint(value))
    }

    /// A built-in client marked `resource_server`, authenticated by its
    /// secret: who may introspect tokens and read the revocation feed. Needs
    /// no IO, so the hot path calls it inline.
    pub fn authenticate_resource_server(&self, id: &str, secret: &str) -> Option<&OAuthClient> {
        let presented = self.keyring.fingerprint(secret);
        let built_in = self.built_in.get(id)?;
        let expected = built_in.secret_hash?;
        let matches = bool::from(expected.0.ct_eq(&presented.0));
        (matches && built_in.resource_server).then_some(&built_in.client)
    }
}

impl ClientDirectory for ClientService {
    fn find(&self, id: &str) -> anyhow::Result<Option<OAuthClient>> {
        if let Some(built_in) = self.built_in.get(id) {
            return Ok(Some(built_in.client.clone()));
        }
        Ok(self.repository.find(id)?.map(|stored| stored.client))
    }
}
