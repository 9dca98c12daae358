//! `POST /api/v1/clients/create`.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use tessera_oauth_clients::NewClient;

use crate::auth::SelfKey;
use crate::body::read_json_keyed;
use crate::clients::ClientDocument;
use crate::error::{ApiError, PROBLEM_JSON, Problem};
use crate::reply::json_ok;
use crate::state::AppState;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({
    "name": "My Client",
    "permissions": ["customise_profile"],
    "redirectUri": "https://example.com/callback"
}))]
pub struct CreateClientBody {
    /// 3–80 characters.
    name: String,
    /// At least one, from the configured catalogue.
    permissions: Vec<String>,
    /// An absolute `http`/`https` URL; `create-code` needs one.
    redirect_uri: Option<String>,
    /// An absolute `http`/`https` URL.
    webhook_uri: Option<String>,
    /// Must contain `%%TOKEN%%` (or Tachi's `%%TACHI_KEY%%`).
    api_key_template: Option<String>,
    api_key_filename: Option<String>,
}

/// Register an OAuth2 client
///
/// Owned by the session's user, who may hold at most `oauth.client_cap`
/// clients.
#[utoipa::path(
    post,
    path = "/api/v1/clients/create",
    tag = "clients",
    request_body = CreateClientBody,
    params(crate::responses::IdempotencyHeader),
    security(("session" = [])),
    responses(
        (status = 200, description = "The new client, with its secret", body = ClientDocument),
        (status = 400, description = "Malformed JSON, a wrong type or an unknown member; an invalid \
            name, permission, URL or key template; the user already has `oauth.client_cap` clients",
            body = Problem, content_type = PROBLEM_JSON),
        (status = 401, response = crate::responses::Unauthorized),
        (status = 403, response = crate::responses::Forbidden),
        (status = 409, description = "A request with this `Idempotency-Key` is still being \
            processed, or created what has since been deleted", body = Problem,
            content_type = PROBLEM_JSON),
        (status = 413, response = crate::responses::PayloadTooLarge),
        (status = 422, response = crate::responses::IdempotencyKeyReused),
        (status = 415, response = crate::responses::UnsupportedMediaType),
        (status = 500, response = crate::responses::InternalError),
        (status = 503, response = crate::responses::Unavailable),
    )
)]
pub async fn create_client(
    SelfKey(user): SelfKey,
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (body, key): (CreateClientBody, _) = read_json_keyed(&req, payload).await?;
    let new = NewClient {
        name: body.name,
        permissions: body.permissions,
        redirect_uri: body.redirect_uri,
        webhook_uri: body.webhook_uri,
        api_key_template: body.api_key_template,
        api_key_filename: body.api_key_filename,
    };
    let view = state.create_client(user, new, key).await??;
    tracing::info!(user = user.get(), client = %view.client.id, "client created");
    Ok(json_ok(&ClientDocument::with_secret(view)))
}
