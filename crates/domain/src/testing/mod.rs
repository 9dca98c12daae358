//! In-memory fakes of the ports, for unit tests of the code above them. The
//! persistence crate runs its conformance suites against these too, so the
//! fakes cannot drift from the real adapters.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::audit::{Actor, EventDraft, RevokeReason};
use crate::client::{ClientDirectory, OAuthClient};
use crate::crypto::TokenHash;
use crate::idempotency::{
    ABANDONED_AFTER, ClaimLost, ClaimOutcome, IdempotencyClaim, IdempotencyStore, KEY_LIFETIME,
};
use crate::ids::{ClientId, TokenId, UserId};
use crate::oauth::{AuthorizationCode, InsertClientError, StoredClient};
use crate::permission::PermissionSet;
use crate::ports::{
    ClientRevocation, InsertTokenError, NewTokenRecord, RotateError, Rotated, Rotation,
    TokenChange, TokenRecord, TokenRepository, TokenUse, UpdateTokenError,
};
use crate::revocations::{Revocation, RevocationLog, RevocationPage};
use crate::time::Timestamp;

mod audit;
mod lifecycle;
mod oauth;

/// A valid base64 root key (32 bytes) for tests only.
pub const TEST_SECRET_KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

#[derive(Debug, Default)]
struct State {
    next_id: i64,
    tokens: Vec<TokenRecord>,
    clients: Vec<StoredClient>,
    codes: Vec<AuthorizationCode>,
    revocations: Vec<Revocation>,
    purged_through: i64,
    keys: HashMap<(i64, &'static str, String), KeyRow>,
    suspended: std::collections::HashSet<UserId>,
    audit: HashMap<UserId, Vec<crate::AuditEvent>>,
    /// Tokens (by store id) whose `token.expiring` was appended.
    expiry_warned: std::collections::HashSet<i64>,
}

/// An idempotency key as the database keeps it.
#[derive(Debug, Clone)]
struct KeyRow {
    fingerprint: [u8; 32],
    claim: i64,
    created_at: Timestamp,
    claimed_at: Timestamp,
    outcome: Option<String>,
}

fn key_of(claim: &IdempotencyClaim) -> (i64, &'static str, String) {
    (
        claim.user.get(),
        claim.scope.as_str(),
        claim.key.as_str().to_owned(),
    )
}

impl State {
    fn client_mut(&mut self, id: &str) -> Option<&mut StoredClient> {
        self.clients.iter_mut().find(|c| c.client.id.as_str() == id)
    }

    /// Whether `claim` still holds its key, unfinished.
    fn holds(&self, claim: &IdempotencyClaim) -> bool {
        self.keys
            .get(&key_of(claim))
            .is_some_and(|row| row.claim == claim.claim && row.outcome.is_none())
    }

    fn complete(&mut self, claim: &IdempotencyClaim, outcome: String) {
        if let Some(row) = self.keys.get_mut(&key_of(claim)) {
            row.outcome = Some(outcome);
        }
    }

    fn insert_token(
        &mut self,
        token: NewTokenRecord,
        now: Timestamp,
    ) -> Result<TokenRecord, InsertTokenError> {
        if self.tokens.iter().any(|r| r.hash == token.hash) {
            return Err(InsertTokenError::DuplicateHash);
        }
        if self.suspended.contains(&token.user_id) {
            return Err(InsertTokenError::Suspended);
        }
        if let Some(client) = &token.from_api_client {
            let same = |r: &TokenRecord| {
                r.user_id == token.user_id && r.from_api_client.as_ref() == Some(client)
            };
            let by = token.created_by.clone();
            self.revoke(
                |r| same(r) && r.is_expired(now),
                &by,
                RevokeReason::GrantReplaced,
                now,
            );
            // A superseded token is no longer its client's one token.
            if self
                .tokens
                .iter()
                .any(|r| same(r) && r.superseded_by.is_none())
            {
                return Err(InsertTokenError::DuplicateClientToken);
            }
        }
        self.push_token(token)
    }

    fn insert_client(
        &mut self,
        client: StoredClient,
        cap: u32,
    ) -> Result<StoredClient, InsertClientError> {
        let taken = self
            .clients
            .iter()
            .any(|c| c.client.id == client.client.id || c.secret_hash == client.secret_hash);
        if taken {
            return Err(InsertClientError::Duplicate);
        }
        let owned = self
            .clients
            .iter()
            .filter(|c| c.client.author == client.client.author)
            .count();
        if owned >= cap as usize {
            return Err(InsertClientError::CapReached);
        }
        if let Some(event) = client.created_event() {
            self.append(&event, client.client.created_at);
        }
        self.clients.push(client.clone());
        Ok(client)
    }

