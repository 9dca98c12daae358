//! `POST /api/v1/oauth/create-code` (Self-Key): the consent step. The code
//! is bound to the session's user and the client, and single-use.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use tessera_domain::Timestamp;
use tessera_oauth_clients::{CodeError, CreateCodeRequest};

use crate::auth::{UserRef, require_self_key};
use crate::body::{blocking, read_json};
use crate::error::ApiError;
use crate::state::AppState;
use crate::tokens::json_ok;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateCodeBody {
    #[serde(rename = "clientID")]
    client_id: String,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
}

#[derive(Debug, Serialize)]
struct CodeDocument {
    code: String,
    #[serde(rename = "userID")]
    user_id: i64,
    #[serde(rename = "clientID")]
    client_id: String,
    #[serde(rename = "createdOn")]
    created_on: Timestamp,
    #[serde(rename = "expiresAt")]
    expires_at: Timestamp,
}

impl From<CodeError> for ApiError {
    fn from(error: CodeError) -> Self {
        match error {
            CodeError::Invalid(detail) => Self::BadRequest(detail),
            e @ CodeError::ClientNotFound => Self::NotFound(e.to_string()),
            CodeError::Unexpected(e) => Self::Unexpected(e),
        }
    }
}

pub async fn create_code(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let user = require_self_key(&req, &state, UserRef::Me).await?;
    let body: CreateCodeBody = read_json(&req, payload).await?;
    let request = CreateCodeRequest {
        client_id: body.client_id,
        code_challenge: body.code_challenge,
        code_challenge_method: body.code_challenge_method,
    };
    let oauth = state.oauth.clone();
    let issued = blocking(move || oauth.create_code(user, request)).await??;
    Ok(crate::oauth::no_store(json_ok(&CodeDocument {
        code: issued.code.expose().to_owned(),
        user_id: issued.user_id.get(),
        client_id: issued.client_id.to_string(),
        created_on: issued.created_on,
        expires_at: issued.expires_at,
    })))
}
