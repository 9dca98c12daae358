//! Success responses as every endpoint writes them (a bare
//! JSON document, no envelope).

use actix_web::http::header::HeaderValue;
use actix_web::{HttpResponse, ResponseError as _};
use serde::Serialize;

/// `{}`: the answer of a deletion, which has nothing else to say.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(example = json!({}))]
pub struct Empty {}

/// The `Content-Type` of every JSON answer but problem details. Static:
/// shared, not parsed and copied per response (every verification answers
/// with it).
pub(crate) const JSON: HeaderValue = HeaderValue::from_static("application/json; charset=utf-8");

/// A `200` with a JSON document already written.
pub(crate) fn json_body(body: Vec<u8>) -> HttpResponse {
    HttpResponse::Ok().content_type(JSON).body(body)
}

/// A `200` with a bare JSON document (no envelope).
pub fn json_ok<T: Serialize + ?Sized>(document: &T) -> HttpResponse {
    let mut body = Vec::with_capacity(256);
    match serde_json::to_writer(&mut body, document) {
        Ok(()) => json_body(body),
        // Only a document that cannot be JSON (a map with non-string
        // keys) fails, which no endpoint answers with; never half a body.
        Err(error) => crate::error::ApiError::Unexpected(anyhow::anyhow!(
            "a response could not be written as JSON: {error}"
        ))
        .error_response(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use actix_web::body::MessageBody as _;

    use super::json_ok;

    #[test]
    fn a_document_is_answered_whole_or_as_an_error() {
        let ok = json_ok(&BTreeMap::from([("a", 1)]));
        assert_eq!(ok.status(), 200);
        let body = ok.into_body().try_into_bytes().expect("a complete body");
        assert_eq!(&body[..], br#"{"a":1}"#);
        // Keys that are not strings cannot be JSON.
        let broken = json_ok(&BTreeMap::from([((1, 2), 3)]));
        assert_eq!(broken.status(), 500);
    }
}
