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

/// A document a hot path (status, introspection) writes member by member,
/// without serde's dispatch and key escaping per member (~2k instructions a
/// document); serde writes it when a string in it would need escaping, and
/// is the reference its tests compare the writing with.
pub(crate) trait Written: Serialize {
    /// Its members into `object`, in the order serde writes them.
    fn write(&self, object: &mut Object);
}

/// A `200` with `document`, written directly when it can be.
#[inline]
pub(crate) fn json_written<T: Written>(document: &T) -> HttpResponse {
    match written(document) {
        Some(body) => json_body(body),
        None => json_ok(document),
    }
}

/// `document` as [`Written::write`] writes it; `None` when a string in it
/// would need escaping.
#[inline]
pub(crate) fn written<T: Written>(document: &T) -> Option<Vec<u8>> {
    let mut object = Object::new();
    document.write(&mut object);
    object.finish()
}

/// A JSON object written member by member. Strings are copied as they
/// are, so the writing gives up ([`Object::finish`] is `None`) when one
/// would need escaping. Member names are the caller's literals, which need
/// none.
pub(crate) struct Object {
    out: Vec<u8>,
    plain: bool,
    number: itoa::Buffer,
}

impl Object {
    #[inline]
    fn new() -> Self {
        let mut out = Vec::with_capacity(256);
        out.push(b'{');
        Self {
            out,
            plain: true,
            number: itoa::Buffer::new(),
        }
    }

    #[inline]
    fn key(&mut self, name: &str) {
        if self.out.len() > 1 {
            self.out.push(b',');
        }
        self.out.push(b'"');
        self.out.extend_from_slice(name.as_bytes());
        self.out.extend_from_slice(b"\":");
    }

    /// `text` as it is, noting whether serde would have escaped it.
    #[inline]
    fn raw(&mut self, text: &str) {
        self.plain &= needs_no_escape(text);
        self.out.extend_from_slice(text.as_bytes());
    }

    #[inline]
    fn quoted(&mut self, text: &str) {
        self.out.push(b'"');
        self.raw(text);
        self.out.push(b'"');
    }

    /// Each of `values` written by `each`, with `separator` between them.
    #[inline]
    fn separated<'a>(
        &mut self,
        values: impl Iterator<Item = &'a str>,
        separator: u8,
        each: fn(&mut Self, &str),
    ) {
        for (at, value) in values.enumerate() {
            if at > 0 {
                self.out.push(separator);
            }
            each(self, value);
        }
    }

    #[inline]
    pub(crate) fn int(&mut self, name: &str, value: i64) {
        self.key(name);
        let digits = self.number.format(value);
        self.out.extend_from_slice(digits.as_bytes());
    }

    #[inline]
    pub(crate) fn null(&mut self, name: &str) {
        self.key(name);
        self.out.extend_from_slice(b"null");
    }

    #[inline]
    pub(crate) fn bool(&mut self, name: &str, value: bool) {
        self.key(name);
        self.out
            .extend_from_slice(if value { b"true" } else { b"false" });
    }

    #[inline]
    pub(crate) fn string(&mut self, name: &str, value: &str) {
        self.key(name);
        self.quoted(value);
    }

    /// `values` as one string, separated by spaces.
    #[inline]
    pub(crate) fn joined<'a>(&mut self, name: &str, values: impl Iterator<Item = &'a str>) {
        self.key(name);
        self.out.push(b'"');
        self.separated(values, b' ', Self::raw);
        self.out.push(b'"');
    }

    /// A number as a JSON string (`"42"`).
    #[inline]
    pub(crate) fn int_string(&mut self, name: &str, value: i64) {
        self.key(name);
        let digits = self.number.format(value);
        self.out.push(b'"');
        self.out.extend_from_slice(digits.as_bytes());
        self.out.push(b'"');
    }

    /// `values` as an array of strings.
    #[inline]
    pub(crate) fn strings<'a>(&mut self, name: &str, values: impl Iterator<Item = &'a str>) {
        self.key(name);
        self.out.push(b'[');
        self.separated(values, b',', Self::quoted);
        self.out.push(b']');
    }

    /// The document, or `None` when a string needed escaping.
    #[inline]
    fn finish(mut self) -> Option<Vec<u8>> {
        self.out.push(b'}');
        self.plain.then_some(self.out)
    }
}

/// Whether serde_json writes `text` as it is: no control character, `"`
/// or `\`. Without short-circuit, so that it runs on whole vectors.
#[inline]
fn needs_no_escape(text: &str) -> bool {
    text.bytes().fold(true, |all, b| {
        all & (b >= 0x20) & (b != b'"') & (b != b'\\')
    })
}

/// A `200` with a JSON document already written.
fn json_body(body: Vec<u8>) -> HttpResponse {
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

/// Asserts that `document` is written directly, exactly as serde writes it.
#[cfg(test)]
pub(crate) fn assert_written_as_serde<T: Written>(document: &T) {
    let written = written(document).expect("nothing to escape");
    let serde = serde_json::to_vec(document).expect("serialisable");
    assert_eq!(
        String::from_utf8_lossy(&written),
        String::from_utf8_lossy(&serde)
    );
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
