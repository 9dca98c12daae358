//! What an owner (or an operator, or an OAuth2 client for its own tokens)
//! does with stored tokens: list, change, delete, revoke.

use crate::address::AllowedIps;
use crate::ids::{ClientId, TokenId, UserId};
use crate::permission::Identifier;
use crate::ports::{ClientRevocation, TokenChange, UpdateTokenError};
use crate::time::Timestamp;

use super::document::{ApiToken, to_document};
use super::service::TokenService;

#[derive(Debug, thiserror::Error)]
pub enum DeleteTokenError {
    #[error("no such token")]
    NotFound,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// What `PATCH …/api-tokens/{id}` asks to change; `None`
/// leaves a member as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenPatch {
    pub identifier: Option<String>,
    pub disabled: Option<bool>,
    /// `Some(None)`: an explicit `null`, accepted only where the token has
    /// no expiry (a document sent back as it was read).
    pub expires_at: Option<Option<Timestamp>>,
    /// `Some(None)`: any address again.
    pub allowed_ips: Option<Option<Vec<String>>>,
}

#[derive(Debug, thiserror::Error)]
pub enum PatchTokenError {
    #[error("no such token")]
    NotFound,
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl From<UpdateTokenError> for PatchTokenError {
    fn from(error: UpdateTokenError) -> Self {
        match error {
            UpdateTokenError::NotFound => Self::NotFound,
            UpdateTokenError::ExpiryNotEarlier => Self::Invalid(
                "expiresAt may only move earlier: the token already expires before it".into(),
            ),
            UpdateTokenError::Unexpected(error) => Self::Unexpected(error),
        }
    }
}

impl TokenService {
    /// Changes what the owner may change of a token; a change that
    /// matters to verification (disabled, expiry, addresses) is refused
    /// by every instance within the revocation deadline.
    pub fn update(
        &self,
        user: UserId,
        id: &str,
        patch: TokenPatch,
    ) -> Result<ApiToken, PatchTokenError> {
        let id = TokenId::parse(id).ok_or(PatchTokenError::NotFound)?;
        let removes_expiry = patch.expires_at == Some(None);
        let change = self.checked_change(patch)?;
        if removes_expiry {
            // Only a document sent back as it was read: no expiry to remove.
            let stored = self
                .repository
                .find_by_public_id(user, id)?
                .ok_or(PatchTokenError::NotFound)?;
            if stored.expires_at.is_some() {
                return Err(PatchTokenError::Invalid(
                    "expiresAt cannot be removed or moved later; it may only move earlier".into(),
                ));
            }
        }
        let record = if change.is_empty() {
            self.repository
                .find_by_public_id(user, id)?
                .ok_or(PatchTokenError::NotFound)?
        } else {
            let record = self
                .repository
                .update(user, id, &change, self.clock.now())?;
            self.forget(&[record.hash]);
            record
        };
        let token = self
            .keyring
            .open(&record.sealed, &record.hash)
            .map_err(anyhow::Error::from)?;
        Ok(to_document(record, token))
    }

    /// The patch as a change checked against every rule that needs no
    /// stored state.
    fn checked_change(&self, patch: TokenPatch) -> Result<TokenChange, PatchTokenError> {
        let invalid = |message: String| PatchTokenError::Invalid(message);
        let identifier = patch
            .identifier
            .map(|text| Identifier::parse(&text).map(Identifier::into_string))
            .transpose()
            .map_err(|e| invalid(e.to_string()))?;
        let allowed_ips = match patch.allowed_ips {
            None => None,
            Some(None) => Some(None),
            Some(Some(entries)) => Some(Some(
                AllowedIps::parse(&entries).map_err(|e| invalid(e.to_string()))?,
            )),
        };
        let expires_at = patch
            .expires_at
            .flatten()
            .map(|at| self.checked_new_expiry(at))
            .transpose()?;
        Ok(TokenChange {
            identifier,
            disabled: patch.disabled,
            expires_at,
            allowed_ips,
        })
    }

    fn checked_new_expiry(&self, at: Timestamp) -> Result<Timestamp, PatchTokenError> {
        self.checked_expiry(Some(at), self.clock.now())
            .map(|checked| checked.unwrap_or(at))
            .map_err(PatchTokenError::Invalid)
    }

    pub fn list(&self, user: UserId) -> anyhow::Result<Vec<ApiToken>> {
        let now = self.clock.now();
        let mut records = self.repository.list_for_user(user)?;
        // A rotated token whose overlap has ended is gone, even before the
        // sweep deletes it.
        records.retain(|record| {
            record.superseded_by.is_none() || record.valid_until().is_none_or(|until| until > now)
        });
        // Uses not flushed yet still show.
        self.usage.apply_to(&mut records);
        records
            .into_iter()
            .map(|record| {
                let token = self.keyring.open(&record.sealed, &record.hash)?;
                Ok(to_document(record, token))
            })
            .collect()
    }

    /// Deletes the user's token named by the token itself or by its id.
    pub fn delete(&self, user: UserId, token_or_id: &str) -> Result<(), DeleteTokenError> {
        let now = self.clock.now();
        let hash = if let Some(id) = TokenId::parse(token_or_id) {
            self.repository
                .delete_by_public_id(user, id, now)?
                .ok_or(DeleteTokenError::NotFound)?
        } else {
            if self.format.check(token_or_id).is_err() {
                return Err(DeleteTokenError::NotFound);
            }
            let hash = self.keyring.fingerprint(token_or_id);
            if !self.repository.delete(user, &hash, now)? {
                return Err(DeleteTokenError::NotFound);
            }
            hash
        };
        self.forget(&[hash]);
        Ok(())
    }

    /// Suspends `user`: their tokens are kept but refused
    /// everywhere within the revocation deadline. Returns how many tokens.
    pub fn suspend_user(&self, user: UserId, reason: Option<&str>) -> anyhow::Result<usize> {
        let refused = self.repository.suspend(user, reason, self.clock.now())?;
        self.forget(&refused);
        Ok(refused.len())
    }

    pub fn is_suspended(&self, user: UserId) -> anyhow::Result<bool> {
        self.repository.is_suspended(user)
    }

    /// Lifts a suspension; `None` when `user` was not suspended, else how
    /// many tokens work again.
    pub fn resume_user(&self, user: UserId) -> anyhow::Result<Option<usize>> {
        let restored = self.repository.resume(user, self.clock.now())?;
        if let Some(restored) = &restored {
            self.forget(restored);
        }
        Ok(restored.map(|restored| restored.len()))
    }

    pub fn revoke_all(&self, user: UserId, client: Option<&ClientId>) -> anyhow::Result<usize> {
        let deleted = self
            .repository
            .delete_all_for_user(user, client, self.clock.now())?;
        self.forget(&deleted);
        Ok(deleted.len())
    }

    pub fn revoke_for_client(
        &self,
        token: &str,
        client: &ClientId,
    ) -> anyhow::Result<ClientRevocation> {
        if self.format.check(token).is_err() {
            return Ok(ClientRevocation::NotRevoked);
        }
        let hash = self.keyring.fingerprint(token);
        let outcome = self
            .repository
            .delete_for_client(&hash, client, self.clock.now())?;
        if outcome == ClientRevocation::Revoked {
            self.forget(&[hash]);
        }
        Ok(outcome)
    }
}
