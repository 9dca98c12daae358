//! Success responses as every endpoint writes them (a bare
//! JSON document, no envelope).

use actix_web::HttpResponse;
use actix_web::http::header::{CONTENT_TYPE, HeaderValue};
use serde::Serialize;

/// `{}`: the answer of a deletion, which has nothing else to say.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(example = json!({}))]
pub struct Empty {}

/// A `200` with a bare JSON document (no envelope).
pub fn json_ok<T: Serialize + ?Sized>(document: &T) -> HttpResponse {
    // A static header value is shared, not parsed and copied per response
    // (every verification answers through here).
    const JSON: HeaderValue = HeaderValue::from_static("application/json; charset=utf-8");
    let mut body = Vec::with_capacity(256);
    // Writing into a Vec fails only for a document that cannot be JSON
    // (a map with non-string keys), which no endpoint answers with.
    let _ = serde_json::to_writer(&mut body, document);
    HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, JSON))
        .body(body)
}
