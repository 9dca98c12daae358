//! OAuth2 clients as the token service sees them, and the port through which
//! it finds them (built-in clients today, stored ones later).

use crate::ids::ClientId;
use crate::permission::PermissionSet;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthClient {
    pub id: ClientId,
    pub name: String,
    /// The permissions a token issued for this client carries.
    pub permissions: PermissionSet,
}

pub trait ClientDirectory: Send + Sync + 'static {
    /// Looks a client up by id.
    ///
    /// # Errors
    /// Only for a failure of the directory itself; an unknown id is `Ok(None)`.
    fn find(&self, id: &str) -> anyhow::Result<Option<OAuthClient>>;
}
