//! `POST /api/v1/clients/{clientID}/reset-secret` (owner only): the old
//! secret stops working at once.

use actix_web::{HttpRequest, HttpResponse, web};

use crate::auth::SelfKey;
use crate::clients::{ClientDocument, client_id};
use crate::error::ApiError;
use crate::reply::json_ok;
use crate::state::AppState;

/// Give a client a new secret
///
/// Owner only. The old secret stops working at once.
#[utoipa::path(
    post,
    path = "/api/v1/clients/{clientID}/reset-secret",
    tag = "clients",
    params(crate::clients::ClientPath),
    security(("session" = [])),
    responses(
        (status = 200, description = "The client with its new secret", body = ClientDocument),
        (status = 401, response = crate::responses::Unauthorized),
        (status = 403, response = crate::responses::NotOwner),
        (status = 404, response = crate::responses::NoSuchClient),
        (status = 500, response = crate::responses::InternalError),
        (status = 503, response = crate::responses::Unavailable),
    )
)]
pub async fn reset_client_secret(
    SelfKey(user): SelfKey,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = client_id(&req);
    let view = state.reset_client_secret(user, id).await??;
    tracing::info!(user = user.get(), client = %view.client.id, "client secret reset");
    Ok(json_ok(&ClientDocument::with_secret(view)))
}
