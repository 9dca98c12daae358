//! Success responses as every endpoint writes them (a bare
//! JSON document, no envelope).

use actix_web::HttpResponse;
use serde::Serialize;

/// `{}`: the answer of a deletion, which has nothing else to say.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(example = json!({}))]
pub struct Empty {}

/// A `200` with a bare JSON document (no envelope).
pub fn json_ok<T: Serialize + ?Sized>(document: &T) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json; charset=utf-8")
        .body(serde_json::to_string(document).unwrap_or_default())
}
