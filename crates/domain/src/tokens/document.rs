//! The owner's view of a token (contract §2 `APITokenDocument`).

use crate::ids::{ClientId, UserId};
use crate::permission::PermissionSet;
use crate::ports::TokenRecord;
use crate::secret::SecretString;
use crate::time::Timestamp;

/// A token as shown to its owner (contract §2 `APITokenDocument`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiToken {
    pub token: SecretString,
    pub identifier: String,
    pub permissions: PermissionSet,
    pub user_id: UserId,
    pub from_api_client: Option<ClientId>,
    pub created_at: Timestamp,
    pub expires_at: Option<Timestamp>,
    pub last_used_at: Option<Timestamp>,
}

/// The owner's view of a stored token.
pub fn to_document(record: TokenRecord, token: SecretString) -> ApiToken {
    ApiToken {
        token,
        identifier: record.identifier,
        permissions: record.permissions,
        user_id: record.user_id,
        from_api_client: record.from_api_client,
        created_at: record.created_at,
        expires_at: record.expires_at,
        last_used_at: record.last_used_at,
    }
}
