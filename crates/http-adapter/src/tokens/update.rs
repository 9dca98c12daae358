//! `PATCH /api/v1/users/{userID}/api-tokens/{id}`: rename, disable or
//! enable, shorten the life of, or restrict a token to addresses.

use actix_web::{HttpRequest, HttpResponse, web};

use crate::auth::SelfKey;
use crate::body::read_json;
use crate::dto::{PatchTokenBody, TokenDocument};
use crate::error::{ApiError, PROBLEM_JSON, Problem};
use crate::reply::json_ok;
use crate::state::AppState;

/// Change a token
///
/// Any of `identifier`, `disabled`, `expiresAt` (only earlier) and
/// `allowedIps`; `{}` changes nothing. Disabling, an earlier expiry and an
/// address restriction hold on every instance within the revocation
/// deadline (`cache.max_staleness_ms`); enabling restores the same token.
#[utoipa::path(
    patch,
    path = "/api/v1/users/{userID}/api-tokens/{token}",
    tag = "tokens",
    params(
        crate::tokens::UserPath,
        ("token" = String, Path, format = Uuid,
            description = "The token's `id` (a token itself is not accepted here)"),
    ),
    request_body = PatchTokenBody,
    security(("session" = [])),
    responses(
        (status = 200, description = "The token as changed", body = TokenDocument),
        (status = 400, description = "Malformed `userID`; malformed JSON, a wrong type or an \
            unknown member; an empty or over-long `identifier`; `expiresAt` not in the future, \
            later than the token's, beyond the lifetime policy, or `null` on a token that \
            expires; `allowedIps` empty, longer than 16 or with an entry that is not an address \
            or CIDR network", body = Problem, content_type = PROBLEM_JSON),
        (status = 401, response = crate::responses::Unauthorized),
        (status = 403, response = crate::responses::Forbidden),
        (status = 404, description = "The user has no token with this id (unknown, or another \
            user's)", body = Problem, content_type = PROBLEM_JSON),
        (status = 413, response = crate::responses::PayloadTooLarge),
        (status = 415, response = crate::responses::UnsupportedMediaType),
        (status = 500, response = crate::responses::InternalError),
        (status = 503, response = crate::responses::Unavailable),
    )
)]
pub async fn update_token(
    SelfKey(user): SelfKey,
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = req.match_info().get("token").unwrap_or_default().to_owned();
    let body: PatchTokenBody = read_json(&req, payload).await?;
    let changed = state.update_token(user, id, body.into()).await??;
    tracing::info!(
        user = user.get(),
        token_id = %changed.id,
        disabled = changed.disabled,
        "token changed"
    );
    Ok(json_ok(&TokenDocument::from(changed)))
}
