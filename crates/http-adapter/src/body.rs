//! Reading JSON bodies after authentication (the API orders the checks:
//! userID, credentials, then body), and running blocking work off the
//! async executor.

use std::time::Duration;

use actix_web::error::JsonPayloadError;
use actix_web::mime;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use serde::de::DeserializeOwned;
use tessera_domain::{IdempotencyKey, body_fingerprint};

use crate::error::ApiError;

/// `application/json` (any parameters) and `application/*+json`.
pub fn is_json(mime: &mime::Mime) -> bool {
    mime.type_() == mime::APPLICATION
        && (mime.subtype() == mime::JSON || mime.suffix() == Some(mime::JSON))
}

pub fn json_config() -> web::JsonConfig {
    // actix also accepts any `*/json` and `*/*+json` by itself, so the
    // media type is checked in `read_json`, not through this config.
    web::JsonConfig::default()
        .limit(crate::BODY_LIMIT)
        .content_type_required(true)
}

fn json_error(error: &JsonPayloadError) -> ApiError {
    match error {
        JsonPayloadError::ContentType => ApiError::UnsupportedMediaType(
            "the body must be JSON: Content-Type application/json".to_owned(),
        ),
        JsonPayloadError::Overflow { .. } | JsonPayloadError::OverflowKnownLength { .. } => {
            ApiError::PayloadTooLarge
        }
        JsonPayloadError::Deserialize(e) => ApiError::BadRequest(format!("invalid JSON body: {e}")),
        other => ApiError::BadRequest(format!("unreadable body: {other}")),
    }
}

/// Extracts the JSON body only when called, i.e. after the credential
/// checks. Only an object is a body (serde would read an array into a
/// struct by position), and no string in it may hold a control character:
/// such input is refused here, before it can reach a query,
/// the same way on both backends.
pub async fn read_json<T: DeserializeOwned + 'static>(
    req: &HttpRequest,
    payload: web::Payload,
) -> Result<T, ApiError> {
    read_json_value(req, payload).await.map(|(body, _)| body)
}

/// The request's `Idempotency-Key` with the fingerprint of
/// its body, after [`read_json`]'s checks; `None` without the header.
pub type Keyed = Option<(IdempotencyKey, [u8; 32])>;

/// [`read_json`] for creations that take an `Idempotency-Key`.
pub async fn read_json_keyed<T: DeserializeOwned + 'static>(
    req: &HttpRequest,
    payload: web::Payload,
) -> Result<(T, Keyed), ApiError> {
    let (body, value) = read_json_value(req, payload).await?;
    let mut values = req.headers().get_all("idempotency-key");
    let Some(header) = values.next() else {
        return Ok((body, None));
    };
    if values.next().is_some() {
        return Err(ApiError::BadRequest(
            "send one Idempotency-Key header".to_owned(),
        ));
    }
    let key = header
        .to_str()
        .map_err(|_| "Idempotency-Key must be visible ASCII characters".to_owned())
        .and_then(IdempotencyKey::parse)
        .map_err(ApiError::BadRequest)?;
    // Members in sorted order (serde_json's map is ordered by key), so the
    // same members in another order are the same request.
    let canonical = serde_json::to_vec(&value).unwrap_or_default();
    Ok((body, Some((key, body_fingerprint(&canonical)))))
}

async fn read_json_value<T: DeserializeOwned + 'static>(
    req: &HttpRequest,
    payload: web::Payload,
) -> Result<(T, serde_json::Value), ApiError> {
    let json = matches!(req.mime_type(), Ok(Some(mime)) if is_json(&mime));
    if !json {
        return Err(json_error(&JsonPayloadError::ContentType));
    }
    let mut payload = payload.into_inner();
    let value = web::Json::<serde_json::Value>::from_request(req, &mut payload)
        .await
        .map(web::Json::into_inner)
        .map_err(|e| {
            e.as_error::<JsonPayloadError>().map_or_else(
                || ApiError::BadRequest(format!("unreadable body: {e}")),
                json_error,
            )
        })?;
    body_from_value(value)
}

