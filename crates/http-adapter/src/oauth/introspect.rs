//! `POST /api/v1/oauth/introspect` (RFC 7662): a resource server asks
//! whether a token is active and for whom. The hot path: a cached token is
//! answered without leaving the worker thread.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;
use tessera_domain::{Principal, VerifyError};
use tessera_oauth_clients::OAuthError;

use crate::auth::verify_token;
use crate::oauth::{OAuthFailure, no_store, read_params, resource_server_of};
use crate::revocations::hex;
use crate::state::AppState;
use crate::tokens::json_ok;

#[derive(Debug, Serialize)]
struct Introspection {
    active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sub: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    exp: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    iat: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    token_type: Option<&'static str>,
    /// The token's keyed fingerprint, as the revocation feed names it.
    #[serde(skip_serializing_if = "Option::is_none")]
    fingerprint: Option<String>,
}

impl Introspection {
    fn inactive() -> Self {
        Self {
            active: false,
            scope: None,
            client_id: None,
            sub: None,
            exp: None,
            iat: None,
            token_type: None,
            fingerprint: None,
        }
    }

    fn of(principal: Principal) -> Self {
        Self {
            active: true,
            scope: Some(principal.permissions.iter().collect::<Vec<_>>().join(" ")),
            client_id: principal.from_api_client.map(|c| c.to_string()),
            sub: Some(principal.user_id.to_string()),
            exp: principal.expires_at.map(|at| at / 1000),
            iat: Some(principal.created_at / 1000),
            token_type: Some("Bearer"),
            fingerprint: Some(hex(&principal.hash.0)),
        }
    }
}

pub async fn introspect_token(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, actix_web::Error> {
    let params = read_params(&req, payload).await?;
    resource_server_of(&req, &params, &state)?;
    let token = params
        .get("token")
        .filter(|t| !t.is_empty())
        .ok_or_else(|| OAuthFailure(OAuthError::InvalidRequest("token is required".into())))?;
    let answer = verify_token(&state, token)
        .await
        .map_err(OAuthFailure::from)?;
    let document = match answer {
        Ok(principal) => Introspection::of(principal),
        Err(VerifyError::Unexpected(e)) => return Err(OAuthFailure::from(e).into()),
        Err(_) => Introspection::inactive(),
    };
    Ok(no_store(json_ok(&document)))
}
