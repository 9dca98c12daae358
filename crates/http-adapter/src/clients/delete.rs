//! `DELETE /api/v1/clients/{clientID}` (owner only): the client's tokens go
//! with it, in the same transaction.

use actix_web::{HttpRequest, HttpResponse, web};

use crate::auth::{UserRef, require_self_key};
use crate::clients::client_id;
use crate::error::ApiError;
use crate::state::AppState;
use crate::tokens::{Empty, json_ok};

/// Delete a client
///
/// Owner only. Every token issued from it is deleted with it, in the same
/// transaction.
#[utoipa::path(
    delete,
    path = "/api/v1/clients/{clientID}",
    tag = "clients",
    params(crate::clients::ClientPath),
    security(("session" = [])),
    responses(
        (status = 200, description = "Deleted, with its tokens", body = Empty),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::NotOwner),
        (status = 404, response = crate::openapi::NoSuchClient),
        (status = 500, response = crate::openapi::InternalError),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
pub async fn delete_client(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let user = require_self_key(&req, &state, UserRef::Me).await?;
    let id = client_id(&req);
    let oauth = state.oauth.clone();
    let shown = id.clone();
    state
        .blocking(move || oauth.clients().delete(user, &id))
        .await??;
    tracing::info!(user = user.get(), client = %shown, "client deleted");
    Ok(json_ok(&Empty {}))
}
