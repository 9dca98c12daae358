//! The refusals a protected route answers with, as RFC 9457 problem
//! documents shaped like Tessera's own, for both the actix extractor and
//! the tower layer.

use serde::Serialize;

/// Why a token was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Unknown, expired, revoked, disabled, or not valid from this address:
    /// `401`.
    #[error("the token is not valid")]
    Inactive,
    /// Tessera did not answer and the cache may not be used: `503`.
    #[error("tokens cannot be checked right now")]
    Unavailable,
}

impl Refusal {
    /// The HTTP status to answer with.
    pub fn status(&self) -> u16 {
        match self {
            Refusal::Inactive => 401,
            Refusal::Unavailable => 503,
        }
    }
}

/// Why a request was not let through.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No `Authorization: Bearer …` header: `401`.
    #[error("this route needs an API token: Authorization: Bearer <token>")]
    Missing,
    /// The token is not valid (from this address): `401`.
    #[error("the API token is not valid")]
    Invalid,
    /// The token is valid but lacks a permission: `403`.
    #[error("the API token lacks the permission {0:?}")]
    Forbidden(String),
    /// Tokens cannot be checked now: `503`.
    #[error("API tokens cannot be checked right now; try again shortly")]
    Unavailable,
    /// The service was set up without a verifier: `500`.
    #[error("token verification is not set up")]
    NotConfigured,
}

impl From<Refusal> for AuthError {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::Inactive => AuthError::Invalid,
            Refusal::Unavailable => AuthError::Unavailable,
        }
    }
}

#[derive(Serialize)]
struct Problem<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    title: &'static str,
    status: u16,
    detail: &'a str,
}

impl AuthError {
    pub fn status(&self) -> u16 {
        match self {
            AuthError::Missing | AuthError::Invalid => 401,
            AuthError::Forbidden(_) => 403,
            AuthError::Unavailable => 503,
            AuthError::NotConfigured => 500,
        }
    }

    fn title(&self) -> &'static str {
        match self.status() {
            401 => "Unauthorized",
            403 => "Forbidden",
            503 => "Service Unavailable",
            _ => "Internal Server Error",
        }
    }

    /// The `application/problem+json` body.
    pub fn body(&self) -> String {
        let detail = self.to_string();
        serde_json::to_string(&Problem {
            kind: "about:blank",
            title: self.title(),
            status: self.status(),
            detail: &detail,
        })
        .unwrap_or_default()
    }

    /// Headers beside the body: the challenge of a `401`, the retry hint of
    /// a `503`.
    pub fn headers(&self) -> &'static [(&'static str, &'static str)] {
        match self.status() {
            401 => &[("WWW-Authenticate", "Bearer")],
            503 => &[("Retry-After", "1")],
            _ => &[],
        }
    }
}

/// The token of an `Authorization` header value: `Bearer <token>`, the
/// scheme in any case. Anything else is no token.
pub fn bearer_token(authorization: &str) -> Option<&str> {
    let (scheme, token) = authorization.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() && !token.contains(' '))
        .then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_non_empty_bearer_credential_is_a_token() {
        assert_eq!(bearer_token("Bearer tsr_abc"), Some("tsr_abc"));
        assert_eq!(bearer_token("bearer tsr_abc"), Some("tsr_abc"));
        assert_eq!(bearer_token("Basic dXNlcjpwYXNz"), None);
        assert_eq!(bearer_token("Bearer "), None);
        assert_eq!(bearer_token("Bearer"), None);
        assert_eq!(bearer_token("Bearer a b"), None);
    }

    #[test]
    fn problems_carry_their_status_title_and_reason() {
        let body: serde_json::Value =
            serde_json::from_str(&AuthError::Forbidden("submit_score".into()).body())
                .expect("json");
        assert_eq!(body["status"], 403);
        assert_eq!(body["title"], "Forbidden");
        assert_eq!(body["type"], "about:blank");
        assert!(
            body["detail"]
                .as_str()
                .is_some_and(|d| d.contains("submit_score"))
        );
        assert_eq!(
            AuthError::Invalid.headers(),
            &[("WWW-Authenticate", "Bearer")]
        );
        assert_eq!(AuthError::Unavailable.headers(), &[("Retry-After", "1")]);
    }
}
