//! The in-memory store as the OAuth2 ports: clients and authorization codes.

use super::InMemoryStore;
use crate::audit::{Actor, EventDraft, EventType, RevokeReason};
use crate::crypto::TokenHash;
use crate::idempotency::{ClaimLost, IdempotencyClaim};
use crate::ids::{ClientId, UserId};
use crate::oauth::{
    AuthorizationCode, ClientRepository, ClientUpdate, CodeRepository, InsertClientError,
    RedeemError, Redeemed, StoredClient,
};
use crate::ports::{InsertTokenError, NewTokenRecord};
use crate::time::Timestamp;

impl ClientRepository for InMemoryStore {
    fn insert(&self, client: StoredClient, cap: u32) -> Result<StoredClient, InsertClientError> {
        self.lock().insert_client(client, cap)
    }

    fn insert_claimed(
        &self,
        client: StoredClient,
        cap: u32,
        claim: &IdempotencyClaim,
    ) -> Result<StoredClient, InsertClientError> {
        let mut state = self.lock();
        if !state.holds(claim) {
            return Err(InsertClientError::Unexpected(ClaimLost.into()));
        }
        let stored = state.insert_client(client, cap)?;
        state.complete(claim, stored.client.id.to_string());
        Ok(stored)
    }

    fn find(&self, id: &str) -> anyhow::Result<Option<StoredClient>> {
        Ok(self
            .lock()
            .clients
            .iter()
            .find(|c| c.client.id.as_str() == id)
            .cloned())
    }

    fn list_all(&self) -> anyhow::Result<Vec<StoredClient>> {
        let mut clients = self.lock().clients.clone();
        clients.sort_by(|a, b| {
            (a.client.created_at, a.client.id.as_str())
                .cmp(&(b.client.created_at, b.client.id.as_str()))
        });
        Ok(clients)
    }

    fn list_by_author(&self, author: UserId) -> anyhow::Result<Vec<StoredClient>> {
        Ok(self
            .lock()
            .clients
            .iter()
            .filter(|c| c.client.author == Some(author))
            .cloned()
            .collect())
    }

    fn update(
        &self,
        id: &str,
        update: &ClientUpdate,
        at: Timestamp,
    ) -> anyhow::Result<Option<StoredClient>> {
        let mut state = self.lock();
        let Some(stored) = state.client_mut(id) else {
            return Ok(None);
        };
        let event = stored
            .client
            .author
            .filter(|_| update != &ClientUpdate::default())
            .map(|author| update.updated_event(author, &stored.client.id));
        let client = &mut stored.client;
        if let Some(name) = &update.name {
            client.name = name.to_string();
        }
        // `Some(change)`: the field becomes `change` (`None` clears it).
        let text = |change: Option<&str>| change.map(str::to_owned);
        for (field, change) in [
            (
                &mut client.redirect_uri,
                update.redirect_uri.as_ref().map(|c| text(c.as_deref())),
            ),
            (
                &mut client.webhook_uri,
                update.webhook_uri.as_ref().map(|c| text(c.as_deref())),
            ),
            (
                &mut client.api_key_template,
                update.api_key_template.as_ref().map(|c| text(c.as_deref())),
            ),
            (
                &mut client.api_key_filename,
                update.api_key_filename.as_ref().map(|c| text(c.as_deref())),
            ),
        ] {
            if let Some(value) = change {
                *field = value;
            }
        }
        let stored = stored.clone();
        if let Some(event) = event {
            state.append(&event, at);
        }
        Ok(Some(stored))
    }

    fn replace_secret(
        &self,
        id: &str,
        secret_hash: TokenHash,
        secret_sealed: Vec<u8>,
        at: Timestamp,
    ) -> anyhow::Result<Option<StoredClient>> {
        let mut state = self.lock();
        let Some(stored) = state.client_mut(id) else {
            return Ok(None);
        };
        stored.secret_hash = secret_hash;
        stored.secret_sealed = secret_sealed;
        let stored = stored.clone();
        if let Some(author) = stored.client.author {
            let event =
                EventDraft::for_client(author, EventType::ClientSecretReset, &stored.client.id);
            state.append(&event, at);
        }
        Ok(Some(stored))
    }

