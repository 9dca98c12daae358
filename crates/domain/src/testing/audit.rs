//! The audit trail of the in-memory store: events chained as the database
//! chains them, appended under the same lock as the change.

use crate::audit::{Actor, AuditEvent, AuditLog, EventDraft, GENESIS_HASH, RevokeReason};
use crate::crypto::TokenHash;
use crate::ids::{TokenId, UserId};
use crate::ports::TokenRecord;
use crate::time::Timestamp;

use super::{InMemoryStore, State};

impl State {
    pub(super) fn append(&mut self, draft: &EventDraft, at: Timestamp) {
        let chain = self.audit.entry(draft.user).or_default();
        let previous = chain.last().map_or(GENESIS_HASH, |e| e.hash.as_str());
        let event = AuditEvent::chain(draft, chain.len() as u64 + 1, at, previous);
        chain.push(event);
    }
}

impl State {
    /// An owner's deletion: the tokens go, each with its `token.deleted`.
    pub(super) fn delete_owned(
        &mut self,
        doomed: impl Fn(&TokenRecord) -> bool,
        at: Timestamp,
    ) -> Vec<TokenHash> {
        let gone: Vec<(UserId, TokenId)> = self
            .tokens
            .iter()
            .filter(|t| doomed(t))
            .map(|t| (t.user_id, t.public_id))
            .collect();
        for (user, id) in gone {
            self.append(&EventDraft::deleted_by_owner(user, id), at);
        }
        self.delete_tokens(doomed)
    }
}

impl State {
    /// A revocation: the tokens go, each with its `token.revoked`.
    pub(super) fn revoke(
        &mut self,
        doomed: impl Fn(&TokenRecord) -> bool,
        actor: &Actor,
        reason: RevokeReason,
        at: Timestamp,
    ) -> Vec<TokenHash> {
        let gone: Vec<(UserId, TokenId)> = self
            .tokens
            .iter()
            .filter(|t| doomed(t))
            .map(|t| (t.user_id, t.public_id))
            .collect();
        for (user, id) in gone {
            self.append(&EventDraft::revoked(user, id, actor.clone(), reason), at);
        }
        self.delete_tokens(doomed)
    }
}

impl AuditLog for InMemoryStore {
    fn events(&self, user: UserId, after: u64, limit: usize) -> anyhow::Result<Vec<AuditEvent>> {
        let state = self.lock();
        Ok(state
            .audit
            .get(&user)
            .map(|chain| {
                chain
                    .iter()
                    .filter(|e| e.seq > after)
                    .take(limit)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default())
    }

    fn heads(&self) -> anyhow::Result<Vec<(UserId, u64, String)>> {
        let state = self.lock();
        let mut heads: Vec<_> = state
            .audit
            .iter()
            .filter_map(|(user, chain)| chain.last().map(|e| (*user, e.seq, e.hash.clone())))
            .collect();
        heads.sort_by_key(|(user, _, _)| *user);
        Ok(heads)
    }
}
