//! RFC 6749 §5.2 errors: the shape OAuth2 client libraries parse, spoken by
//! the token, revocation and introspection endpoints.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use tessera_oauth_clients::OAuthError;

use super::{ApiError, DATABASE_UNAVAILABLE, RETRY_AFTER_SECS};

/// An RFC 6749 §5.2 error: every error of the token, revocation and
/// introspection endpoints, since OAuth2 client libraries parse this shape.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = OAuthError, example = json!({
    "error": "invalid_grant",
    "error_description": "the code expired"
}))]
pub struct ErrorBody<'a> {
    #[schema(schema_with = error_codes)]
    error: &'a str,
    /// What went wrong, for a person.
    error_description: &'a str,
}

/// The `error` codes this service answers (`OAuthError::code`).
fn error_codes() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::Type::String)
        .enum_values(Some([
            "invalid_request",
            "invalid_client",
            "invalid_grant",
            "unsupported_grant_type",
            "server_error",
            "temporarily_unavailable",
        ]))
        .build()
}

/// An RFC 6749 §5.2 error response.
pub fn oauth_error(status: StatusCode, error: &str, description: &str) -> HttpResponse {
    let mut response = HttpResponse::build(status);
    response
        .content_type(crate::reply::JSON)
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"));
    if status == StatusCode::UNAUTHORIZED {
        response.insert_header((header::WWW_AUTHENTICATE, "Basic realm=\"tessera\""));
    }
    let description = rfc6749_text(description);
    let body = ErrorBody {
        error,
        error_description: &description,
    };
    response.body(serde_json::to_string(&body).unwrap_or_default())
}

/// `text` within the characters RFC 6749 §5.2 allows in
/// `error_description` (printable ASCII but `"` and `\\`): quotes become
/// `'`, backslashes `/`, anything else outside the set `?`.
pub fn rfc6749_text(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '"' => '\'',
            '\\' => '/',
            ' '..='~' => c,
            _ => '?',
        })
        .collect()
}

/// An OAuth error on its way out, with the status RFC 6749 gives it.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct OAuthFailure(#[from] pub OAuthError);

impl OAuthFailure {
    /// A database that is down or too slow: RFC 6749's
    /// `temporarily_unavailable`, with `503`.
    fn unavailable(&self) -> bool {
        matches!(&self.0, OAuthError::Unexpected(cause) if tessera_domain::is_unavailable(cause))
    }

    fn status(&self) -> StatusCode {
        match &self.0 {
            OAuthError::InvalidClient(_) => StatusCode::UNAUTHORIZED,
            OAuthError::Unexpected(_) if self.unavailable() => StatusCode::SERVICE_UNAVAILABLE,
            OAuthError::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

impl ResponseError for OAuthFailure {
    fn status_code(&self) -> StatusCode {
        self.status()
    }

    fn error_response(&self) -> HttpResponse {
        if self.unavailable() {
            let mut response = oauth_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                DATABASE_UNAVAILABLE,
            );
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from_static(RETRY_AFTER_SECS),
            );
            return response;
        }
        if let OAuthError::Unexpected(cause) = &self.0 {
            tracing::error!(error = format!("{cause:#}"), "OAuth request failed");
        }
        oauth_error(self.status(), self.0.code(), &self.0.to_string())
    }
}

impl From<ApiError> for OAuthFailure {
    fn from(error: ApiError) -> Self {
        Self(OAuthError::Unexpected(match error {
            ApiError::Unavailable(why) => {
                anyhow::Error::new(tessera_domain::Unavailable::new("request", why))
            }
            ApiError::Unexpected(cause) => cause,
            other => anyhow::anyhow!("{other}"),
        }))
    }
}

pub fn invalid_request(why: impl Into<String>) -> OAuthFailure {
    OAuthFailure(OAuthError::InvalidRequest(why.into()))
}

/// A failure with a status of its own (413, 415): still `invalid_request`.
#[derive(Debug, thiserror::Error)]
#[error("{description}")]
pub struct OAuthStatus {
    status: StatusCode,
    description: String,
}

impl OAuthStatus {
    pub fn new(status: StatusCode, description: impl Into<String>) -> Self {
        Self {
            status,
            description: description.into(),
        }
    }
}

impl ResponseError for OAuthStatus {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        oauth_error(self.status, "invalid_request", &self.description)
    }
}

impl From<anyhow::Error> for OAuthFailure {
    fn from(error: anyhow::Error) -> Self {
        Self(OAuthError::Unexpected(error))
    }
}
