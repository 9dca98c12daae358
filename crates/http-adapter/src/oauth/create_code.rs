//! `POST /api/v1/oauth/create-code` (Self-Key): the consent step. The code
//! is bound to the session's user and the client, and single-use.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use tessera_oauth_clients::{CodeError, CreateCodeRequest};

use crate::auth::SelfKey;
use crate::body::read_json;
use crate::error::{ApiError, PROBLEM_JSON, Problem};
use crate::reply::json_ok;
use crate::state::AppState;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"clientID": "CI0123456789abcdef"}))]
pub struct CreateCodeBody {
    #[serde(rename = "clientID")]
    client_id: String,
    /// PKCE (RFC 7636): the S256 challenge of the verifier the client will
    /// send to the token endpoint.
    code_challenge: Option<String>,
    /// `S256`, the only method accepted; required with `codeChallenge`.
    code_challenge_method: Option<String>,
}

/// A single-use authorization code, bound to the user and the client.
/// Times are Unix milliseconds.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CodeDocument {
    code: String,
    #[serde(rename = "userID")]
    user_id: i64,
    #[serde(rename = "clientID")]
    client_id: String,
    #[serde(rename = "createdOn")]
    #[schema(value_type = i64)]
    created_on: i64,
    #[serde(rename = "expiresAt")]
    #[schema(value_type = i64)]
    expires_at: i64,
}

impl From<CodeError> for ApiError {
    fn from(error: CodeError) -> Self {
        match error {
            CodeError::Invalid(detail) => Self::BadRequest(detail),
            e @ CodeError::ClientNotFound => Self::NotFound(e.to_string()),
            CodeError::Suspended => {
                Self::Forbidden("this user is suspended: no token can be granted for them")
            }
            CodeError::Unexpected(e) => e.into(),
        }
    }
}

/// Issue an authorization code
///
/// The consent step: the session's user authorises the client. The code
/// lives `oauth.code_ttl_secs` and is exchanged at `/api/v1/oauth/token`.
#[utoipa::path(
    post,
    path = "/api/v1/oauth/create-code",
    tag = "oauth",
    request_body = CreateCodeBody,
    security(("session" = [])),
    responses(
        (status = 200, description = "The code", body = CodeDocument,
            headers(("Cache-Control" = String, description = "`no-store`"))),
        (status = 400, description = "Malformed JSON, a wrong type or an unknown member; a client \
            without a `redirectUri`; a `codeChallenge` that is not a base64url SHA-256, or without \
            `codeChallengeMethod` `S256`",
            body = Problem, content_type = PROBLEM_JSON),
        (status = 401, response = crate::responses::Unauthorized),
        (status = 403, response = crate::responses::Forbidden),
        (status = 404, description = "No client has this `clientID`", body = Problem,
            content_type = PROBLEM_JSON),
        (status = 413, response = crate::responses::PayloadTooLarge),
        (status = 415, response = crate::responses::UnsupportedMediaType),
        (status = 500, response = crate::responses::InternalError),
        (status = 503, response = crate::responses::Unavailable),
    )
)]
pub async fn create_code(
    SelfKey(user): SelfKey,
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let body: CreateCodeBody = read_json(&req, payload).await?;
    let request = CreateCodeRequest {
        client_id: body.client_id,
        code_challenge: body.code_challenge,
        code_challenge_method: body.code_challenge_method,
    };
    let issued = state.create_code(user, request).await??;
    Ok(crate::client_auth::no_store(json_ok(&CodeDocument {
        code: issued.code.expose().to_owned(),
        user_id: issued.user_id.get(),
        client_id: issued.client_id.to_string(),
        created_on: issued.created_on.as_millis(),
        expires_at: issued.expires_at.as_millis(),
    })))
}
