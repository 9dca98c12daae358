//! The JSON shapes of the contract (§2, §4, §6) and their one-place
//! conversion to and from domain types.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tessera_domain::service::{CreateTokenRequest, TokenSource};
use tessera_domain::{ApiToken, PermissionSet, Timestamp};

use crate::error::ApiError;

/// `APITokenDocument`: the seed's five fields, then the additive ones.
#[derive(Debug, Serialize)]
pub struct TokenDocument {
    identifier: String,
    token: String,
    permissions: BTreeMap<String, bool>,
    #[serde(rename = "userID")]
    user_id: i64,
    #[serde(rename = "fromAPIClient")]
    from_api_client: Option<String>,
    #[serde(rename = "createdAt")]
    created_at: Timestamp,
    #[serde(rename = "expiresAt")]
    expires_at: Option<Timestamp>,
    #[serde(rename = "lastUsedAt")]
    last_used_at: Option<Timestamp>,
}

pub fn permission_object(set: &PermissionSet) -> BTreeMap<String, bool> {
    set.iter().map(|p| (p.to_owned(), true)).collect()
}

impl From<ApiToken> for TokenDocument {
    fn from(token: ApiToken) -> Self {
        Self {
            identifier: token.identifier,
            token: token.token.expose().to_owned(),
            permissions: permission_object(&token.permissions),
            user_id: token.user_id.get(),
            from_api_client: token.from_api_client.map(|c| c.to_string()),
            created_at: token.created_at,
            expires_at: token.expires_at,
            last_used_at: token.last_used_at,
        }
    }
}

/// Body of `POST …/api-tokens/create`. `null` counts as absent.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateTokenBody {
    permissions: Option<Vec<String>>,
    #[serde(rename = "clientID")]
    client_id: Option<String>,
    identifier: Option<String>,
    #[serde(rename = "expiresAt")]
    expires_at: Option<Timestamp>,
}

impl TryFrom<CreateTokenBody> for CreateTokenRequest {
    type Error = ApiError;

    fn try_from(body: CreateTokenBody) -> Result<Self, ApiError> {
        let source = match (body.permissions, body.client_id) {
            (Some(permissions), None) => TokenSource::Permissions {
                identifier: body.identifier,
                permissions,
            },
            // An identifier sent along with clientID is ignored (contract §4).
            (None, Some(client)) => TokenSource::Client(client),
            (Some(_), Some(_)) => {
                return Err(ApiError::BadRequest(
                    "give either permissions or clientID, not both".to_owned(),
                ));
            }
            (None, None) => {
                return Err(ApiError::BadRequest(
                    "give either permissions (with identifier) or clientID".to_owned(),
                ));
            }
        };
        Ok(Self {
            source,
            expires_at: body.expires_at,
        })
    }
}
