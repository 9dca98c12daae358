//! `POST /api/v1/oauth/token` (RFC 6749 §4.1.3): a code for a token. The
//! answer is the `APITokenDocument` plus the standard OAuth2 members, so
//! both Tachi-style callers and OAuth2 libraries read it.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;
use tessera_oauth_clients::TokenRequest;

use crate::client_auth::{authenticate_client, no_store, read_params};
use crate::dto::TokenDocument;
use crate::error::OAuthFailure;
use crate::reply::json_ok;
use crate::state::AppState;

/// The parameters of an authorization-code exchange (RFC 6749 §4.1.3), as
/// a form or as a JSON object of strings; a repeated one is refused.
#[derive(utoipa::ToSchema)]
#[expect(
    dead_code,
    reason = "describes for OpenAPI what `read_params` reads; never built"
)]
pub struct TokenParams {
    /// Only `authorization_code`.
    #[schema(example = "authorization_code")]
    grant_type: String,
    /// The code from `/api/v1/oauth/create-code`.
    code: String,
    /// When given, it must equal the client's registered `redirectUri`.
    #[schema(required = false)]
    redirect_uri: String,
    /// PKCE (RFC 7636): required when the code was issued with a challenge.
    #[schema(required = false)]
    code_verifier: String,
    /// With `client_secret`, instead of HTTP Basic; with Basic, it must
    /// name the same client.
    #[schema(required = false)]
    client_id: String,
    /// With `client_id`, instead of HTTP Basic (never both).
    #[schema(required = false)]
    client_secret: String,
}

/// The `APITokenDocument` plus the members OAuth2 client libraries read
/// (RFC 6749 §5.1).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TokenGrant {
    #[serde(flatten)]
    document: TokenDocument,
    /// The same as `token`.
    access_token: String,
    #[schema(example = "Bearer")]
    token_type: &'static str,
    /// The token's permissions, space-separated.
    #[schema(example = "submit_score")]
    scope: String,
}

/// Exchange an authorization code for a token
///
/// RFC 6749 §4.1.3. The client authenticates with HTTP Basic
/// (`clientBasic`) or with `client_id` and `client_secret` in the body. The
/// new token replaces any earlier one of that user from that client. Errors
/// are RFC 6749 §5.2 documents, not problem+json; a replayed code also
/// revokes the token first issued from it.
#[utoipa::path(
    post,
    path = "/api/v1/oauth/token",
    tag = "oauth",
    request_body(
        description = "Form or JSON; the client's credentials may be in it instead of HTTP Basic",
        content(
            (TokenParams = "application/x-www-form-urlencoded"),
            (TokenParams = "application/json"),
        ),
    ),
    security(("clientBasic" = []), ()),
    responses(
        (status = 200, description = "The new token", body = TokenGrant,
            headers(("Cache-Control" = String, description = "`no-store`"))),
        crate::responses::OAuthErrors,
    )
)]
pub async fn exchange_token(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, actix_web::Error> {
    let mut params = read_params(&req, payload).await?;
    let client = authenticate_client(&req, &params, &state).await?;
    crate::client_auth::reject_control(&params, &[])?;
    let request = TokenRequest {
        grant_type: params.remove("grant_type"),
        code: params.remove("code"),
        redirect_uri: params.remove("redirect_uri"),
        code_verifier: params.remove("code_verifier"),
    };
    let client_for_log = client.id.clone();
    let token = state
        .exchange_code(client, request)
        .await
        .map_err(OAuthFailure::from)?
        .map_err(OAuthFailure::from)?;
    let user = token.user_id;
    let grant = TokenGrant {
        scope: token.permissions.scope(),
        access_token: token.token.expose().to_owned(),
        token_type: "Bearer",
        document: TokenDocument::from(token),
    };
    crate::metrics::token_created();
    tracing::info!(user = user.get(), client = %client_for_log, "token issued by grant");
    Ok(no_store(json_ok(&grant)))
}
