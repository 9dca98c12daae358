//! `POST /api/v1/clients/create`.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use tessera_oauth_clients::NewClient;

use crate::auth::{UserRef, require_self_key};
use crate::body::{blocking, read_json};
use crate::clients::ClientDocument;
use crate::error::ApiError;
use crate::state::AppState;
use crate::tokens::json_ok;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateClientBody {
    name: String,
    permissions: Vec<String>,
    redirect_uri: Option<String>,
    webhook_uri: Option<String>,
    api_key_template: Option<String>,
    api_key_filename: Option<String>,
}

pub async fn create_client(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let user = require_self_key(&req, &state, UserRef::Me).await?;
    let body: CreateClientBody = read_json(&req, payload).await?;
    let new = NewClient {
        name: body.name,
        permissions: body.permissions,
        redirect_uri: body.redirect_uri,
        webhook_uri: body.webhook_uri,
        api_key_template: body.api_key_template,
        api_key_filename: body.api_key_filename,
    };
    let oauth = state.oauth.clone();
    let view = blocking(move || oauth.clients().create(user, new)).await??;
    tracing::info!(user = user.get(), client = %view.client.id, "client created");
    Ok(json_ok(&ClientDocument::with_secret(view)))
}
