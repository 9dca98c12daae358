//! The seed's token endpoints (contract §4), one file per action.

pub mod create;
pub mod delete;
pub mod list;

use actix_web::HttpResponse;
use serde::Serialize;

/// The `{userID}` of the token endpoints' paths, as documented (the
/// handlers read it through `UserRef::from_path`).
#[derive(Debug, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct UserPath {
    /// A positive integer in canonical form, or `me` for the session's user
    #[param(rename = "userID", pattern = "^(me|[1-9][0-9]*)$", example = "me")]
    #[allow(dead_code)]
    user_id: String,
}

/// `{}`: the answer of a deletion, which has nothing else to say.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(example = json!({}))]
pub struct Empty {}

/// A `200` with a bare JSON document (contract §1: no envelope).
pub fn json_ok<T: Serialize + ?Sized>(document: &T) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json; charset=utf-8")
        .body(serde_json::to_string(document).unwrap_or_default())
}
