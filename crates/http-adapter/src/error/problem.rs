//! RFC 9457 problem documents: the error shape of every endpoint but the
//! OAuth token, revocation and introspection ones.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::http::header;
use serde::Serialize;

pub const PROBLEM_JSON: &str = "application/problem+json";

/// An RFC 9457 problem document: every error outside the OAuth endpoints.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(example = json!({
    "type": "about:blank",
    "title": "Unauthorized",
    "status": 401,
    "detail": "this endpoint needs the user's session cookie"
}))]
pub struct Problem<'a> {
    /// `about:blank`: the status says it all.
    #[serde(rename = "type")]
    kind: &'static str,
    /// The status's reason phrase.
    title: &'a str,
    status: u16,
    /// What went wrong, for a person.
    detail: &'a str,
}

/// A problem+json response with the status's reason phrase as title.
pub fn problem(status: StatusCode, detail: &str) -> HttpResponse {
    let body = Problem {
        kind: "about:blank",
        title: status.canonical_reason().unwrap_or("Error"),
        status: status.as_u16(),
        detail,
    };
    let mut response = HttpResponse::build(status);
    response.content_type(PROBLEM_JSON);
    if status == StatusCode::UNAUTHORIZED {
        response.insert_header((header::WWW_AUTHENTICATE, "Bearer realm=\"tessera\""));
    }
    response.body(serde_json::to_string(&body).unwrap_or_default())
}
