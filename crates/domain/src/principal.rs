//! Who a verified token speaks for: what the cache keeps and what every
//! verification answers.

use std::net::IpAddr;
use std::sync::Arc;

use crate::address::AllowedIps;
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
    /// `None`: any address.
    pub allowed_ips: Option<Arc<AllowedIps>>,
}

impl Principal {
    /// Whether the token may be used from `origin`. A restricted token
    /// used where the caller's address is unknown is refused: fail closed.
    pub fn admits(&self, origin: Option<IpAddr>) -> bool {
        crate::address::admitted(self.allowed_ips.as_deref(), origin)
    }
}
