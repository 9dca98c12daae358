//! Rotation: a successor with a new secret and the old
//! token's rights, an optional overlap during which both work, self-rotation
//! by the token itself, and reuse detection — a superseded token presented
//! for rotation means two parties hold it, so its whole lineage is revoked.

use std::net::IpAddr;
use std::time::Duration;

use crate::canary::Canary;
use crate::crypto::TokenHash;
use crate::ids::{TokenId, UserId};
use crate::ports::{RotateError, Rotation, RotationOf};
use crate::time::Timestamp;

use super::document::{ApiToken, to_document};
use super::service::TokenService;

/// The longest overlap a rotation may ask for: a week.
pub const MAX_OVERLAP_SECS: i64 = 604_800;

/// What a rotation asks for (its body).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RotateRequest {
    /// How long the old token keeps working, in seconds; `None`: 0.
    pub overlap_secs: Option<i64>,
    /// The successor's expiry; `None`: the old token's.
    pub expires_at: Option<Timestamp>,
}

#[derive(Debug, thiserror::Error)]
pub enum RotateTokenError {
    #[error("no such token")]
    NotFound,
    /// The presented token does not authenticate (or was reused: then its
    /// lineage is revoked before this is answered).
    #[error("the bearer token is invalid, expired or revoked")]
    Refused,
    /// A canary presented itself: answered exactly like [`Self::Refused`],
    /// and reported.
    #[error("canary token {} of user {} presented for rotation", .0.id, .0.user)]
    Canary(Canary),
    /// A superseded token was presented: it and its `revoked - 1`
    /// successors are deleted. Answered like [`Self::Refused`].
    #[error("token {id} was used after it was superseded; {revoked} token(s) revoked")]
    Reused { id: TokenId, revoked: usize },
    #[error("{0}")]
    Invalid(String),
    #[error("the token cannot be rotated: it is superseded, disabled or expired")]
    NotRotatable,
    #[error("the token's owner is suspended: no token can be rotated for them")]
    Suspended,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// A fresh token colliding is practically impossible; as for creation,
/// a few attempts make it never surface.
const ROTATE_ATTEMPTS: usize = 3;

impl TokenService {
    /// The fingerprint of a token presented for self-rotation, once it is
    /// known to authenticate from `origin`. Read from the store, not the
    /// cache: whether it is superseded must be current. A superseded token
    /// revokes itself and its successors here.
    pub fn rotation_credential(
        &self,
        token: &str,
        origin: Option<IpAddr>,
    ) -> Result<TokenHash, RotateTokenError> {
        if self.format.check(token).is_err() {
            return Err(RotateTokenError::Refused);
        }
        let hash = self.keyring.fingerprint(token);
        let record = self
            .repository
            .find_by_hash(&hash)?
            .ok_or(RotateTokenError::Refused)?;
        if record.canary {
            return Err(RotateTokenError::Canary(record.canary_of()));
        }
        if record.superseded_by.is_some() {
            let revoked = self.repository.revoke_lineage(&hash, self.clock.now())?;
            self.forget(&revoked);
            return Err(RotateTokenError::Reused {
                id: record.public_id,
                revoked: revoked.len(),
            });
        }
        // The rules of verification, on the stored record.
        let expired = crate::cache::expired(record.valid_until(), self.clock.now());
        if expired
            || super::verify::refusal_of(&record).is_some()
            || !crate::address::admitted(record.allowed_ips.as_ref(), origin)
        {
            return Err(RotateTokenError::Refused);
        }
        Ok(hash)
    }

    /// Rotates the user's token `id` (by the owner's session).
    pub fn rotate_owned(
        &self,
        user: UserId,
        id: &str,
        request: RotateRequest,
    ) -> Result<ApiToken, RotateTokenError> {
        let id = TokenId::parse(id).ok_or(RotateTokenError::NotFound)?;
        self.rotate(RotationOf::Owned(user, id), request)
    }

    /// Rotates the token whose fingerprint [`Self::rotation_credential`]
    /// vouched for.
    pub fn rotate_presented(
        &self,
        hash: TokenHash,
        request: RotateRequest,
    ) -> Result<ApiToken, RotateTokenError> {
        self.rotate(RotationOf::Presented(hash), request)
    }

    fn rotate(&self, of: RotationOf, request: RotateRequest) -> Result<ApiToken, RotateTokenError> {
        let now = self.clock.now();
        let overlap = request.overlap_secs.unwrap_or(0);
        if !(0..=MAX_OVERLAP_SECS).contains(&overlap) {
            return Err(RotateTokenError::Invalid(format!(
                "overlapSecs must be an integer from 0 to {MAX_OVERLAP_SECS}"
            )));
        }
        if request.expires_at.is_some() {
            self.checked_expiry(request.expires_at, now)
                .map_err(RotateTokenError::Invalid)?;
        }
        let overlap_until =
            (overlap > 0).then(|| now + Duration::from_secs(overlap.unsigned_abs()));
        for _ in 0..ROTATE_ATTEMPTS {
            let token = self.format.generate();
            let hash = self.keyring.fingerprint(token.expose());
            let rotation = Rotation {
                of,
                now,
                overlap_until,
                successor_id: TokenId::generate(now),
                successor_hash: hash,
                successor_sealed: self.keyring.seal(&token, &hash),
                expires_at: request.expires_at,
                default_expiry: self.latest_expiry(now),
            };
            match self.repository.rotate(&rotation) {
                Ok(rotated) => {
                    self.forget(&[rotated.old.hash]);
                    return Ok(to_document(rotated.successor, token));
                }
                Err(RotateError::DuplicateHash) => continue,
                Err(RotateError::NotFound) => return Err(RotateTokenError::NotFound),
                Err(RotateError::NotRotatable) => return Err(RotateTokenError::NotRotatable),
                Err(RotateError::Suspended) => return Err(RotateTokenError::Suspended),
                Err(RotateError::Unexpected(e)) => return Err(e.into()),
            }
        }
        Err(anyhow::anyhow!("could not generate a unique token").into())
    }

    /// Deletes rotated tokens whose overlap has ended, everywhere; returns
    /// how many (a background sweep).
    pub fn purge_superseded(&self) -> anyhow::Result<usize> {
        let purged = self.repository.purge_superseded(self.clock.now())?;
        self.forget(&purged);
        Ok(purged.len())
    }
}
