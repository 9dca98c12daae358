//! `POST /api/v1/oauth/revoke` (RFC 7009): a client revokes a token it was
//! issued; `200` whether or not the token existed.

use actix_web::{HttpRequest, HttpResponse, web};

use crate::body::blocking;
use crate::oauth::{OAuthFailure, authenticate_client, no_store, read_params};
use crate::state::AppState;
use crate::tokens::json_ok;

pub async fn revoke_token(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, actix_web::Error> {
    let mut params = read_params(&req, payload).await?;
    let client = authenticate_client(&req, &params, &state).await?;
    let token = params.remove("token");
    let oauth = state.oauth.clone();
    blocking(move || oauth.revoke(&client, token.as_deref()))
        .await
        .map_err(OAuthFailure::from)?
        .map_err(OAuthFailure::from)?;
    Ok(no_store(json_ok(&serde_json::json!({}))))
}