    /// Deletes the tokens matching `doomed`, logging each as revoked (what
    /// the database triggers do); returns their fingerprints.
    fn delete_tokens(&mut self, doomed: impl Fn(&TokenRecord) -> bool) -> Vec<TokenHash> {
        let hashes: Vec<TokenHash> = self
            .tokens
            .iter()
            .filter(|t| doomed(t))
            .map(|t| t.hash)
            .collect();
        self.tokens.retain(|t| !doomed(t));
        for hash in &hashes {
            self.announce(*hash);
        }
        hashes
    }

    /// Appends to the revocation log, as the databases' triggers do.
    fn announce(&mut self, hash: TokenHash) {
        let cursor = self
            .revocations
            .last()
            .map_or(self.purged_through, |r| r.cursor)
            + 1;
        self.revocations.push(Revocation {
            cursor,
            hash,
            revoked_at: Timestamp::EPOCH,
        });
    }

    fn push_token(&mut self, token: NewTokenRecord) -> Result<TokenRecord, InsertTokenError> {
        if self.tokens.iter().any(|r| r.hash == token.hash) {
            return Err(InsertTokenError::DuplicateHash);
        }
        if self.tokens.iter().any(|r| r.public_id == token.public_id) {
            return Err(anyhow::anyhow!("api_tokens_public_id_key: duplicate public id").into());
        }
        self.append(&token.created_event(), token.created_at);
        self.next_id += 1;
        let record = TokenRecord {
            id: self.next_id,
            public_id: token.public_id,
            user_id: token.user_id,
            identifier: token.identifier,
            hash: token.hash,
            sealed: token.sealed,
            permissions: token.permissions,
            from_api_client: token.from_api_client,
            created_at: token.created_at,
            expires_at: token.expires_at,
            last_used_at: None,
            disabled: false,
            allowed_ips: token.allowed_ips,
            canary: token.canary,
            superseded_by: None,
            superseded_until: None,
            last_used_by: None,
            last_used_ips: Vec::new(),
            owner_suspended: false,
        };
        self.tokens.push(record.clone());
        Ok(record)
    }
}

/// All three stores in one lock, so cross-store operations (redeeming a
/// code, deleting a client) are atomic like a database transaction.
#[derive(Debug, Default)]
pub struct InMemoryStore {
    state: Mutex<State>,
    lookups: AtomicUsize,
    /// Reads fail as an unreachable database's do.
    down: std::sync::atomic::AtomicBool,
}

/// The name the token-only tests know the store by.
pub type InMemoryTokenRepository = InMemoryStore;

impl InMemoryStore {
    pub fn snapshot(&self) -> Vec<TokenRecord> {
        self.lock().tokens.clone()
    }

    /// How many times the store was asked anything: lets tests prove that
    /// malformed input never reaches it.
    pub fn lookups(&self) -> usize {
        self.lookups.load(Ordering::SeqCst)
    }

