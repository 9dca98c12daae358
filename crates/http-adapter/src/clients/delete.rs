//! `DELETE /api/v1/clients/{clientID}` (owner only): the client's tokens go
//! with it, in the same transaction.

use actix_web::{HttpRequest, HttpResponse, web};

use crate::auth::SelfKey;
use crate::clients::client_id;
use crate::error::ApiError;
use crate::reply::{Empty, json_ok};
use crate::state::AppState;

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
        (status = 401, response = crate::responses::Unauthorized),
        (status = 403, response = crate::responses::NotOwner),
        (status = 404, response = crate::responses::NoSuchClient),
        (status = 500, response = crate::responses::InternalError),
        (status = 503, response = crate::responses::Unavailable),
    )
)]
pub async fn delete_client(
    SelfKey(user): SelfKey,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = client_id(&req);
    let shown = id.clone();
    state.delete_client(user, id).await??;
    tracing::info!(user = user.get(), client = %shown, "client deleted");
    Ok(json_ok(&Empty {}))
}
