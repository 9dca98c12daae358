//! `PATCH /api/v1/clients/{clientID}` (owner only).

use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Deserializer};
use tessera_oauth_clients::ClientPatch;

use crate::auth::{UserRef, require_self_key};
use crate::body::{blocking, read_json};
use crate::clients::{ClientDocument, client_id};
use crate::error::ApiError;
use crate::state::AppState;
use crate::tokens::json_ok;

/// Tells an absent member (`None`) from an explicit `null` (`Some(None)`).
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PatchClientBody {
    #[serde(default, deserialize_with = "present")]
    name: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    redirect_uri: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    webhook_uri: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    api_key_template: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    api_key_filename: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    permissions: Option<Option<serde_json::Value>>,
}

pub async fn update_client(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let user = require_self_key(&req, &state, UserRef::Me).await?;
    let body: PatchClientBody = read_json(&req, payload).await?;
    if body.permissions.is_some() {
        return Err(ApiError::BadRequest(
            "permissions cannot be changed; create a new client".into(),
        ));
    }
    let name = match body.name {
        Some(None) => return Err(ApiError::BadRequest("name cannot be cleared".into())),
        Some(Some(name)) => Some(name),
        None => None,
    };
    let patch = ClientPatch {
        name,
        redirect_uri: body.redirect_uri,
        webhook_uri: body.webhook_uri,
        api_key_template: body.api_key_template,
        api_key_filename: body.api_key_filename,
    };
    let id = client_id(&req);
    let oauth = state.oauth.clone();
    let view = blocking(move || oauth.clients().update(user, &id, patch)).await??;
    Ok(json_ok(&ClientDocument::with_secret(view)))
}
