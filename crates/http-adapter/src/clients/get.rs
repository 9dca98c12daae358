//! `GET /api/v1/clients/{clientID}`: public, without the secret, so a
//! consent screen can show it.

use actix_web::{HttpRequest, HttpResponse, web};

use crate::clients::{ClientDocument, client_id};
use crate::error::ApiError;
use crate::reply::json_ok;
use crate::state::AppState;

/// A client, without its secret
///
/// Needs no credentials, so a consent screen can show whom it is about to
/// authorise; built-in clients too.
#[utoipa::path(
    get,
    path = "/api/v1/clients/{clientID}",
    tag = "clients",
    params(crate::clients::ClientPath),
    responses(
        (status = 200, description = "The client, without `clientSecret`", body = ClientDocument),
        (status = 404, response = crate::responses::NoSuchClient),
        (status = 500, response = crate::responses::InternalError),
        (status = 503, response = crate::responses::Unavailable),
    )
)]
pub async fn get_client(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = client_id(&req);
    let client = state.get_client(id).await??;
    Ok(json_ok(&ClientDocument::public(client)))
}
