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
    /// The tokens matching `doomed` go, each with the event `event` makes
    /// of its owner and id: what the adapters do in one transaction.
    fn delete_recorded(
        &mut self,
        doomed: impl Fn(&TokenRecord) -> bool,
        event: impl Fn(UserId, TokenId) -> EventDraft,
        at: Timestamp,
    ) -> Vec<TokenHash> {
        let gone: Vec<(UserId, TokenId)> = self
            .tokens
            .iter()
            .filter(|t| doomed(t))
            .map(|t| (t.user_id, t.public_id))
            .collect();
        for (user, id) in gone {
            self.append(&event(user, id), at);
        }
        self.delete_tokens(doomed)
    }

    /// An owner's deletion, with `token.deleted`.
    pub(super) fn delete_owned(
        &mut self,
        doomed: impl Fn(&TokenRecord) -> bool,
        at: Timestamp,
    ) -> Vec<TokenHash> {
        self.delete_recorded(doomed, EventDraft::deleted_by_owner, at)
    }

    /// A revocation, with `token.revoked`.
    pub(super) fn revoke(
        &mut self,
        doomed: impl Fn(&TokenRecord) -> bool,
        actor: &Actor,
        reason: RevokeReason,
        at: Timestamp,
    ) -> Vec<TokenHash> {
        let event = |user, id| EventDraft::revoked(user, id, actor.clone(), reason);
        self.delete_recorded(doomed, event, at)
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

    fn headless(&self) -> anyhow::Result<Vec<UserId>> {
        // The fake keeps each chain's head with its events.
        Ok(Vec::new())
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
