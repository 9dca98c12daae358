//! What an owner (or an operator, or an OAuth2 client for its own tokens)
//! does with stored tokens: list, delete, revoke.

use crate::ids::{ClientId, UserId};

use super::document::{ApiToken, to_document};
use super::service::TokenService;

#[derive(Debug, thiserror::Error)]
pub enum DeleteTokenError {
    #[error("no such token")]
    NotFound,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl TokenService {
    pub fn list(&self, user: UserId) -> anyhow::Result<Vec<ApiToken>> {
        let mut records = self.repository.list_for_user(user)?;
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

    pub fn revoke_all(&self, user: UserId, client: Option<&ClientId>) -> anyhow::Result<usize> {
        let deleted = self.repository.delete_all_for_user(user, client)?;
        self.forget(&deleted);
        Ok(deleted.len())
    }

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
}
