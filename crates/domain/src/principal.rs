//! Who a verified token speaks for: what the cache keeps and what every
//! verification answers.

use std::sync::Arc;

use crate::crypto::TokenHash;
use crate::ids::{ClientId, UserId};
use crate::permission::PermissionSet;
use crate::time::Timestamp;

/// Who a verified token speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user_id: UserId,
    /// Shared between the cached tokens that have the same set.
    pub permissions: Arc<PermissionSet>,
    pub from_api_client: Option<ClientId>,
    pub hash: TokenHash,
    pub created_at: Timestamp,
    pub expires_at: Option<Timestamp>,
}
