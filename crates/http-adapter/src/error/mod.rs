//! The HTTP layer's errors: `ApiError` and its conversions from the
//! domain's errors, the two shapes they leave in — RFC 9457 problem+json
//! (`problem`) and RFC 6749 §5.2 (`oauth`) — and the fallback that gives
//! the framework's own errors their route's shape. Internal causes are
//! logged here and never sent to the caller.

mod oauth;
mod problem;

pub use oauth::{ErrorBody, OAuthFailure, OAuthStatus, invalid_request, oauth_error, rfc6749_text};
pub use problem::{PROBLEM_JSON, Problem, problem};

use actix_web::dev::ServiceResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::ErrorHandlerResponse;
use actix_web::{HttpResponse, ResponseError};
use tessera_domain::{
    CreateTokenError, DeleteTokenError, IdempotencyError, PatchTokenError, RotateTokenError,
};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(&'static str),
    #[error("{0}")]
    ClientUnauthorized(&'static str),
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// An `Idempotency-Key` reused with another body.
    #[error("{0}")]
    Unprocessable(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("request body is larger than {} bytes", crate::BODY_LIMIT)]
    PayloadTooLarge,
    /// The database is down, too slow or full: `503` with `Retry-After`.
    #[error("{0}")]
    Unavailable(&'static str),
    #[error("internal error")]
    Unexpected(anyhow::Error),
}

/// What a `503` asks the caller to wait, in seconds: the circuit lets a
/// probe through several times a second, so a second is enough to see
/// a database that came back.
pub const RETRY_AFTER_SECS: &str = "1";

/// The detail of every `503` caused by the database.
pub const DATABASE_UNAVAILABLE: &str = "the database is unavailable or too slow; try again shortly";

impl From<anyhow::Error> for ApiError {
    /// Unavailability (marked by the storage adapter) is a `503`; anything
    /// else unexpected is a defect.
    fn from(error: anyhow::Error) -> Self {
        if tessera_domain::is_unavailable(&error) {
            tracing::warn!(error = format!("{error:#}"), "database unavailable");
            Self::Unavailable(DATABASE_UNAVAILABLE)
        } else {
            Self::Unexpected(error)
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) | Self::ClientUnauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let Self::Unexpected(cause) = self {
            tracing::error!(error = format!("{cause:#}"), "request failed");
        }
        let mut response = problem(self.status_code(), &self.to_string());
        match self {
            Self::ClientUnauthorized(_) => {
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"tessera\""),
                );
            }
            Self::Unavailable(_) => {
                response.headers_mut().insert(
                    header::RETRY_AFTER,
                    HeaderValue::from_static(RETRY_AFTER_SECS),
                );
            }
            _ => {}
        }
        response
    }
}

impl From<CreateTokenError> for ApiError {
    fn from(error: CreateTokenError) -> Self {
        match error {
            CreateTokenError::Invalid(detail) => Self::BadRequest(detail),
            CreateTokenError::UnknownPermission(name) => {
                Self::BadRequest(format!("unknown permission {name:?}"))
            }
            e @ CreateTokenError::ClientNotFound(_) => Self::NotFound(e.to_string()),
            e @ CreateTokenError::Conflict(_) => Self::Conflict(e.to_string()),
            CreateTokenError::Suspended => {
                Self::Forbidden("this user is suspended: no token can be created for them")
            }
            CreateTokenError::Idempotency(e) => e.into(),
            // Retried alone by the boundary; should it ever get here, the
            // caller may retry too.
            CreateTokenError::Busy => Self::Unavailable(crate::error::DATABASE_UNAVAILABLE),
            CreateTokenError::Unexpected(e) => e.into(),
        }
    }
}

impl From<IdempotencyError> for ApiError {
    fn from(error: IdempotencyError) -> Self {
        match error {
            e @ IdempotencyError::Mismatch => Self::Unprocessable(e.to_string()),
            e @ (IdempotencyError::InProgress | IdempotencyError::Gone) => {
                Self::Conflict(e.to_string())
            }
        }
    }
}

impl From<DeleteTokenError> for ApiError {
    fn from(error: DeleteTokenError) -> Self {
        match error {
            DeleteTokenError::NotFound => Self::NotFound("this user has no such token".to_owned()),
            DeleteTokenError::Unexpected(e) => e.into(),
        }
    }
}

impl From<PatchTokenError> for ApiError {
    fn from(error: PatchTokenError) -> Self {
        match error {
            PatchTokenError::NotFound => Self::NotFound("this user has no such token".to_owned()),
            PatchTokenError::Invalid(detail) => Self::BadRequest(detail),
            PatchTokenError::Unexpected(e) => e.into(),
        }
    }
}

impl From<RotateTokenError> for ApiError {
    fn from(error: RotateTokenError) -> Self {
        match error {
            RotateTokenError::NotFound => Self::NotFound("this user has no such token".to_owned()),
            RotateTokenError::Refused
            | RotateTokenError::Reused { .. }
            | RotateTokenError::Canary(_) => {
                Self::Unauthorized("the bearer token is invalid, expired or revoked")
            }
            RotateTokenError::Invalid(detail) => Self::BadRequest(detail),
            e @ RotateTokenError::NotRotatable => Self::Conflict(e.to_string()),
            RotateTokenError::Suspended => {
                Self::Forbidden("this user is suspended: no token can be rotated for them")
            }
            RotateTokenError::Unexpected(e) => e.into(),
        }
    }
}

/// The default service: a URL that no route serves.
pub async fn unknown_route() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound("no endpoint at this URL".to_owned()))
}

/// The error shape a route speaks, declared with the route (and stored in
/// its resource's data): problem+json everywhere, RFC 6749 §5.2 on the
/// OAuth token, revocation and introspection endpoints, whose callers are
/// OAuth2 client libraries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ErrorFormat {
    #[default]
    Problem,
    OAuth,
}

impl ErrorFormat {
    /// The error response of `status` in this shape.
    pub fn respond(self, status: StatusCode, detail: &str) -> HttpResponse {
        match self {
            Self::Problem => problem(status, detail),
            Self::OAuth => oauth_error(status, "invalid_request", detail),
        }
    }

    /// Whether `response` already has this shape.
    fn shaped(self, content_type: Option<&HeaderValue>) -> bool {
        match self {
            Self::Problem => content_type.is_some_and(|v| v == PROBLEM_JSON),
            Self::OAuth => {
                content_type.is_some_and(|v| v.as_bytes().starts_with(b"application/json"))
            }
        }
    }
}

/// Rewrites any error response that is not already in its route's shape
/// (actix's own 405, payload and routing errors) into it, keeping its status.
pub fn problem_fallback<B>(
    response: ServiceResponse<B>,
) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let format = response
        .request()
        .app_data::<ErrorFormat>()
        .copied()
        .unwrap_or_default();
    if format.shaped(response.headers().get(header::CONTENT_TYPE)) {
        return Ok(ErrorHandlerResponse::Response(
            response.map_into_left_body(),
        ));
    }
    let status = response.status();
    let detail = match status {
        StatusCode::METHOD_NOT_ALLOWED => "this URL does not accept this method",
        StatusCode::NOT_FOUND => "no endpoint at this URL",
        StatusCode::PAYLOAD_TOO_LARGE => "request body is too large",
        _ => status.canonical_reason().unwrap_or("error"),
    };
    let (request, _) = response.into_parts();
    let replaced = format.respond(status, detail).map_into_right_body::<B>();
    Ok(ErrorHandlerResponse::Response(ServiceResponse::new(
        request, replaced,
    )))
}
