//! The OAuth2 client API (contract §10), one file per action.

pub mod create;
pub mod delete;
pub mod get;
pub mod list;
pub mod reset_secret;
pub mod update;

use serde::Serialize;
use tessera_domain::{OAuthClient, Timestamp};
use tessera_oauth_clients::{ClientError, ClientView};

use crate::error::ApiError;

/// `ClientDocument`; `clientSecret` only for the owner's views.
#[derive(Debug, Serialize)]
pub struct ClientDocument {
    #[serde(rename = "clientID")]
    client_id: String,
    #[serde(rename = "clientSecret", skip_serializing_if = "Option::is_none")]
    client_secret: Option<String>,
    name: String,
    author: Option<i64>,
    #[serde(rename = "requestedPermissions")]
    requested_permissions: Vec<String>,
    #[serde(rename = "redirectUri")]
    redirect_uri: Option<String>,
    #[serde(rename = "webhookUri")]
    webhook_uri: Option<String>,
    #[serde(rename = "apiKeyTemplate")]
    api_key_template: Option<String>,
    #[serde(rename = "apiKeyFilename")]
    api_key_filename: Option<String>,
    #[serde(rename = "createdAt")]
    created_at: Timestamp,
}

impl ClientDocument {
    pub fn public(client: OAuthClient) -> Self {
        Self {
            client_id: client.id.to_string(),
            client_secret: None,
            name: client.name,
            author: client.author.map(|a| a.get()),
            requested_permissions: client.permissions.iter().map(str::to_owned).collect(),
            redirect_uri: client.redirect_uri,
            webhook_uri: client.webhook_uri,
            api_key_template: client.api_key_template,
            api_key_filename: client.api_key_filename,
            created_at: client.created_at,
        }
    }

    pub fn with_secret(view: ClientView) -> Self {
        Self {
            client_secret: view.secret.map(|s| s.expose().to_owned()),
            ..Self::public(view.client)
        }
    }
}

impl From<ClientError> for ApiError {
    fn from(error: ClientError) -> Self {
        match error {
            ClientError::Invalid(detail) => Self::BadRequest(detail),
            e @ ClientError::CapReached(_) => Self::BadRequest(e.to_string()),
            e @ ClientError::NotFound => Self::NotFound(e.to_string()),
            ClientError::Forbidden(detail) => Self::Forbidden(detail),
            ClientError::Unexpected(e) => Self::Unexpected(e),
        }
    }
}

/// The `{clientID}` of the path.
pub fn client_id(req: &actix_web::HttpRequest) -> String {
    req.match_info()
        .get("clientID")
        .unwrap_or_default()
        .to_owned()
}
