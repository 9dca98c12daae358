//! The owner's view of a token (`APITokenDocument`).

use std::net::IpAddr;

use crate::address::AllowedIps;
use crate::ids::{ClientId, TokenId, UserId};
use crate::permission::PermissionSet;
use crate::ports::TokenRecord;
use crate::secret::SecretString;
use crate::time::Timestamp;

/// A token as shown to its owner (`APITokenDocument`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiToken {
    pub id: TokenId,
    pub token: SecretString,
    pub identifier: String,
    pub permissions: PermissionSet,
    pub user_id: UserId,
    pub from_api_client: Option<ClientId>,
    pub created_at: Timestamp,
    pub expires_at: Option<Timestamp>,
    pub last_used_at: Option<Timestamp>,
    pub disabled: bool,
    pub allowed_ips: Option<AllowedIps>,
    pub canary: bool,
    pub superseded_by: Option<TokenId>,
    pub last_used_by: Option<String>,
    pub last_used_ips: Vec<IpAddr>,
}

/// The owner's view of a stored token.
pub fn to_document(record: TokenRecord, token: SecretString) -> ApiToken {
    ApiToken {
        id: record.public_id,
        token,
        identifier: record.identifier,
        permissions: record.permissions,
        user_id: record.user_id,
        from_api_client: record.from_api_client,
        created_at: record.created_at,
        expires_at: record.expires_at,
        last_used_at: record.last_used_at,
        disabled: record.disabled,
        allowed_ips: record.allowed_ips,
        canary: record.canary,
        superseded_by: record.superseded_by,
        last_used_by: record.last_used_by,
        last_used_ips: record.last_used_ips,
    }
}
