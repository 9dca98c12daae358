//! `GET /api/v1/clients/{clientID}`: public, without the secret, so a
//! consent screen can show it.

use actix_web::{HttpRequest, HttpResponse, web};

use crate::body::blocking;
use crate::clients::{ClientDocument, client_id};
use crate::error::ApiError;
use crate::state::AppState;
use crate::tokens::json_ok;

pub async fn get_client(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = client_id(&req);
    let oauth = state.oauth.clone();
    let client = blocking(move || oauth.clients().get(&id)).await??;
    Ok(json_ok(&ClientDocument::public(client)))
}
