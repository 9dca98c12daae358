//! `POST /api/v1/users/{userID}/api-tokens/create`.

use actix_web::{HttpRequest, HttpResponse, web};
use tessera_domain::CreateTokenRequest;

use crate::auth::SelfKey;
use crate::body::read_json_keyed;
use crate::dto::{CreateTokenBody, TokenDocument};
use crate::error::{ApiError, PROBLEM_JSON, Problem};
use crate::reply::json_ok;
use crate::state::AppState;

/// Create a token
///
/// From `permissions` (with `identifier`), or from an OAuth2 client's
/// `clientID` (its permissions, identifier `"<client name> Token"`). A user
/// holds at most one unexpired token per client.
#[utoipa::path(
    post,
    path = "/api/v1/users/{userID}/api-tokens/create",
    tag = "tokens",
    params(crate::tokens::UserPath, crate::responses::IdempotencyHeader),
    request_body = CreateTokenBody,
    security(("session" = [])),
    responses(
        (status = 200, description = "The new token", body = TokenDocument),
        (status = 400, description = "Malformed `userID`; malformed JSON, a wrong type or an unknown \
            member; both or neither of `permissions` and `clientID`; an unknown permission (named in \
            `detail`); a missing or over-long `identifier`; `expiresAt` not in the future",
            body = Problem, content_type = PROBLEM_JSON),
        (status = 401, response = crate::responses::Unauthorized),
        (status = 403, response = crate::responses::Forbidden),
        (status = 404, description = "No OAuth2 client has this `clientID`", body = Problem,
            content_type = PROBLEM_JSON),
        (status = 409, description = "The user already has an unexpired token from this client \
            (nothing changed), or a request with this `Idempotency-Key` is still being processed \
            or created what has since been deleted", body = Problem, content_type = PROBLEM_JSON),
        (status = 422, response = crate::responses::IdempotencyKeyReused),
        (status = 413, response = crate::responses::PayloadTooLarge),
        (status = 415, response = crate::responses::UnsupportedMediaType),
        (status = 500, response = crate::responses::InternalError),
        (status = 503, response = crate::responses::Unavailable),
    )
)]
pub async fn create_token(
    SelfKey(user): SelfKey,
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (body, key): (CreateTokenBody, _) = read_json_keyed(&req, payload).await?;
    let request = CreateTokenRequest::try_from(body)?;
    let created = state.create_token(user, request, key).await??;
    crate::metrics::token_created();
    tracing::info!(
        user = user.get(),
        token = %state.tokens.shown(created.token.expose()),
        "token created"
    );
    Ok(json_ok(&TokenDocument::from(created)))
}
