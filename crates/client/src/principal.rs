//! Who a verified token speaks for, as introspection describes it.

use std::time::SystemTime;

use crate::problem::AuthError;

/// The owner of a valid token and what it may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// Tessera's user id.
    pub user_id: u64,
    /// The token's permission names.
    pub permissions: Vec<String>,
    /// The OAuth2 client the token was issued to, if any.
    pub client_id: Option<String>,
    /// When the token stops being valid, if ever.
    pub expires_at: Option<SystemTime>,
    /// The token's keyed fingerprint: how the revocation feed and Tessera's
    /// logs name it (never the token itself).
    pub fingerprint: String,
}

impl Principal {
    /// Whether the token carries `permission`.
    pub fn has(&self, permission: &str) -> bool {
        self.permissions.iter().any(|p| p == permission)
    }

    /// `403` unless the token carries `permission`.
    pub fn require(&self, permission: &str) -> Result<(), AuthError> {
        if self.has(permission) {
            Ok(())
        } else {
            Err(AuthError::Forbidden(permission.to_owned()))
        }
    }
}
