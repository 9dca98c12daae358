//! In-memory fakes of the ports, for unit tests of the code above them. The
//! persistence crate runs its conformance suite against these too, so the
//! fakes cannot drift from the real adapters.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::client::{ClientDirectory, OAuthClient};
use crate::crypto::TokenHash;
use crate::ids::{ClientId, UserId};
use crate::permission::PermissionSet;
use crate::ports::{InsertTokenError, NewTokenRecord, TokenRecord, TokenRepository};
use crate::time::Timestamp;

/// A valid base64 root key (32 bytes) for tests only.
pub const TEST_SECRET_KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

#[derive(Debug, Default)]
pub struct InMemoryTokenRepository {
    rows: Mutex<(i64, Vec<TokenRecord>)>,
    lookups: AtomicUsize,
}

impl InMemoryTokenRepository {
    pub fn snapshot(&self) -> Vec<TokenRecord> {
        self.lock().1.clone()
    }

    /// How many times the store was asked anything: lets tests prove that
    /// malformed input never reaches it.
    pub fn lookups(&self) -> usize {
        self.lookups.load(Ordering::SeqCst)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (i64, Vec<TokenRecord>)> {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        self.rows
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl TokenRepository for InMemoryTokenRepository {
    fn insert(
        &self,
        token: NewTokenRecord,
        now: Timestamp,
    ) -> Result<TokenRecord, InsertTokenError> {
        let mut guard = self.lock();
        let (next_id, rows) = &mut *guard;
        if rows.iter().any(|r| r.hash == token.hash) {
            return Err(InsertTokenError::DuplicateHash);
        }
        if let Some(client) = &token.from_api_client {
            let same = |r: &TokenRecord| {
                r.user_id == token.user_id && r.from_api_client.as_ref() == Some(client)
            };
            rows.retain(|r| !(same(r) && r.is_expired(now)));
            if rows.iter().any(same) {
                return Err(InsertTokenError::DuplicateClientToken);
            }
        }
        *next_id += 1;
        let record = TokenRecord {
            id: *next_id,
            user_id: token.user_id,
            identifier: token.identifier,
            hash: token.hash,
            sealed: token.sealed,
            permissions: token.permissions,
            from_api_client: token.from_api_client,
            created_at: token.created_at,
            expires_at: token.expires_at,
            last_used_at: None,
        };
        rows.push(record.clone());
        Ok(record)
    }

    fn list_for_user(&self, user: UserId) -> anyhow::Result<Vec<TokenRecord>> {
        let mut mine: Vec<_> = self
            .lock()
            .1
            .iter()
            .filter(|r| r.user_id == user)
            .cloned()
            .collect();
        mine.sort_by_key(|r| (r.created_at, r.id));
        Ok(mine)
    }

    fn find_by_hash(&self, hash: &TokenHash) -> anyhow::Result<Option<TokenRecord>> {
        Ok(self.lock().1.iter().find(|r| &r.hash == hash).cloned())
    }

    fn delete(&self, user: UserId, hash: &TokenHash) -> anyhow::Result<bool> {
        let mut guard = self.lock();
        let before = guard.1.len();
        guard.1.retain(|r| !(r.user_id == user && &r.hash == hash));
        Ok(guard.1.len() != before)
    }

    fn ping(&self) -> anyhow::Result<()> {
        Ok(())
    }
}

#[derive(Debug, Default)]
pub struct InMemoryClientDirectory(HashMap<String, OAuthClient>);

impl InMemoryClientDirectory {
    pub fn with_client(id: &str, name: &str, permissions: &[&str]) -> Self {
        let mut directory = Self::default();
        directory.0.insert(
            id.to_owned(),
            OAuthClient {
                id: ClientId::new(id),
                name: name.to_owned(),
                permissions: PermissionSet::from_trusted(
                    permissions.iter().map(|p| (*p).to_owned()),
                ),
            },
        );
        directory
    }
}

impl ClientDirectory for InMemoryClientDirectory {
    fn find(&self, id: &str) -> anyhow::Result<Option<OAuthClient>> {
        Ok(self.0.get(id).cloned())
    }
}
