//! Idempotent creation (draft-ietf-httpapi-idempotency-key-
//! header): a client that retries a creation with the same `Idempotency-Key`
//! gets what its first request created instead of a second record. A key is
//! claimed before the work, and the claim is completed in the same
//! transaction that stores the new record, so a crash leaves either both or
//! neither; a claim left in progress by a crash is taken over after a while.

use std::time::Duration;

use crate::ids::UserId;
use crate::time::Timestamp;

/// How long a key is remembered.
pub const KEY_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// A claim still in progress after this long was abandoned (its process
/// died before it stored anything): the next request with the key takes it
/// over. Far longer than any request's deadline.
pub const ABANDONED_AFTER: Duration = Duration::from_secs(60);

/// An `Idempotency-Key` value: 1–255 visible ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub const MAX_LEN: usize = 255;

    /// # Errors
    /// A human-readable reason when `text` is empty, too long, or holds
    /// anything but visible ASCII (`!` to `~`).
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.is_empty() || text.len() > Self::MAX_LEN {
            return Err(format!(
                "Idempotency-Key must be 1-{} characters",
                Self::MAX_LEN
            ));
        }
        if !text.bytes().all(|b| b.is_ascii_graphic()) {
            return Err("Idempotency-Key must be visible ASCII characters".to_owned());
        }
        Ok(Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What a key is used for: the same key may serve a token and a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdempotencyScope {
    TokenCreation,
    ClientCreation,
}

impl IdempotencyScope {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TokenCreation => "token",
            Self::ClientCreation => "client",
        }
    }
}

/// One request's hold on a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyClaim {
    pub user: UserId,
    pub scope: IdempotencyScope,
    pub key: IdempotencyKey,
    /// SHA-256 of the request's body, canonical (members sorted).
    pub fingerprint: [u8; 32],
    /// Random: tells this claim from one that took it over.
    pub claim: i64,
}

/// What claiming a key found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimOutcome {
    /// The key is this request's: do the work, complete the claim with it.
    Claimed,
    /// An earlier request with the same body finished: what it created
    /// (a token's store id, a client's id).
    Done(String),
    /// An earlier request with this key is still being processed.
    InProgress,
    /// The key was used with another body.
    Mismatch,
}

pub trait IdempotencyStore: Send + Sync + 'static {
    /// Claims `claim.key` for `claim.user` and scope, unless a request with
    /// it is remembered: forgets keys older than [`KEY_LIFETIME`], takes
    /// over claims abandoned for [`ABANDONED_AFTER`]. Concurrent claims
    /// of one key are settled by the store: exactly one is `Claimed`.
    fn claim(&self, claim: &IdempotencyClaim, now: Timestamp) -> anyhow::Result<ClaimOutcome>;

    /// Gives the key back after the work failed without storing anything,
    /// so a retry runs it again.
    fn release(&self, claim: &IdempotencyClaim) -> anyhow::Result<()>;
}

/// The fingerprint of a request body (SHA-256 of its canonical bytes):
/// what tells "the same request again" from "another request, same key".
pub fn body_fingerprint(canonical: &[u8]) -> [u8; 32] {
    use sha2::Digest as _;
    sha2::Sha256::digest(canonical).into()
}

/// Raised inside a store's transaction when the claim was taken over:
/// the record is not stored.
#[derive(Debug, thiserror::Error)]
#[error("the Idempotency-Key was taken over by another request")]
pub struct ClaimLost;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_one_to_255_visible_ascii_characters() {
        assert!(IdempotencyKey::parse("a").is_ok());
        assert!(IdempotencyKey::parse(&"k".repeat(255)).is_ok());
        assert!(IdempotencyKey::parse("8e03978e-40d5-43e8-bc93-6894a57f9324").is_ok());
        for bad in ["", " ", "a b", "tab\there", "é", &"k".repeat(256)] {
            assert!(IdempotencyKey::parse(bad).is_err(), "{bad:?}");
        }
    }
}
