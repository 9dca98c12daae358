//! `PATCH /api/v1/clients/{clientID}` (owner only).

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use tessera_oauth_clients::ClientPatch;

use crate::auth::SelfKey;
use crate::body::read_json;
use crate::clients::{ClientDocument, client_id};
use crate::dto::present;
use crate::error::{ApiError, PROBLEM_JSON, Problem};
use crate::reply::json_ok;
use crate::state::AppState;

/// The members to change; an absent one stays as it is, `null` clears an
/// optional one.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"name": "Renamed", "webhookUri": null}))]
pub struct PatchClientBody {
    /// 3–80 characters; cannot be cleared.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = String, required = false)]
    name: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, required = false)]
    redirect_uri: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, required = false)]
    webhook_uri: Option<Option<String>>,
    /// Must contain `%%TOKEN%%` (or Tachi's `%%TACHI_KEY%%`).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, required = false)]
    api_key_template: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, required = false)]
    api_key_filename: Option<Option<String>>,
    /// Read only to refuse it with a clear `400`: permissions cannot change.
    #[serde(default, deserialize_with = "present")]
    #[schema(ignore)]
    permissions: Option<Option<serde_json::Value>>,
}

/// Change a client
///
/// Owner only. `permissions` cannot be changed: register a new client.
#[utoipa::path(
    patch,
    path = "/api/v1/clients/{clientID}",
    tag = "clients",
    params(crate::clients::ClientPath),
    request_body = PatchClientBody,
    security(("session" = [])),
    responses(
        (status = 200, description = "The changed client, in full", body = ClientDocument),
        (status = 400, description = "Malformed JSON, a wrong type or an unknown member; \
            `permissions` given; `name` cleared; an invalid name, URL or key template",
            body = Problem, content_type = PROBLEM_JSON),
        (status = 401, response = crate::responses::Unauthorized),
        (status = 403, response = crate::responses::NotOwner),
        (status = 404, response = crate::responses::NoSuchClient),
        (status = 413, response = crate::responses::PayloadTooLarge),
        (status = 415, response = crate::responses::UnsupportedMediaType),
        (status = 500, response = crate::responses::InternalError),
        (status = 503, response = crate::responses::Unavailable),
    )
)]
pub async fn update_client(
    SelfKey(user): SelfKey,
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
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
    let view = state.update_client(user, id, patch).await??;
    Ok(json_ok(&ClientDocument::with_secret(view)))
}
