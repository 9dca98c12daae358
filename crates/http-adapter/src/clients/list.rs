//! `GET /api/v1/clients`: the session user's own clients, with secrets.

use actix_web::{HttpResponse, web};

use crate::auth::SelfKey;
use crate::clients::ClientDocument;
use crate::error::ApiError;
use crate::reply::json_ok;
use crate::state::AppState;

/// The session user's OAuth2 clients
///
/// With their secrets: only their owner sees this list.
#[utoipa::path(
    get,
    path = "/api/v1/clients",
    tag = "clients",
    security(("session" = [])),
    responses(
        (status = 200, description = "The user's own clients", body = Vec<ClientDocument>),
        (status = 401, response = crate::responses::Unauthorized),
        (status = 403, response = crate::responses::Forbidden),
        (status = 500, response = crate::responses::InternalError),
        (status = 503, response = crate::responses::Unavailable),
    )
)]
pub async fn list_clients(
    SelfKey(user): SelfKey,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let views = state.list_clients(user).await??;
    let documents: Vec<_> = views.into_iter().map(ClientDocument::with_secret).collect();
    Ok(json_ok(&documents))
}