    fn delete(&self, id: &str, at: Timestamp) -> anyhow::Result<Option<Vec<TokenHash>>> {
        let mut state = self.lock();
        let Some(gone) = state
            .clients
            .iter()
            .find(|c| c.client.id.as_str() == id)
            .cloned()
        else {
            return Ok(None);
        };
        state.clients.retain(|c| c.client.id.as_str() != id);
        let by = gone
            .client
            .author
            .map_or_else(Actor::system, Actor::session);
        let deleted = state.revoke(
            |t| t.from_api_client.as_ref().map(ClientId::as_str) == Some(id),
            &by,
            RevokeReason::ClientDeleted,
            at,
        );
        if let Some(author) = gone.client.author {
            state.append(
                &EventDraft::for_client(author, EventType::ClientDeleted, &gone.client.id),
                at,
            );
        }
        state.codes.retain(|c| c.client_id.as_str() != id);
        Ok(Some(deleted))
    }
}

impl CodeRepository for InMemoryStore {
    fn insert(&self, code: AuthorizationCode) -> anyhow::Result<()> {
        let mut state = self.lock();
        anyhow::ensure!(
            !state.codes.iter().any(|c| c.hash == code.hash),
            "duplicate authorization code"
        );
        state.codes.push(code);
        Ok(())
    }

    fn purge_expired(&self, now: Timestamp) -> anyhow::Result<usize> {
        let mut state = self.lock();
        let before = state.codes.len();
        state.codes.retain(|c| c.expires_at >= now);
        Ok(before - state.codes.len())
    }

    fn find(&self, hash: &TokenHash) -> anyhow::Result<Option<AuthorizationCode>> {
        Ok(self.lock().codes.iter().find(|c| &c.hash == hash).cloned())
    }

    fn redeem(
        &self,
        code: &TokenHash,
        token: NewTokenRecord,
        now: Timestamp,
    ) -> Result<Redeemed, RedeemError> {
        let mut state = self.lock();
        let Some(index) = state
            .codes
            .iter()
            .position(|c| &c.hash == code && c.used_at.is_none())
        else {
            return Err(RedeemError::AlreadyUsed);
        };
        if state.tokens.iter().any(|r| r.hash == token.hash) {
            return Err(RedeemError::DuplicateHash);
        }
        if state.suspended.contains(&token.user_id) {
            return Err(RedeemError::Suspended);
        }
        state.codes[index].used_at = Some(now);
        state.codes[index].token_hash = Some(token.hash);
        let (user, client) = (token.user_id, token.from_api_client.clone());
        let replaced = match &client {
            Some(id) => state.revoke(
                |r| r.user_id == user && r.from_api_client == client,
                &crate::audit::Actor::client(id),
                crate::audit::RevokeReason::GrantReplaced,
                now,
            ),
            None => state.delete_tokens(|r| r.user_id == user && r.from_api_client.is_none()),
        };
        let token = state.push_token(token).map_err(|e| match e {
            InsertTokenError::DuplicateHash => RedeemError::DuplicateHash,
            other => RedeemError::Unexpected(anyhow::anyhow!("{other}")),
        })?;
        Ok(Redeemed { token, replaced })
    }

    fn revoke_issued(&self, code: &TokenHash, at: Timestamp) -> anyhow::Result<Option<TokenHash>> {
        let mut state = self.lock();
        let issued = state
            .codes
            .iter()
            .find(|c| &c.hash == code)
            .and_then(|c| c.token_hash);
        let Some(hash) = issued else {
            return Ok(None);
        };
        let deleted = state.revoke(
            |t| t.hash == hash,
            &Actor::system(),
            RevokeReason::Reuse,
            at,
        );
        Ok((!deleted.is_empty()).then_some(hash))
    }
}
