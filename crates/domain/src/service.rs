//! The token service: every rule of contract §4 and §5 in one place, above
//! the ports. Methods are synchronous because the storage adapters are; the
//! HTTP adapter runs them off the async executor.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use crate::cache::{Cached, Hit, TokenCache, ValidEntry, expired};
use crate::client::{ClientDirectory, OAuthClient};
use crate::crypto::{Keyring, TokenHash};
use crate::idempotency::{
    ClaimOutcome, IdempotencyClaim, IdempotencyKey, IdempotencyScope, IdempotencyStore,
};
use crate::ids::{ClientId, UserId};
use crate::permission::{Identifier, PermissionCatalogue, PermissionSet};
use crate::ports::{InsertTokenError, NewTokenRecord, TokenRecord, TokenRepository};
use crate::secret::SecretString;
use crate::time::{Clock, MAX_TIMESTAMP, Timestamp};
use crate::token::TokenFormat;

/// A token as shown to its owner (contract §2 `APITokenDocument`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiToken {
    pub token: SecretString,
    pub identifier: String,
    pub permissions: PermissionSet,
    pub user_id: UserId,
    pub from_api_client: Option<ClientId>,
    pub created_at: Timestamp,
    pub expires_at: Option<Timestamp>,
    pub last_used_at: Option<Timestamp>,
}

/// Who a verified token speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user_id: UserId,
    /// Shared between the cached tokens that have the same set.
    pub permissions: Arc<PermissionSet>,
    pub from_api_client: Option<ClientId>,
    pub hash: TokenHash,
    pub created_at: Timestamp,
    pub expires_at: Option<Timestamp>,
}

/// What [`TokenService::lookup`] could tell without the store.
#[derive(Debug)]
pub enum Lookup {
    Answered(Result<Principal, VerifyError>),
    /// Only the store can tell: pass to [`TokenService::verify_stored`].
    Miss(TokenHash),
}

