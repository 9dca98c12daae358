//! OAuth2 clients: built-in ones from configuration and stored ones that
//! users register, and the port through which the token service finds them.

use crate::ids::{ClientId, UserId};
use crate::permission::PermissionSet;
use crate::time::Timestamp;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthClient {
    pub id: ClientId,
    pub name: String,
    /// The user who registered it; `None` for a built-in client.
    pub author: Option<UserId>,
    /// The permissions a token issued for this client carries.
    pub permissions: PermissionSet,
    pub redirect_uri: Option<String>,
    pub webhook_uri: Option<String>,
    pub api_key_template: Option<String>,
    pub api_key_filename: Option<String>,
    pub created_at: Timestamp,
}

impl OAuthClient {
    /// A client with only the fields the token service needs.
    pub fn minimal(id: &str, name: &str, permissions: PermissionSet) -> Self {
        Self {
            id: ClientId::new(id),
            name: name.to_owned(),
            author: None,
            permissions,
            redirect_uri: None,
            webhook_uri: None,
            api_key_template: None,
            api_key_filename: None,
            created_at: Timestamp::EPOCH,
        }
    }
}

pub trait ClientDirectory: Send + Sync + 'static {
    /// Looks a client up by id.
    ///
    /// # Errors
    /// Only for a failure of the directory itself; an unknown id is `Ok(None)`.
    fn find(&self, id: &str) -> anyhow::Result<Option<OAuthClient>>;
}
