//! The in-memory store's token lifecycle: changes, rotation, reuse and
//! suspension, as the databases' statements and triggers behave.

use crate::crypto::TokenHash;
use crate::ids::{TokenId, UserId};
use crate::ports::{
    RotateError, Rotated, Rotation, RotationOf, TokenChange, TokenRecord, UpdateTokenError,
};
use crate::time::Timestamp;

use super::State;

impl State {
    pub(super) fn rotate(&mut self, rotation: &Rotation) -> Result<Rotated, RotateError> {
        let at = match rotation.of {
            RotationOf::Owned(user, id) => self
                .tokens
                .iter()
                .position(|t| t.user_id == user && t.public_id == id),
            RotationOf::Presented(hash) => self.tokens.iter().position(|t| t.hash == hash),
        }
        .ok_or(RotateError::NotFound)?;
        if self
            .tokens
            .iter()
            .any(|t| t.hash == rotation.successor_hash)
        {
            return Err(RotateError::DuplicateHash);
        }
        let old = &self.tokens[at];
        if self.suspended.contains(&old.user_id) {
            return Err(RotateError::Suspended);
        }
        if old.superseded_by.is_some() || old.disabled || old.is_expired(rotation.now) {
            return Err(RotateError::NotRotatable);
        }
        let mut successor = old.clone();
        self.next_id += 1;
        successor.id = self.next_id;
        successor.public_id = rotation.successor_id;
        successor.hash = rotation.successor_hash;
        successor.sealed.clone_from(&rotation.successor_sealed);
        successor.created_at = rotation.now;
        successor.expires_at = rotation
            .expires_at
            .or(old.expires_at)
            .or(rotation.default_expiry);
        successor.last_used_at = None;
        successor.last_used_by = None;
        successor.last_used_ips = Vec::new();
        let old_hash = old.hash;
        {
            let old = &mut self.tokens[at];
            old.superseded_by = Some(rotation.successor_id);
            old.superseded_until = Some(rotation.overlap_until.unwrap_or(rotation.now));
        }
        let old = self.tokens[at].clone();
        self.append(
            &rotation.rotated_event(old.user_id, old.public_id),
            rotation.now,
        );
        self.announce(old_hash);
        self.tokens.push(successor.clone());
        if rotation.overlap_until.is_none() {
            self.delete_tokens(|t| t.hash == old_hash);
        }
        Ok(Rotated { old, successor })
    }

    /// Sets the owner's mark on each of `user`'s tokens, announcing those
    /// it changes (as the refusal trigger does); returns them all.
    pub(super) fn mark_owner(&mut self, user: UserId, suspended: bool) -> Vec<TokenHash> {
        let mut all = Vec::new();
        let mut changed = Vec::new();
        for token in self.tokens.iter_mut().filter(|t| t.user_id == user) {
            all.push(token.hash);
            if token.owner_suspended != suspended {
                token.owner_suspended = suspended;
                changed.push(token.hash);
            }
        }
        for hash in changed {
            self.announce(hash);
        }
        all
    }

    pub(super) fn revoke_lineage(&mut self, hash: &TokenHash, at: Timestamp) -> Vec<TokenHash> {
        let mut doomed = Vec::new();
        let mut next = self.tokens.iter().find(|t| &t.hash == hash).cloned();
        while let Some(token) = next {
            if doomed.contains(&token.hash) {
                break;
            }
            doomed.push(token.hash);
            next = token
                .superseded_by
                .and_then(|id| self.tokens.iter().find(|t| t.public_id == id).cloned());
        }
        self.revoke(
            |t| doomed.contains(&t.hash),
            &crate::audit::Actor::system(),
            crate::audit::RevokeReason::Reuse,
            at,
        )
    }

    pub(super) fn update_token(
        &mut self,
        user: UserId,
        id: TokenId,
        change: &TokenChange,
        at: Timestamp,
    ) -> Result<TokenRecord, UpdateTokenError> {
        let token = self
            .tokens
            .iter_mut()
            .find(|t| t.user_id == user && t.public_id == id)
            .ok_or(UpdateTokenError::NotFound)?;
        if let (Some(asked), Some(stored)) = (change.expires_at, token.expires_at)
            && stored < asked
        {
            return Err(UpdateTokenError::ExpiryNotEarlier);
        }
        let before = token.clone();
        if let Some(identifier) = &change.identifier {
            token.identifier.clone_from(identifier);
        }
        if let Some(disabled) = change.disabled {
            token.disabled = disabled;
        }
        if let Some(at) = change.expires_at {
            token.expires_at = Some(at);
        }
        if let Some(allowed) = &change.allowed_ips {
            token.allowed_ips.clone_from(allowed);
        }
        let after = token.clone();
        self.append(&change.updated_event(user, id), at);
        if before.disabled != after.disabled
            || before.expires_at != after.expires_at
            || before.allowed_ips != after.allowed_ips
        {
            self.announce(after.hash);
        }
        Ok(after)
    }
}
