//! The error responses the OpenAPI document describes and handlers name in
//! their `#[utoipa::path]`s. They only describe bodies that `ApiError`,
//! `problem_fallback` and `OAuthFailure` build, so they are never built.

use utoipa::{IntoResponses, ToResponse};

use crate::error::{ErrorBody, PROBLEM_JSON, Problem};

/// Malformed `userID` (not a positive integer in canonical form, nor `me`)
#[derive(ToResponse)]
#[response(content_type = PROBLEM_JSON)]
#[expect(dead_code, reason = "describes a response for OpenAPI; never built")]
pub struct BadUserId(Problem<'static>);

/// No client has this id
#[derive(ToResponse)]
#[response(content_type = PROBLEM_JSON)]
#[expect(dead_code, reason = "describes a response for OpenAPI; never built")]
pub struct NoSuchClient(Problem<'static>);

/// No credentials, or a session cookie or Bearer token that is malformed,
/// tampered, expired, revoked or signed with another secret
#[derive(ToResponse)]
#[response(
    content_type = PROBLEM_JSON,
    headers(("WWW-Authenticate" = String, description = "`Bearer realm=\"tessera\"`"))
)]
#[expect(dead_code, reason = "describes a response for OpenAPI; never built")]
pub struct Unauthorized(Problem<'static>);

/// An API token where the user's session is needed, or a session of
/// another user than `userID`
#[derive(ToResponse)]
#[response(content_type = PROBLEM_JSON)]
#[expect(dead_code, reason = "describes a response for OpenAPI; never built")]
pub struct Forbidden(Problem<'static>);

/// Not the client's owner, a built-in client (which cannot be changed), or
/// an API token where the user's session is needed
#[derive(ToResponse)]
#[response(content_type = PROBLEM_JSON)]
#[expect(dead_code, reason = "describes a response for OpenAPI; never built")]
pub struct NotOwner(Problem<'static>);

/// The request body is larger than 16 KiB
#[derive(ToResponse)]
#[response(content_type = PROBLEM_JSON)]
#[expect(dead_code, reason = "describes a response for OpenAPI; never built")]
pub struct PayloadTooLarge(Problem<'static>);

/// The body is not JSON: `Content-Type` must be `application/json` (any
/// charset) or `application/*+json`
#[derive(ToResponse)]
#[response(content_type = PROBLEM_JSON)]
#[expect(dead_code, reason = "describes a response for OpenAPI; never built")]
pub struct UnsupportedMediaType(Problem<'static>);

/// An internal error; its cause is logged, never sent
#[derive(ToResponse)]
#[response(content_type = PROBLEM_JSON)]
#[expect(dead_code, reason = "describes a response for OpenAPI; never built")]
pub struct InternalError(Problem<'static>);

/// The database is down, too slow or full: try again after `Retry-After`
/// seconds
#[derive(ToResponse)]
#[response(
    content_type = PROBLEM_JSON,
    headers(("Retry-After" = String, description = "Seconds to wait before trying again"))
)]
#[expect(dead_code, reason = "describes a response for OpenAPI; never built")]
pub struct Unavailable(Problem<'static>);

/// The `Idempotency-Key` was used with another body (nothing was created)
#[derive(ToResponse)]
#[response(content_type = PROBLEM_JSON)]
#[expect(dead_code, reason = "describes a response for OpenAPI; never built")]
pub struct IdempotencyKeyReused(Problem<'static>);

/// The optional `Idempotency-Key` of a creation.
#[derive(utoipa::IntoParams, serde::Deserialize)]
#[into_params(parameter_in = Header)]
#[expect(
    dead_code,
    reason = "describes a parameter for OpenAPI; read by read_json_keyed"
)]
pub struct IdempotencyHeader {
    /// 1–255 visible ASCII characters, chosen by the client per creation
    /// (a UUID, say), scoped to the session's user and kept 24 h. The same
    /// key with the same body again answers what the first request created
    /// (the same token or client, no second record); with another body
    /// `422`; while the first is still being processed `409`. A request
    /// that failed gives its key back: it may be retried.
    #[serde(rename = "Idempotency-Key")]
    #[param(pattern = r"^[!-~]{1,255}$")]
    idempotency_key: Option<String>,
}

/// Missing or wrong resource-server credentials (HTTP Basic)
#[derive(ToResponse)]
#[response(
    content_type = PROBLEM_JSON,
    headers(("WWW-Authenticate" = String, description = "`Basic realm=\"tessera\"`"))
)]
#[expect(dead_code, reason = "describes a response for OpenAPI; never built")]
pub struct ClientUnauthorized(Problem<'static>);

/// `invalid_request`: a missing, repeated or non-string parameter, a
/// malformed body, HTTP Basic and body credentials both. At the token
/// endpoint also `invalid_grant` (a code unknown, expired, replayed or
/// issued to another client, a wrong or missing `code_verifier`, a
/// different `redirect_uri`) and `unsupported_grant_type`
#[derive(ToResponse)]
#[response(headers(("Cache-Control" = String, description = "`no-store`")))]
#[expect(dead_code, reason = "describes a response for OpenAPI; never built")]
pub struct OAuthBadRequest(ErrorBody<'static>);

/// `invalid_client`: no client credentials, or an unknown client or a wrong
/// secret
#[derive(ToResponse)]
#[response(headers(
    ("WWW-Authenticate" = String, description = "`Basic realm=\"tessera\"`"),
    ("Cache-Control" = String, description = "`no-store`"),
))]
#[expect(dead_code, reason = "describes a response for OpenAPI; never built")]
pub struct OAuthInvalidClient(ErrorBody<'static>);

/// `invalid_request`: the body is larger than 16 KiB
#[derive(ToResponse)]
#[response(headers(("Cache-Control" = String, description = "`no-store`")))]
#[expect(dead_code, reason = "describes a response for OpenAPI; never built")]
pub struct OAuthPayloadTooLarge(ErrorBody<'static>);

/// `invalid_request`: the body is neither a form
/// (`application/x-www-form-urlencoded`) nor JSON
#[derive(ToResponse)]
#[response(headers(("Cache-Control" = String, description = "`no-store`")))]
#[expect(dead_code, reason = "describes a response for OpenAPI; never built")]
pub struct OAuthUnsupportedMediaType(ErrorBody<'static>);

/// `temporarily_unavailable`: the database is down, too slow or full; try
/// again after `Retry-After` seconds
#[derive(ToResponse)]
#[response(headers(
    ("Cache-Control" = String, description = "`no-store`"),
    ("Retry-After" = String, description = "Seconds to wait before trying again")
))]
#[expect(dead_code, reason = "describes a response for OpenAPI; never built")]
pub struct OAuthUnavailable(ErrorBody<'static>);

/// `server_error`: an internal error; its cause is logged, never sent
#[derive(ToResponse)]
#[response(headers(("Cache-Control" = String, description = "`no-store`")))]
#[expect(dead_code, reason = "describes a response for OpenAPI; never built")]
pub struct OAuthServerError(ErrorBody<'static>);

/// Every error the OAuth token, revocation and introspection endpoints
/// answer, in RFC 6749's shape: one list those three `#[utoipa::path]`s share.
#[derive(IntoResponses)]
#[expect(dead_code, reason = "describes responses for OpenAPI; never built")]
pub enum OAuthErrors {
    #[response(status = 400)]
    BadRequest(#[ref_response] OAuthBadRequest),
    #[response(status = 401)]
    InvalidClient(#[ref_response] OAuthInvalidClient),
    #[response(status = 413)]
    PayloadTooLarge(#[ref_response] OAuthPayloadTooLarge),
    #[response(status = 415)]
    UnsupportedMediaType(#[ref_response] OAuthUnsupportedMediaType),
    #[response(status = 500)]
    ServerError(#[ref_response] OAuthServerError),
    #[response(status = 503)]
    Unavailable(#[ref_response] OAuthUnavailable),
}
