//! `DELETE /api/v1/users/{userID}/api-token/{token}` (and `api-tokens/`).

use actix_web::{HttpRequest, HttpResponse, web};

use crate::auth::SelfKey;
use crate::error::{ApiError, PROBLEM_JSON, Problem};
use crate::reply::{Empty, json_ok};
use crate::state::AppState;

/// Delete a token
///
/// By the token itself or by its `id`. From the `200` on, the token
/// authenticates nowhere. Also served at
/// `/api/v1/users/{userID}/api-tokens/{token}`.
#[utoipa::path(
    delete,
    path = "/api/v1/users/{userID}/api-token/{token}",
    tag = "tokens",
    params(
        crate::tokens::UserPath,
        ("token" = String, Path, description = "The token to delete, or its `id`"),
    ),
    security(("session" = [])),
    responses(
        (status = 200, description = "Deleted", body = Empty),
        (status = 400, response = crate::responses::BadUserId),
        (status = 401, response = crate::responses::Unauthorized),
        (status = 403, response = crate::responses::Forbidden),
        (status = 404, description = "The user has no such token (unknown, or another user's)",
            body = Problem, content_type = PROBLEM_JSON),
        (status = 500, response = crate::responses::InternalError),
        (status = 503, response = crate::responses::Unavailable),
    )
)]
pub async fn delete_token(
    SelfKey(user): SelfKey,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let token = req.match_info().get("token").unwrap_or_default().to_owned();
    let shown = state.tokens.shown(&token);
    state.delete_token(user, token).await??;
    crate::metrics::token_deleted();
    tracing::info!(user = user.get(), token = %shown, "token deleted");
    Ok(json_ok(&Empty {}))
}
