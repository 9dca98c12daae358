//! `GET /api/v1/users/{userID}/api-tokens`.

use actix_web::{HttpRequest, HttpResponse, web};

use crate::auth::{UserRef, require_self_key};
use crate::dto::TokenDocument;
use crate::error::ApiError;
use crate::state::AppState;
use crate::tokens::json_ok;

/// A user's tokens
///
/// Oldest first (by `createdAt`, ties by creation order); expired tokens
/// stay listed until deleted. Never another user's tokens.
#[utoipa::path(
    get,
    path = "/api/v1/users/{userID}/api-tokens",
    tag = "tokens",
    params(crate::tokens::UserPath),
    security(("session" = [])),
    responses(
        (status = 200, description = "The user's tokens, oldest first", body = Vec<TokenDocument>),
        (status = 400, response = crate::openapi::BadUserId),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 500, response = crate::openapi::InternalError),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
pub async fn list_tokens(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let target = UserRef::from_path(&req)?;
    let user = require_self_key(&req, &state, target).await?;
    let tokens = state.tokens.clone();
    let listed = state.blocking(move || tokens.list(user)).await??;
    let documents: Vec<TokenDocument> = listed.into_iter().map(TokenDocument::from).collect();
    Ok(json_ok(&documents))
}