/// Where a new token's permissions come from (contract §4: exactly one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSource {
    Permissions {
        identifier: Option<String>,
        permissions: Vec<String>,
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
    #[error(transparent)]
    Idempotency(#[from] IdempotencyError),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Why a request with an `Idempotency-Key` was not processed.
#[derive(Debug, thiserror::Error)]
pub enum IdempotencyError {
    #[error("a request with this Idempotency-Key is still being processed")]
    InProgress,
    #[error("this Idempotency-Key was used with another request body")]
    Mismatch,
    #[error("what the first request with this Idempotency-Key created has since been deleted")]
    Gone,
}

/// Runs `work` once per `Idempotency-Key` (`key`: the key and the body's
/// fingerprint) of `user` in `scope`: claims it, runs `work` with the claim
/// (which must complete it in the transaction that stores the record),
/// gives the key back when `work` fails, or answers from what an earlier
/// request with the key created (`replay` of its outcome).
pub fn run_once<T, E>(
    store: Option<&dyn IdempotencyStore>,
    user: UserId,
    scope: IdempotencyScope,
    key: (IdempotencyKey, [u8; 32]),
    now: Timestamp,
    work: impl FnOnce(&IdempotencyClaim) -> Result<T, E>,
    replay: impl FnOnce(&str) -> Result<Option<T>, E>,
) -> Result<T, E>
where
    E: From<IdempotencyError> + From<anyhow::Error>,
{
    let store = store.ok_or_else(|| anyhow::anyhow!("no store for Idempotency-Keys"))?;
    let (key, fingerprint) = key;
    let claim = IdempotencyClaim {
        user,
        scope,
        key,
        fingerprint,
        claim: rand::random::<i64>(),
    };
    match store.claim(&claim, now)? {
        ClaimOutcome::Claimed => {
            let done = work(&claim);
            if done.is_err() {
                // A key that cannot be given back (the store is down) is
                // taken over once abandoned long enough.
                let _ = store.release(&claim);
            }
            done
        }
        ClaimOutcome::Done(outcome) => replay(&outcome)?.ok_or(IdempotencyError::Gone.into()),
        ClaimOutcome::InProgress => Err(IdempotencyError::InProgress.into()),
        ClaimOutcome::Mismatch => Err(IdempotencyError::Mismatch.into()),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DeleteTokenError {
    #[error("no such token")]
    NotFound,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("malformed token")]
    Malformed,
    #[error("unknown token")]
    Unknown,
    #[error("expired token")]
    Expired,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// A fresh 190-bit token colliding is practically impossible; retrying a few
/// times turns "practically" into "never surfaces to a caller".
const INSERT_ATTEMPTS: usize = 3;

/// `lastUsedAt` is written at most this often per token.
pub const USAGE_RESOLUTION_MS: i64 = 60_000;

pub struct TokenService {
    repository: Arc<dyn TokenRepository>,
    clients: Arc<dyn ClientDirectory>,
    keyring: Keyring,
    format: TokenFormat,
    catalogue: PermissionCatalogue,
    clock: Arc<dyn Clock>,
    cache: Arc<TokenCache>,
    /// Uses not yet written: fingerprint → when.
    usage: Mutex<HashMap<TokenHash, Timestamp>>,
    /// Where `Idempotency-Key`s are kept; `None`: keys are refused.
    idempotency: Option<Arc<dyn IdempotencyStore>>,
}

impl std::fmt::Debug for TokenService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenService")
            .field("format", &self.format)
            .field("catalogue", &self.catalogue)
            .finish_non_exhaustive()
    }
}

impl TokenService {
    pub fn new(
        repository: Arc<dyn TokenRepository>,
        clients: Arc<dyn ClientDirectory>,
        keyring: Keyring,
        format: TokenFormat,
        catalogue: PermissionCatalogue,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            repository,
            clients,
            keyring,
            format,
            catalogue,
            clock,
            cache: Arc::new(TokenCache::default()),
            usage: Mutex::new(HashMap::new()),
            idempotency: None,
        }
    }

    /// Keeps `Idempotency-Key`s in `store`.
    #[must_use]
    pub fn with_idempotency(mut self, store: Arc<dyn IdempotencyStore>) -> Self {
        self.idempotency = Some(store);
        self
    }

    /// [`Self::create`] at most once per `Idempotency-Key`: a retry with
    /// the key and the same body (`fingerprint`) gets the token the first
    /// request created, never a second one.
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

    /// Shares `cache` with whatever else invalidates it (the client
    /// registry, the cross-instance listener).
    #[must_use]
    pub fn with_cache(mut self, cache: Arc<TokenCache>) -> Self {
        self.cache = cache;
        self
    }

    pub fn cache(&self) -> &Arc<TokenCache> {
        &self.cache
    }

    /// Forgets deleted tokens in this instance's cache, at once.
    pub fn forget(&self, hashes: &[TokenHash]) {
        self.cache.invalidate(hashes);
    }

    pub fn catalogue(&self) -> &PermissionCatalogue {
        &self.catalogue
    }

    pub fn format(&self) -> &TokenFormat {
        &self.format
    }

    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    pub fn keyring(&self) -> &Keyring {
        &self.keyring
    }

    /// A fresh token for `user` from `client`, not yet stored: the OAuth2
    /// grant stores it in the same transaction that uses up its code.
    pub fn new_client_token(
        &self,
        user: UserId,
        client: &OAuthClient,
    ) -> (SecretString, NewTokenRecord) {
        self.mint(&Draft {
            user,
            identifier: client_token_identifier(client),
            permissions: client.permissions.clone(),
            from_api_client: Some(client.id.clone()),
            created_at: self.clock.now(),
            expires_at: None,
        })
    }

    /// A fresh token and the record that stores it (fingerprint, sealed).
    fn mint(&self, draft: &Draft) -> (SecretString, NewTokenRecord) {
        let token = self.format.generate();
        let hash = self.keyring.fingerprint(token.expose());
        let record = NewTokenRecord {
            user_id: draft.user,
            identifier: draft.identifier.clone(),
            hash,
            sealed: self.keyring.seal(&token, &hash),
            permissions: draft.permissions.clone(),
            from_api_client: draft.from_api_client.clone(),
            created_at: draft.created_at,
            expires_at: draft.expires_at,
        };
        (token, record)
    }

    /// Revokes a token issued from `client` (RFC 7009); a token of the wrong
    /// shape, unknown, or from another client is left alone.
    pub fn revoke_for_client(&self, token: &str, client: &ClientId) -> anyhow::Result<bool> {
        if self.format.check(token).is_err() {
            return Ok(false);
        }
        let hash = self.keyring.fingerprint(token);
        let deleted = self.repository.delete_for_client(&hash, client)?;
        if deleted {
            self.forget(&[hash]);
        }
        Ok(deleted)
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
        if let Some(at) = request.expires_at {
            if at <= now {
                return Err(CreateTokenError::Invalid(
                    "expiresAt must be in the future".into(),
                ));
            }
            if at > MAX_TIMESTAMP {
                return Err(CreateTokenError::Invalid(
                    "expiresAt must be before the year 10000".into(),
                ));
            }
        }
        let (identifier, permissions, from_api_client) = match request.source {
            TokenSource::Permissions {
                identifier,
                permissions,
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
                (identifier.into_string(), permissions, None)
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
                )
            }
        };

        let draft = Draft {
            user,
            identifier,
            permissions,
            from_api_client,
            created_at: now,
            expires_at: request.expires_at,
        };
        for _ in 0..INSERT_ATTEMPTS {
            let (token, record) = self.mint(&draft);
            let inserted = match claim {
                Some(claim) => self.repository.insert_claimed(record, now, claim),
                None => self.repository.insert(record, now),
            };
            match inserted {
                Ok(stored) => return Ok(to_document(stored, token)),
                Err(InsertTokenError::DuplicateHash) => continue,
                Err(InsertTokenError::DuplicateClientToken) => {
                    let client = draft.from_api_client.map(|c| c.to_string());
                    return Err(CreateTokenError::Conflict(client.unwrap_or_default()));
                }
                Err(InsertTokenError::Unexpected(e)) => return Err(e.into()),
            }
        }
        Err(anyhow::anyhow!("could not generate a unique token").into())
    }

    /// The user's tokens, oldest first, each opened back to its plain text.
    pub fn list(&self, user: UserId) -> anyhow::Result<Vec<ApiToken>> {
        let mut records = self.repository.list_for_user(user)?;
        {
            // Uses not flushed yet still show.
            let pending = self.lock_usage();
            for record in &mut records {
                if let Some(&at) = pending.get(&record.hash) {
                    record.last_used_at = record.last_used_at.max(Some(at));
                }
            }
        }
        records
            .into_iter()
            .map(|record| {
                let token = self.keyring.open(&record.sealed, &record.hash)?;
                Ok(to_document(record, token))
            })
            .collect()
    }

    /// Another user's token and a token that does not exist are the same
    /// `NotFound`, so a caller learns nothing about tokens it does not own.
    pub fn delete(&self, user: UserId, token: &str) -> Result<(), DeleteTokenError> {
        if self.format.check(token).is_err() {
            return Err(DeleteTokenError::NotFound);
        }
        let hash = self.keyring.fingerprint(token);
        if self.repository.delete(user, &hash)? {
            self.forget(&[hash]);
            Ok(())
        } else {
            Err(DeleteTokenError::NotFound)
        }
    }

    /// Revokes every token of `user` (or only those from `client`) at once;
    /// returns how many there were.
    pub fn revoke_all(&self, user: UserId, client: Option<&ClientId>) -> anyhow::Result<usize> {
        let deleted = self.repository.delete_all_for_user(user, client)?;
        self.forget(&deleted);
        Ok(deleted.len())
    }

    /// The answer for `token` without touching the store, or the
    /// fingerprint to look up when only the store can tell (a cache miss).
    /// Malformed tokens are always answered here.
    pub fn lookup(&self, token: &str) -> Lookup {
        if self.format.check(token).is_err() {
            return Lookup::Answered(Err(VerifyError::Malformed));
        }
        let hash = self.keyring.fingerprint(token);
        match self.cache.get(&hash, |entry| self.accept(entry)) {
            Some(Hit::Valid(answer)) => Lookup::Answered(answer),
            Some(Hit::Unknown) => Lookup::Answered(Err(VerifyError::Unknown)),
            None => Lookup::Miss(hash),
        }
    }

    /// The store's answer for a fingerprint [`Self::lookup`] missed; fills
    /// the cache. Blocking: callers run it off the async executor.
    pub fn verify_stored(&self, hash: TokenHash) -> Result<Principal, VerifyError> {
        let epoch = self.cache.epoch();
        let found = match self.repository.find_by_hash(&hash) {
            Ok(found) => found,
            Err(error) => return self.answer_during_outage(&hash, error),
        };
        let Some(record) = found else {
            self.cache.fill(hash, Cached::Unknown, epoch);
            return Err(VerifyError::Unknown);
        };
        let entry = self.entry_for(record, None);
        // Accepted first: the use it notes travels into the cache with it.
        let answer = self.accept(&entry);
        self.cache.fill(hash, Cached::Valid(entry), epoch);
        answer
    }

    /// The store failed: with `cache.serve_stale_on_outage`, a cached valid
    /// entry still answers while the store is unavailable (the operator
    /// chose availability over the revocation deadline); otherwise the
    /// failure stands.
    fn answer_during_outage(
        &self,
        hash: &TokenHash,
        error: anyhow::Error,
    ) -> Result<Principal, VerifyError> {
        if self.cache.serves_stale_on_outage()
            && crate::availability::is_unavailable(&error)
            && let Some(answer) = self.cache.get_stale(hash, |entry| self.accept(entry))
        {
            return answer;
        }
        Err(VerifyError::Unexpected(error))
    }

    /// What the cache holds for a stored token; `noted` is a use this
    /// instance noted that the store may not have yet.
    fn entry_for(&self, record: TokenRecord, noted: Option<Timestamp>) -> ValidEntry {
        let recorded = record.last_used_at.unwrap_or(i64::MIN);
        ValidEntry::new(
            Principal {
                user_id: record.user_id,
                permissions: self.cache.intern(record.permissions),
                from_api_client: record.from_api_client,
                hash: record.hash,
                created_at: record.created_at,
                expires_at: record.expires_at,
            },
            noted.map_or(recorded, |noted| noted.max(recorded)),
        )
    }

    /// Re-reads, a few statements for all of them, the cached tokens in use
    /// whose cache life ends within `ahead`, so that a busy token does not
    /// miss the cache once a minute (a query on the request path each, and
    /// a wave of them when many tokens were first seen together). Called
    /// off the request path; returns how many entries were renewed.
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
            if expired(record.expires_at, now) {
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

    /// Whether `token` authenticates now, and as whom: from the cache, or
    /// from the store.
    pub fn verify(&self, token: &str) -> Result<Principal, VerifyError> {
        match self.lookup(token) {
            Lookup::Answered(answer) => answer,
            Lookup::Miss(hash) => self.verify_stored(hash),
        }
    }

    /// A known token passes unless it expired; its use is noted.
    fn accept(&self, entry: &ValidEntry) -> Result<Principal, VerifyError> {
        let now = self.clock.now();
        if expired(entry.principal.expires_at, now) {
            return Err(VerifyError::Expired);
        }
        let last = entry.last_recorded.load(Ordering::Relaxed);
        if now.saturating_sub(last) >= USAGE_RESOLUTION_MS
            && entry
                .last_recorded
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.lock_usage().insert(entry.principal.hash, now);
        }
        Ok(entry.principal.clone())
    }

    fn lock_usage(&self) -> MutexGuard<'_, HashMap<TokenHash, Timestamp>> {
        self.usage.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Writes the noted uses (`lastUsedAt`) in one batch; called off the
    /// request path, and once more at shutdown. Returns how many.
    pub fn flush_usage(&self) -> anyhow::Result<usize> {
        // Taken whole, so verifications noting uses never wait on the copy;
        // sorted, so instances writing the same tokens lock rows in one
        // order.
        let mut batch: Vec<(TokenHash, Timestamp)> = std::mem::take(&mut *self.lock_usage())
            .into_iter()
            .collect();
        batch.sort_unstable_by_key(|(hash, _)| hash.0);
        if batch.is_empty() {
            return Ok(0);
        }
        if let Err(error) = self.repository.record_usage(&batch) {
            // Put them back (unless newer ones came in) for the next flush.
            let mut usage = self.lock_usage();
            for (hash, at) in batch {
                usage.entry(hash).or_insert(at);
            }
            return Err(error);
        }
        Ok(batch.len())
    }

    pub fn ping(&self) -> anyhow::Result<()> {
        self.repository.ping()
    }
}