/// A parsed JSON body as `T`: only an object, with no control character in
/// any string (the checks of [`read_json`] after parsing).
pub fn body_from_value<T: DeserializeOwned>(
    value: serde_json::Value,
) -> Result<(T, serde_json::Value), ApiError> {
    if !value.is_object() {
        return Err(ApiError::BadRequest(
            "the body must be a JSON object".to_owned(),
        ));
    }
    if let Some(path) = control_character_in(&value, "") {
        return Err(ApiError::BadRequest(format!(
            "{path} holds a control character"
        )));
    }
    // Read in place: the value is kept for the Idempotency-Key fingerprint.
    let body = T::deserialize(&value)
        .map_err(|e| ApiError::BadRequest(format!("invalid JSON body: {e}")))?;
    Ok((body, value))
}

/// Whether `text` holds a control character (Unicode `Cc`: U+0000–U+001F,
/// U+007F–U+009F), which no value of the contract may hold.
pub fn has_control(text: &str) -> bool {
    text.chars().any(char::is_control)
}

/// Where in `value` a string (or member name) holds a control character,
/// as a JSON-pointer-like path (`/name`, `/permissions/2`).
fn control_character_in(value: &serde_json::Value, at: &str) -> Option<String> {
    match value {
        serde_json::Value::String(text) if has_control(text) => Some(at.to_owned()),
        serde_json::Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| control_character_in(item, &format!("{at}/{i}"))),
        serde_json::Value::Object(members) => members.iter().find_map(|(key, member)| {
            if has_control(key) {
                return Some(format!("{at}/(a member name)"));
            }
            control_character_in(member, &format!("{at}/{key}"))
        }),
        _ => None,
    }
}

/// A query string as `T`, refusing control characters in its values.
pub fn read_query<T: DeserializeOwned>(req: &HttpRequest) -> Result<T, ApiError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(req.query_string())
        .map_err(|e| ApiError::BadRequest(format!("invalid query string: {e}")))?;
    if let Some((key, _)) = pairs.iter().find(|(k, v)| has_control(k) || has_control(v)) {
        return Err(ApiError::BadRequest(format!(
            "query parameter {key:?} holds a control character"
        )));
    }
    web::Query::<T>::from_query(req.query_string())
        .map(web::Query::into_inner)
        .map_err(|e| ApiError::BadRequest(format!("invalid query string: {e}")))
}

/// Runs Diesel (or any blocking) work on actix's blocking pool, inside the
/// caller's tracing span, and gives up with `503` after `deadline`: a
/// connection that stalls without an error (a frozen network path) must
/// not hold the request. The work itself runs on; its connection is
/// returned, or dropped as broken, when it finally ends.
pub async fn blocking<F, T>(deadline: Duration, work: F) -> Result<T, ApiError>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let span = tracing::Span::current();
    match actix_web::rt::time::timeout(deadline, web::block(move || span.in_scope(work))).await {
        Ok(done) => {
            done.map_err(|e| ApiError::Unexpected(anyhow::anyhow!("blocking task failed: {e}")))
        }
        Err(_) => Err(past_deadline(deadline)),
    }
}

/// What a request answers when the database did not within `deadline`.
pub(crate) fn past_deadline(deadline: Duration) -> ApiError {
    tracing::warn!(
        deadline_ms = deadline.as_millis(),
        "the database did not answer within the deadline"
    );
    ApiError::Unavailable(crate::error::DATABASE_UNAVAILABLE)
}

#[cfg(test)]
mod tests {
    use super::has_control;

    #[test]
    fn control_characters_are_found_alone_and_within_text() {
        // Every scalar up to U+07FF (all one- and two-byte sequences, C0,
        // DEL and C1 among them), alone and between other text: what any
        // faster way of finding them must keep.
        for code in (0..0x800u32).filter_map(char::from_u32) {
            let alone = code.to_string();
            let framed = format!("aé{code}\u{a0}z");
            assert_eq!(
                has_control(&alone),
                code.is_control(),
                "U+{:04X}",
                code as u32
            );
            assert_eq!(
                has_control(&framed),
                code.is_control(),
                "U+{:04X}",
                code as u32
            );
        }
        for text in ["tsr_abc", "日本語", "\u{2028}", "emoji 🦀", "\u{fffd}"] {
            assert!(!has_control(text), "{text}");
        }
        assert!(has_control("🦀\u{85}"));
    }
}
