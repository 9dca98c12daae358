//! `GET /api/v1/users/{userID}/api-tokens`.

use actix_web::{HttpResponse, web};

use crate::auth::SelfKey;
use crate::dto::TokenDocument;
use crate::error::ApiError;
use crate::reply::json_ok;
use crate::state::AppState;

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
        (status = 400, response = crate::responses::BadUserId),
        (status = 401, response = crate::responses::Unauthorized),
        (status = 403, response = crate::responses::Forbidden),
        (status = 500, response = crate::responses::InternalError),
        (status = 503, response = crate::responses::Unavailable),
    )
)]
pub async fn list_tokens(
    SelfKey(user): SelfKey,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let listed = state.list_tokens(user).await??;
    let documents: Vec<TokenDocument> = listed.into_iter().map(TokenDocument::from).collect();
    Ok(json_ok(&documents))
}