    /// Makes reads fail with [`crate::Unavailable`] (or work again).
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    fn check_up(&self) -> anyhow::Result<()> {
        if self.down.load(Ordering::SeqCst) {
            return Err(crate::Unavailable::new("in-memory store", "set down by the test").into());
        }
        Ok(())
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl TokenRepository for InMemoryStore {
    fn insert(
        &self,
        token: NewTokenRecord,
        now: Timestamp,
    ) -> Result<TokenRecord, InsertTokenError> {
        self.lock().insert_token(token, now)
    }

    fn insert_claimed(
        &self,
        token: NewTokenRecord,
        now: Timestamp,
        claim: &IdempotencyClaim,
    ) -> Result<TokenRecord, InsertTokenError> {
        let mut state = self.lock();
        if !state.holds(claim) {
            return Err(InsertTokenError::Unexpected(ClaimLost.into()));
        }
        let record = state.insert_token(token, now)?;
        state.complete(claim, record.id.to_string());
        Ok(record)
    }

    fn find_by_id(&self, user: UserId, id: i64) -> anyhow::Result<Option<TokenRecord>> {
        Ok(self
            .lock()
            .tokens
            .iter()
            .find(|r| r.id == id && r.user_id == user)
            .cloned())
    }

    fn find_by_public_id(&self, user: UserId, id: TokenId) -> anyhow::Result<Option<TokenRecord>> {
        Ok(self
            .lock()
            .tokens
            .iter()
            .find(|r| r.public_id == id && r.user_id == user)
            .cloned())
    }

    fn update(
        &self,
        user: UserId,
        id: TokenId,
        change: &TokenChange,
        at: Timestamp,
    ) -> Result<TokenRecord, UpdateTokenError> {
        self.lock().update_token(user, id, change, at)
    }

    fn rotate(&self, rotation: &Rotation) -> Result<Rotated, RotateError> {
        self.lock().rotate(rotation)
    }

    fn revoke_lineage(&self, hash: &TokenHash, at: Timestamp) -> anyhow::Result<Vec<TokenHash>> {
        Ok(self.lock().revoke_lineage(hash, at))
    }

    fn suspend(
        &self,
        user: UserId,
        reason: Option<&str>,
        now: Timestamp,
    ) -> anyhow::Result<Vec<TokenHash>> {
        let mut state = self.lock();
        if state.suspended.insert(user) {
            state.append(&EventDraft::suspended(user, reason), now);
        }
        Ok(state.mark_owner(user, true))
    }

    fn is_suspended(&self, user: UserId) -> anyhow::Result<bool> {
        Ok(self.lock().suspended.contains(&user))
    }

    fn resume(&self, user: UserId, at: Timestamp) -> anyhow::Result<Option<Vec<TokenHash>>> {
        let mut state = self.lock();
        if !state.suspended.remove(&user) {
            return Ok(None);
        }
        state.append(&EventDraft::resumed(user), at);
        Ok(Some(state.mark_owner(user, false)))
    }

    fn purge_superseded(&self, now: Timestamp) -> anyhow::Result<Vec<TokenHash>> {
        Ok(self.lock().delete_tokens(|t| {
            t.superseded_by.is_some() && t.valid_until().is_some_and(|until| until <= now)
        }))
    }

    fn delete_by_public_id(
        &self,
        user: UserId,
        id: TokenId,
        at: Timestamp,
    ) -> anyhow::Result<Option<TokenHash>> {
        let mut state = self.lock();
        Ok(state
            .delete_owned(|r| r.user_id == user && r.public_id == id, at)
            .first()
            .copied())
    }

    fn list_for_user(&self, user: UserId) -> anyhow::Result<Vec<TokenRecord>> {
        let mut mine: Vec<_> = self
            .lock()
            .tokens
            .iter()
            .filter(|r| r.user_id == user)
            .cloned()
            .collect();
        mine.sort_by_key(|r| (r.created_at, r.id));
        Ok(mine)
    }

    fn find_by_hash(&self, hash: &TokenHash) -> anyhow::Result<Option<TokenRecord>> {
        self.check_up()?;
        Ok(self.lock().tokens.iter().find(|r| &r.hash == hash).cloned())
    }

    fn delete(&self, user: UserId, hash: &TokenHash, at: Timestamp) -> anyhow::Result<bool> {
        let mut state = self.lock();
        Ok(!state
            .delete_owned(|r| r.user_id == user && &r.hash == hash, at)
            .is_empty())
    }

    fn delete_for_client(
        &self,
        hash: &TokenHash,
        client: &ClientId,
        at: Timestamp,
    ) -> anyhow::Result<ClientRevocation> {
        let mut state = self.lock();
        let revoked = state.revoke(
            |r| &r.hash == hash && r.from_api_client.as_ref() == Some(client),
            &Actor::client(client),
            RevokeReason::OauthRevoke,
            at,
        );
        if !revoked.is_empty() {
            return Ok(ClientRevocation::Revoked);
        }
        Ok(state
            .tokens
            .iter()
            .find(|t| &t.hash == hash && t.canary)
            .map_or(ClientRevocation::NotRevoked, |t| {
                ClientRevocation::Canary(t.canary_of())
            }))
    }

    fn find_many_by_hash(&self, hashes: &[TokenHash]) -> anyhow::Result<Vec<TokenRecord>> {
        self.check_up()?;
        Ok(self
            .lock()
            .tokens
            .iter()
            .filter(|t| hashes.contains(&t.hash))
            .cloned()
            .collect())
    }

    fn delete_all_for_user(
        &self,
        user: UserId,
        client: Option<&ClientId>,
        at: Timestamp,
    ) -> anyhow::Result<Vec<TokenHash>> {
        Ok(self.lock().revoke(
            |r| r.user_id == user && client.is_none_or(|c| r.from_api_client.as_ref() == Some(c)),
            &Actor::operator(),
            RevokeReason::Operator,
            at,
        ))
    }

    fn record_usage(&self, uses: &[TokenUse]) -> anyhow::Result<()> {
        let mut state = self.lock();
        for noted in uses {
            if let Some(token) = state.tokens.iter_mut().find(|t| t.hash == noted.hash) {
                noted.apply_to(token);
            }
        }
        Ok(())
    }

    fn warn_expiring(
        &self,
        now: Timestamp,
        horizon: Timestamp,
        limit: usize,
    ) -> anyhow::Result<usize> {
        let mut state = self.lock();
        let mut due: Vec<(Timestamp, i64, UserId, crate::ids::TokenId)> = state
            .tokens
            .iter()
            .filter(|t| t.superseded_by.is_none())
            .filter_map(|t| Some((t.expires_at?, t.id, t.user_id, t.public_id)))
            .filter(|(at, id, _, _)| {
                *at > now && *at <= horizon && !state.expiry_warned.contains(id)
            })
            .collect();
        due.sort();
        due.truncate(limit);
        for (expires_at, id, user, public_id) in &due {
            state.expiry_warned.insert(*id);
            state.append(&EventDraft::expiring(*user, *public_id, *expires_at), now);
        }
        Ok(due.len())
    }

    fn record_event(&self, event: &EventDraft, at: Timestamp) -> anyhow::Result<()> {
        self.lock().append(event, at);
        Ok(())
    }

    fn ping(&self) -> anyhow::Result<()> {
        Ok(())
    }
}

impl RevocationLog for InMemoryStore {
    fn after(&self, after: i64, limit: usize) -> anyhow::Result<RevocationPage> {
        let state = self.lock();
        Ok(RevocationPage {
            entries: state
                .revocations
                .iter()
                .filter(|r| r.cursor > after)
                .take(limit)
                .cloned()
                .collect(),
            purged_through: state.purged_through,
        })
    }

    fn last_cursor(&self) -> anyhow::Result<i64> {
        let state = self.lock();
        Ok(state
            .revocations
            .last()
            .map_or(state.purged_through, |r| r.cursor))
    }

    fn purge_before(&self, cutoff: Timestamp) -> anyhow::Result<usize> {
        let mut state = self.lock();
        let doomed: Vec<i64> = state
            .revocations
            .iter()
            .filter(|r| r.revoked_at < cutoff)
            .map(|r| r.cursor)
            .collect();
        if let Some(&last) = doomed.iter().max() {
            state.purged_through = state.purged_through.max(last);
        }
        state.revocations.retain(|r| r.revoked_at >= cutoff);
        Ok(doomed.len())
    }
}

#[derive(Debug, Default)]
pub struct InMemoryClientDirectory(HashMap<String, OAuthClient>);

impl InMemoryClientDirectory {
    pub fn with_client(id: &str, name: &str, permissions: &[&str]) -> Self {
        let mut directory = Self::default();
        directory.0.insert(
            id.to_owned(),
            OAuthClient::minimal(
                id,
                name,
                PermissionSet::from_trusted(permissions.iter().map(|p| (*p).to_owned())),
            ),
        );
        directory
    }
}

impl ClientDirectory for InMemoryClientDirectory {
    fn find(&self, id: &str) -> anyhow::Result<Option<OAuthClient>> {
        Ok(self.0.get(id).cloned())
    }
}

impl IdempotencyStore for InMemoryStore {
    fn claim(&self, claim: &IdempotencyClaim, now: Timestamp) -> anyhow::Result<ClaimOutcome> {
        let mut state = self.lock();
        let key = key_of(claim);
        if let Some(row) = state.keys.get(&key)
            && row.created_at <= now - KEY_LIFETIME
        {
            state.keys.remove(&key);
        }
        let fresh = KeyRow {
            fingerprint: claim.fingerprint,
            claim: claim.claim,
            created_at: now,
            claimed_at: now,
            outcome: None,
        };
        let Some(row) = state.keys.get_mut(&key) else {
            state.keys.insert(key, fresh);
            return Ok(ClaimOutcome::Claimed);
        };
        if row.fingerprint != claim.fingerprint {
            return Ok(ClaimOutcome::Mismatch);
        }
        if let Some(outcome) = &row.outcome {
            return Ok(ClaimOutcome::Done(outcome.clone()));
        }
        if row.claimed_at <= now - ABANDONED_AFTER {
            row.claim = claim.claim;
            row.claimed_at = now;
            return Ok(ClaimOutcome::Claimed);
        }
        Ok(ClaimOutcome::InProgress)
    }

    fn release(&self, claim: &IdempotencyClaim) -> anyhow::Result<()> {
        let mut state = self.lock();
        if state.holds(claim) {
            state.keys.remove(&key_of(claim));
        }
        Ok(())
    }
}
