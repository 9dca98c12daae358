//! The OAuth2 client API, one file per action.

pub mod create;
pub mod delete;
pub mod get;
pub mod list;
pub mod reset_secret;
pub mod update;

use serde::Serialize;
use tessera_domain::OAuthClient;
use tessera_oauth_clients::{ClientError, ClientView};

use crate::error::ApiError;

/// `ClientDocument`; `clientSecret` only for the owner's views.
/// The `{clientID}` of the client endpoints' paths, as documented (the
/// handlers read it through `client_id`).
#[derive(Debug, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ClientPath {
    /// The client's id
    #[param(rename = "clientID", example = "CXFervidex")]
    #[allow(dead_code)]
    client_id: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ClientDocument {
    #[serde(rename = "clientID")]
    #[schema(example = "CI0123456789abcdef")]
    client_id: String,
    /// Only in the owner's views (list, create, update, reset-secret), and
    /// only for a client that has a secret.
    #[serde(rename = "clientSecret", skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    client_secret: Option<String>,
    #[schema(example = "My Client")]
    name: String,
    /// The user who registered it; `null` for a built-in client.
    #[schema(required = true, example = 1)]
    author: Option<i64>,
    /// The permissions a token from this client gets.
    #[serde(rename = "requestedPermissions")]
    #[schema(example = json!(["customise_profile"]))]
    requested_permissions: Vec<String>,
    #[serde(rename = "redirectUri")]
    #[schema(required = true, example = "https://example.com/callback")]
    redirect_uri: Option<String>,
    #[serde(rename = "webhookUri")]
    #[schema(required = true)]
    webhook_uri: Option<String>,
    /// Contains `%%TOKEN%%` (or `%%TACHI_KEY%%`), where a client shows its token.
    #[serde(rename = "apiKeyTemplate")]
    #[schema(required = true)]
    api_key_template: Option<String>,
    #[serde(rename = "apiKeyFilename")]
    #[schema(required = true)]
    api_key_filename: Option<String>,
    /// Unix milliseconds.
    #[serde(rename = "createdAt")]
    #[schema(value_type = i64, example = 1_764_337_200_000_i64)]
    created_at: i64,
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
            created_at: client.created_at.as_millis(),
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
            ClientError::Idempotency(e) => e.into(),
            ClientError::Unexpected(e) => e.into(),
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
