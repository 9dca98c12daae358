//! Rotation: `POST /api/v1/users/{userID}/api-tokens/{id}/rotate` by the
//! owner's session, and `POST /api/v1/tokens/rotate` by the token itself.

use actix_web::{HttpRequest, HttpResponse, web};
use tessera_domain::RotateTokenError;

use crate::auth::{SelfKey, client_address, presented_token};
use crate::body::read_json;
use crate::dto::{RotateBody, TokenDocument};
use crate::error::{ApiError, PROBLEM_JSON, Problem};
use crate::reply::json_ok;
use crate::state::AppState;

/// Rotate a token
///
/// Answers the successor: a new `token` and `id` with the same identifier,
/// permissions, `fromAPIClient` and `allowedIps`. The old token keeps
/// working for `overlapSecs` (showing `supersededBy`), then is deleted; with
/// no overlap it is deleted at once. Of concurrent rotations of one token
/// exactly one succeeds.
#[utoipa::path(
    post,
    path = "/api/v1/users/{userID}/api-tokens/{id}/rotate",
    tag = "tokens",
    params(
        crate::tokens::UserPath,
        ("id" = String, Path, format = Uuid, description = "The token's `id`"),
    ),
    request_body = RotateBody,
    security(("session" = [])),
    responses(
        (status = 200, description = "The successor, with its token", body = TokenDocument),
        (status = 400, description = "Malformed `userID`; malformed JSON, a wrong type or an \
            unknown member; `overlapSecs` outside 0–604800; `expiresAt` not in the future or \
            beyond the lifetime policy", body = Problem, content_type = PROBLEM_JSON),
        (status = 401, response = crate::responses::Unauthorized),
        (status = 403, response = crate::responses::Forbidden),
        (status = 404, description = "The user has no token with this id", body = Problem,
            content_type = PROBLEM_JSON),
        (status = 409, description = "The token is superseded (already rotated), disabled or \
            expired", body = Problem, content_type = PROBLEM_JSON),
        (status = 413, response = crate::responses::PayloadTooLarge),
        (status = 415, response = crate::responses::UnsupportedMediaType),
        (status = 500, response = crate::responses::InternalError),
        (status = 503, response = crate::responses::Unavailable),
    )
)]
pub async fn rotate_token(
    SelfKey(user): SelfKey,
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = req.match_info().get("id").unwrap_or_default().to_owned();
    let body: RotateBody = read_json(&req, payload).await?;
    let successor = state.rotate_owned(user, id.clone(), body.into()).await??;
    crate::metrics::token_created();
    tracing::info!(user = user.get(), token_id = %id, successor = %successor.id, "token rotated");
    Ok(json_ok(&TokenDocument::from(successor)))
}

/// Rotate the presented token
///
/// The one endpoint where an API token manages a token: its own, sent as
/// `Authorization: Bearer`, so a script can renew its credential unattended.
/// Same body and answer as the session's rotation. A token that was already
/// superseded is refused (`401`) and revoked together with its successors:
/// two parties hold it.
#[utoipa::path(
    post,
    path = "/api/v1/tokens/rotate",
    tag = "tokens",
    request_body = RotateBody,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The successor, with its token", body = TokenDocument),
        (status = 400, description = "Malformed JSON, a wrong type or an unknown member; \
            `overlapSecs` outside 0–604800; `expiresAt` not in the future or beyond the \
            lifetime policy", body = Problem, content_type = PROBLEM_JSON),
        (status = 401, description = "No bearer token, or one that does not authenticate \
            (unknown, expired, disabled, restricted to other addresses, or superseded — which \
            also revokes it and its successors); an invalid session cookie",
            body = Problem, content_type = PROBLEM_JSON),
        (status = 403, description = "A valid session: a session rotates a token by its id",
            body = Problem, content_type = PROBLEM_JSON),
        (status = 409, description = "The token was rotated by a concurrent request",
            body = Problem, content_type = PROBLEM_JSON),
        (status = 413, response = crate::responses::PayloadTooLarge),
        (status = 415, response = crate::responses::UnsupportedMediaType),
        (status = 500, response = crate::responses::InternalError),
        (status = 503, response = crate::responses::Unavailable),
    )
)]
pub async fn rotate_self(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    // Credentials before the body, and reuse is detected even
    // when the body is wrong.
    let token = presented_token(&req, &state)?.to_owned();
    let shown = state.tokens.shown(&token);
    let origin = client_address(&req, &state.trusted_proxies);
    let hash = match state.rotation_credential(token, origin).await? {
        Ok(hash) => hash,
        Err(RotateTokenError::Reused { id, revoked }) => {
            tracing::warn!(
                token = %shown,
                token_id = %id,
                revoked,
                "a superseded token was presented for rotation: it and its successors are revoked"
            );
            return Err(RotateTokenError::Refused.into());
        }
        Err(RotateTokenError::Canary(canary)) => {
            crate::canary::report(&state, &req, canary, origin, None);
            return Err(RotateTokenError::Refused.into());
        }
        Err(refused) => return Err(refused.into()),
    };
    let body: RotateBody = read_json(&req, payload).await?;
    let successor = state.rotate_presented(hash, body.into()).await??;
    crate::metrics::token_created();
    tracing::info!(
        user = successor.user_id.get(),
        token = %shown,
        successor = %successor.id,
        "token rotated itself"
    );
    Ok(json_ok(&TokenDocument::from(successor)))
}
