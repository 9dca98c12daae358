//! `POST /api/v1/oauth/token` (RFC 6749 §4.1.3): a code for a token. The
//! answer is the `APITokenDocument` plus the standard OAuth2 members, so
//! both Tachi-style callers and OAuth2 libraries read it.

use actix_web::{HttpRequest, HttpResponse, web};
use tessera_oauth_clients::TokenRequest;

use crate::body::blocking;
use crate::dto::TokenDocument;
use crate::oauth::{OAuthFailure, authenticate_client, no_store, read_params};
use crate::state::AppState;
use crate::tokens::json_ok;

pub async fn exchange_token(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, actix_web::Error> {
    let mut params = read_params(&req, payload).await?;
    let client = authenticate_client(&req, &params, &state).await?;
    let request = TokenRequest {
        grant_type: params.remove("grant_type"),
        code: params.remove("code"),
        redirect_uri: params.remove("redirect_uri"),
        code_verifier: params.remove("code_verifier"),
    };
    let oauth = state.oauth.clone();
    let client_for_log = client.id.clone();
    let token = blocking(move || oauth.exchange(&client, request))
        .await
        .map_err(OAuthFailure::from)?
        .map_err(OAuthFailure::from)?;
    let scope = token.permissions.iter().collect::<Vec<_>>().join(" ");
    let access_token = token.token.expose().to_owned();
    let user = token.user_id;
    let mut document = serde_json::to_value(TokenDocument::from(token))
        .map_err(|e| OAuthFailure::from(anyhow::Error::new(e)))?;
    if let Some(object) = document.as_object_mut() {
        object.insert("access_token".into(), access_token.into());
        object.insert("token_type".into(), "Bearer".into());
        object.insert("scope".into(), scope.into());
    }
    crate::metrics::token_created();
    tracing::info!(user = user.get(), client = %client_for_log, "token issued by grant");
    Ok(no_store(json_ok(&document)))
}
