//! `POST /api/v1/oauth/revoke` (RFC 7009): a client revokes a token it was
//! issued; `200` whether or not the token existed.

use actix_web::{HttpRequest, HttpResponse, web};

use crate::client_auth::{authenticate_client, no_store, read_params};
use crate::error::OAuthFailure;
use crate::reply::{Empty, json_ok};
use crate::state::AppState;

/// The parameters of a revocation (RFC 7009 §2.1), as a form or as a JSON
/// object of strings.
#[derive(utoipa::ToSchema)]
#[expect(
    dead_code,
    reason = "describes for OpenAPI what `read_params` reads; never built"
)]
pub struct RevokeParams {
    /// The token to revoke; only tokens issued to this client are.
    token: String,
    /// Accepted and ignored: there is one kind of token.
    #[schema(required = false, example = "access_token")]
    token_type_hint: String,
    /// With `client_secret`, instead of HTTP Basic.
    #[schema(required = false)]
    client_id: String,
    /// With `client_id`, instead of HTTP Basic (never both).
    #[schema(required = false)]
    client_secret: String,
}

/// Revoke a token
///
/// RFC 7009: the client authenticates as at the token endpoint and revokes
/// a token it was issued. `200` whether or not the token existed. Errors
/// are RFC 6749 §5.2 documents.
#[utoipa::path(
    post,
    path = "/api/v1/oauth/revoke",
    tag = "oauth",
    request_body(
        description = "Form or JSON; the client's credentials may be in it instead of HTTP Basic",
        content(
            (RevokeParams = "application/x-www-form-urlencoded"),
            (RevokeParams = "application/json"),
        ),
    ),
    security(("clientBasic" = []), ()),
    responses(
        (status = 200, description = "Revoked, or there was no such token of this client",
            body = Empty, headers(("Cache-Control" = String, description = "`no-store`"))),
        crate::responses::OAuthErrors,
    )
)]
pub async fn revoke_token(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, actix_web::Error> {
    let mut params = read_params(&req, payload).await?;
    let client = authenticate_client(&req, &params, &state).await?;
    crate::client_auth::reject_control(&params, &["token"])?;
    let token = params.remove("token");
    let canary = state
        .revoke_for_client(client.clone(), token)
        .await
        .map_err(OAuthFailure::from)?
        .map_err(OAuthFailure::from)?;
    if let Some(canary) = canary {
        let ip = crate::auth::client_address(&req, &state.trusted_proxies);
        crate::canary::report(&state, &req, canary, ip, None);
    }
    Ok(no_store(json_ok(&Empty {})))
}