/// A token to be minted: everything but its secret parts.
#[derive(Debug)]
struct Draft {
    user: UserId,
    identifier: String,
    permissions: PermissionSet,
    from_api_client: Option<ClientId>,
    created_at: Timestamp,
    expires_at: Option<Timestamp>,
}

/// `"<client name> Token"` (contract §4 and §11).
fn client_token_identifier(client: &OAuthClient) -> String {
    format!("{} Token", client.name)
}

/// The owner's view of a stored token.
pub fn to_document(record: TokenRecord, token: SecretString) -> ApiToken {
    ApiToken {
        token,
        identifier: record.identifier,
        permissions: record.permissions,
        user_id: record.user_id,
        from_api_client: record.from_api_client,
        created_at: record.created_at,
        expires_at: record.expires_at,
        last_used_at: record.last_used_at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{InMemoryClientDirectory, InMemoryTokenRepository, TEST_SECRET_KEY};
    use crate::time::ManualClock;

    const NOW: Timestamp = 1_764_337_200_000;

    struct Fixture {
        service: TokenService,
        clock: Arc<ManualClock>,
        repository: Arc<InMemoryTokenRepository>,
    }

    fn fixture() -> Fixture {
        let clock = Arc::new(ManualClock::new(NOW));
        let repository = Arc::new(InMemoryTokenRepository::default());
        let clients =
            InMemoryClientDirectory::with_client("CXFervidex", "Fervidex", &["submit_score"]);
        let service = TokenService::new(
            repository.clone(),
            Arc::new(clients),
            Keyring::from_base64(TEST_SECRET_KEY).expect("key"),
            TokenFormat::new("tsr_").expect("prefix"),
            PermissionCatalogue::new(["submit_score", "manage_rivals"]).expect("catalogue"),
            clock.clone(),
        );
        Fixture {
            service,
            clock,
            repository,
        }
    }

    fn user(id: i64) -> UserId {
        UserId::new(id).expect("positive")
    }

    fn by_permissions(identifier: &str, permissions: &[&str]) -> CreateTokenRequest {
        CreateTokenRequest {
            source: TokenSource::Permissions {
                identifier: Some(identifier.to_owned()),
                permissions: permissions.iter().map(|p| (*p).to_owned()).collect(),
            },
            expires_at: None,
        }
    }

    fn by_client(client: &str, expires_at: Option<Timestamp>) -> CreateTokenRequest {
        CreateTokenRequest {
            source: TokenSource::Client(client.to_owned()),
            expires_at,
        }
    }

    #[test]
    fn created_token_verifies_as_its_user_with_its_permissions() {
        let f = fixture();
        let created = f
            .service
            .create(
                user(1),
                by_permissions("  Mine ", &["submit_score", "submit_score"]),
            )
            .expect("created");
        assert_eq!(created.identifier, "Mine");
        assert_eq!(created.from_api_client, None);
        assert_eq!(created.created_at, NOW);
        let principal = f.service.verify(created.token.expose()).expect("valid");
        assert_eq!(principal.user_id, user(1));
        assert_eq!(
            principal.permissions.iter().collect::<Vec<_>>(),
            ["submit_score"]
        );
    }

    #[test]
    fn the_store_never_holds_the_plain_token() {
        let f = fixture();
        let created = f
            .service
            .create(user(1), by_permissions("t", &[]))
            .expect("created");
        let stored = f.repository.snapshot();
        let dump = format!("{stored:?}");
        assert!(!dump.contains(created.token.expose()));
        assert!(stored.iter().all(|r| !r.sealed.windows(10).any(|w| {
            created
                .token
                .expose()
                .as_bytes()
                .windows(10)
                .any(|t| t == w)
        })));
    }

    #[test]
    fn unknown_permission_is_named_and_nothing_is_stored() {
        let f = fixture();
        let err = f
            .service
            .create(user(1), by_permissions("t", &["submit_score", "fly"]))
            .expect_err("unknown permission");
        assert!(matches!(err, CreateTokenError::UnknownPermission(ref p) if p == "fly"));
        assert!(f.repository.snapshot().is_empty());
    }

    #[test]
    fn identifier_is_required_and_bounded_with_permissions() {
        let f = fixture();
        let missing = CreateTokenRequest {
            source: TokenSource::Permissions {
                identifier: None,
                permissions: vec![],
            },
            expires_at: None,
        };
        assert!(matches!(
            f.service.create(user(1), missing),
            Err(CreateTokenError::Invalid(_))
        ));
        assert!(matches!(
            f.service
                .create(user(1), by_permissions(&"x".repeat(121), &[])),
            Err(CreateTokenError::Invalid(_))
        ));
    }

    #[test]
    fn client_token_takes_the_clients_name_and_permissions() {
        let f = fixture();
        let created = f
            .service
            .create(user(1), by_client("CXFervidex", None))
            .expect("created");
        assert_eq!(created.identifier, "Fervidex Token");
        assert_eq!(created.from_api_client, Some(ClientId::new("CXFervidex")));
        assert_eq!(
            created.permissions.iter().collect::<Vec<_>>(),
            ["submit_score"]
        );
    }

    #[test]
    fn unknown_client_is_not_found() {
        let f = fixture();
        assert!(matches!(
            f.service.create(user(1), by_client("CXNope", None)),
            Err(CreateTokenError::ClientNotFound(_))
        ));
    }

    #[test]
    fn second_unexpired_client_token_conflicts_but_an_expired_one_is_replaced() {
        let f = fixture();
        let first = f
            .service
            .create(user(1), by_client("CXFervidex", Some(NOW + 1_000)))
            .expect("first");
        assert!(matches!(
            f.service.create(user(1), by_client("CXFervidex", None)),
            Err(CreateTokenError::Conflict(_))
        ));
        // Another user is unaffected.
        f.service
            .create(user(2), by_client("CXFervidex", None))
            .expect("other user");

        f.clock.advance(1_000);
        let second = f
            .service
            .create(user(1), by_client("CXFervidex", None))
            .expect("expired one replaced");
        let listed = f.service.list(user(1)).expect("list");
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].token, second.token);
        assert!(matches!(
            f.service.verify(first.token.expose()),
            Err(VerifyError::Unknown)
        ));
    }

    #[test]
    fn expires_at_must_be_in_the_future() {
        let f = fixture();
        for at in [NOW, NOW - 1, i64::MIN, MAX_TIMESTAMP + 1] {
            let mut request = by_permissions("t", &[]);
            request.expires_at = Some(at);
            assert!(
                matches!(
                    f.service.create(user(1), request),
                    Err(CreateTokenError::Invalid(_))
                ),
                "{at}"
            );
        }
        assert!(f.repository.snapshot().is_empty());
    }

    #[test]
    fn expired_token_stays_listed_but_no_longer_verifies() {
        let f = fixture();
        let mut request = by_permissions("short-lived", &[]);
        request.expires_at = Some(NOW + 10);
        let created = f.service.create(user(1), request).expect("created");
        assert!(f.service.verify(created.token.expose()).is_ok());
        f.clock.advance(10);
        assert!(matches!(
            f.service.verify(created.token.expose()),
            Err(VerifyError::Expired)
        ));
        assert_eq!(f.service.list(user(1)).expect("list").len(), 1);
    }

    #[test]
    fn list_is_oldest_first_and_only_the_users_own() {
        let f = fixture();
        let a = f
            .service
            .create(user(1), by_permissions("a", &[]))
            .expect("a");
        f.service
            .create(user(2), by_permissions("other", &[]))
            .expect("other");
        let b = f
            .service
            .create(user(1), by_permissions("b", &[]))
            .expect("b");
        f.clock.advance(5);
        let c = f
            .service
            .create(user(1), by_permissions("c", &[]))
            .expect("c");
        let listed: Vec<_> = f
            .service
            .list(user(1))
            .expect("list")
            .into_iter()
            .map(|t| t.token)
            .collect();
        assert_eq!(listed, vec![a.token, b.token, c.token]);
    }

    #[test]
    fn delete_removes_only_the_owners_token() {
        let f = fixture();
        let created = f
            .service
            .create(user(1), by_permissions("t", &[]))
            .expect("t");
        assert!(matches!(
            f.service.delete(user(2), created.token.expose()),
            Err(DeleteTokenError::NotFound)
        ));
        assert!(f.service.verify(created.token.expose()).is_ok());
        f.service
            .delete(user(1), created.token.expose())
            .expect("deleted");
        assert!(matches!(
            f.service.verify(created.token.expose()),
            Err(VerifyError::Unknown)
        ));
        assert!(matches!(
            f.service.delete(user(1), created.token.expose()),
            Err(DeleteTokenError::NotFound)
        ));
    }

    #[test]
    fn malformed_tokens_are_refused_without_touching_the_store() {
        let f = fixture();
        let before = f.repository.lookups();
        assert!(matches!(
            f.service.verify("tsr_nope"),
            Err(VerifyError::Malformed)
        ));
        assert!(matches!(
            f.service.delete(user(1), "garbage"),
            Err(DeleteTokenError::NotFound)
        ));
        assert_eq!(f.repository.lookups(), before);
    }

    #[test]
    fn entries_in_use_are_refreshed_in_one_batch_before_they_expire() {
        let f = fixture();
        let busy = f
            .service
            .create(user(1), by_permissions("busy", &[]))
            .expect("create");
        let idle = f
            .service
            .create(user(1), by_permissions("idle", &[]))
            .expect("create");
        let deleted = f
            .service
            .create(user(2), by_permissions("gone", &[]))
            .expect("create");
        for token in [&busy, &idle, &deleted] {
            f.service
                .verify(token.token.expose())
                .expect("fills the cache");
        }
        // Served from the cache since: in use.
        f.service.verify(busy.token.expose()).expect("hit");
        f.service.verify(deleted.token.expose()).expect("hit");
        f.service
            .delete(user(2), deleted.token.expose())
            .expect("delete");

        // Every entry is due within an hour: only the busy one is renewed.
        let before = f.repository.lookups();
        let renewed = f
            .service
            .refresh_cache(Duration::from_secs(3600), 100)
            .expect("refresh");
        assert_eq!(renewed, 1);
        assert_eq!(f.repository.lookups(), before + 1, "one batch for all");
        let cached = f.repository.lookups();
        f.service.verify(busy.token.expose()).expect("still cached");
        assert_eq!(f.repository.lookups(), cached, "a hit, no lookup");
        assert!(matches!(
            f.service.verify(deleted.token.expose()),
            Err(VerifyError::Unknown)
        ));
        // A renewed entry starts unused: without a hit it is not renewed again.
        assert_eq!(
            f.service
                .refresh_cache(Duration::from_secs(3600), 100)
                .expect("refresh"),
            1,
            "the hit above used it"
        );
        assert_eq!(
            f.service
                .refresh_cache(Duration::from_secs(3600), 100)
                .expect("refresh"),
            0
        );
        f.service.verify(busy.token.expose()).expect("hit");
        assert_eq!(
            f.service
                .refresh_cache(Duration::ZERO, 100)
                .expect("refresh"),
            0,
            "in use, but its life does not end now"
        );
    }

    fn fixture_with(settings: crate::CacheSettings) -> Fixture {
        let f = fixture();
        let cache = Arc::new(TokenCache::new(settings));
        Fixture {
            service: f.service.with_cache(cache),
            ..f
        }
    }

    #[test]
    fn a_stale_view_asks_the_store_and_an_outage_is_an_error_unless_stale_answers_are_allowed() {
        for serve_stale in [false, true] {
            let f = fixture_with(crate::CacheSettings {
                max_staleness: Some(Duration::from_secs(1)),
                serve_stale_on_outage: serve_stale,
                ..crate::CacheSettings::default()
            });
            let token = f
                .service
                .create(user(4), by_permissions("cached", &[]))
                .expect("create");
            f.service
                .verify(token.token.expose())
                .expect("fills the cache");
            let before = f.repository.lookups();
            f.service
                .verify(token.token.expose())
                .expect("stale: the store says valid");
            assert_eq!(
                f.repository.lookups(),
                before + 1,
                "never proven: asked the store"
            );

            f.repository.set_down(true);
            let answer = f.service.verify(token.token.expose());
            if serve_stale {
                assert!(answer.is_ok(), "the cached entry stands in");
            } else {
                assert!(
                    matches!(&answer, Err(VerifyError::Unexpected(e)) if crate::is_unavailable(e)),
                    "{answer:?}"
                );
            }
            // An unknown token is never guessed valid.
            let unknown = f.service.format().generate();
            assert!(matches!(
                f.service.verify(unknown.expose()),
                Err(VerifyError::Unexpected(_))
            ));
            f.repository.set_down(false);
            f.service.cache().view().prove(std::time::Instant::now());
            let before = f.repository.lookups();
            f.service
                .verify(token.token.expose())
                .expect("fresh: from the cache");
            assert_eq!(f.repository.lookups(), before, "a hit");
        }
    }

    #[test]
    fn a_refresh_drops_what_the_store_no_longer_has() {
        let f = fixture();
        let token = f
            .service
            .create(user(3), by_permissions("lost", &[]))
            .expect("create");
        f.service.verify(token.token.expose()).expect("fills");
        f.service.verify(token.token.expose()).expect("hit");
        // Deleted behind the cache's back, as if the notice were lost.
        f.repository
            .delete_all_for_user(user(3), None)
            .expect("delete");
        assert!(
            f.service.verify(token.token.expose()).is_ok(),
            "still cached"
        );
        assert_eq!(
            f.service
                .refresh_cache(Duration::from_secs(3600), 100)
                .expect("refresh"),
            0
        );
        assert!(matches!(
            f.service.verify(token.token.expose()),
            Err(VerifyError::Unknown)
        ));
    }
}
