//! The access log and per-request observation: one line per request with
//! method, route template, status, latency and request id, the
//! `X-Request-Id` echoed back, and the request metrics. The route
//! *template* is logged and labelled, never the raw path, because the DELETE
//! URL carries a token.

use std::time::Instant;

use actix_web::HttpMessage;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use tracing::Span;
use tracing_actix_web::{RequestId, RootSpanBuilder};
use uuid::Uuid;

const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// Longest caller-supplied request id kept; longer ones are replaced, as
/// are ids with characters that do not belong in a log line or a header.
const MAX_REQUEST_ID: usize = 128;

/// What the access log and the metrics need of a request, found once when
/// it starts; `observe` takes the id and the route out when it ends.
struct Observed {
    /// The id this request is known by in logs and in its response.
    id: Option<HeaderValue>,
    started: Instant,
    route: String,
}

/// The caller's `X-Request-Id` when it is a sane token (so a trace can
/// follow one request across services), else a fresh UUID.
fn correlation_id(request: &ServiceRequest) -> HeaderValue {
    request
        .headers()
        .get(&REQUEST_ID_HEADER)
        .filter(|value| {
            let bytes = value.as_bytes();
            !bytes.is_empty()
                && bytes.len() <= MAX_REQUEST_ID
                && bytes
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.:/+=@".contains(b))
        })
        .cloned()
        .or_else(|| {
            // Encoded on the stack: no string on the way to the header.
            let generated: Uuid = **request.extensions().get::<RequestId>()?;
            HeaderValue::from_str(
                generated
                    .hyphenated()
                    .encode_lower(&mut Uuid::encode_buffer()),
            )
            .ok()
        })
        .unwrap_or(HeaderValue::from_static("-"))
}

#[derive(Debug)]
pub struct RedactedRootSpan;

impl RootSpanBuilder for RedactedRootSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        let route = request
            .match_pattern()
            .unwrap_or_else(|| "(unmatched)".to_owned());
        let id = correlation_id(request);
        let span = tracing::info_span!(
            "http_request",
            method = %request.method(),
            route = %route,
            request_id = %id.to_str().unwrap_or("-"),
        );
        request.extensions_mut().insert(Observed {
            id: Some(id),
            started: Instant::now(),
            route,
        });
        span
    }

    fn on_request_end<B: MessageBody>(
        span: Span,
        outcome: &Result<ServiceResponse<B>, actix_web::Error>,
    ) {
        let _entered = span.enter();
        match outcome {
            Ok(response) => {
                let latency_ms = response
                    .request()
                    .extensions()
                    .get::<Observed>()
                    // Microsecond resolution: `3.556`, not `3.5559679999999997`.
                    .map(|o| o.started.elapsed().as_micros() as f64 / 1000.0);
                let status = response.status().as_u16();
                if status >= 500 {
                    tracing::error!(status, latency_ms, "request finished");
                } else {
                    tracing::info!(status, latency_ms, "request finished");
                }
            }
            Err(error) => {
                let status = error.as_response_error().status_code().as_u16();
                tracing::error!(status, "request failed: {error}");
            }
        }
    }
}

/// Inside the access log (which found the id and the route): returns the
/// request id and records the request count and latency per method, route
/// template and status.
pub async fn observe(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let mut response = next.call(request).await?;
    let taken = response
        .request()
        .extensions_mut()
        .get_mut::<Observed>()
        .map(|o| (o.id.take(), std::mem::take(&mut o.route), o.started));
    if let Some((id, route, started)) = taken {
        if let Some(id) = id {
            response.headers_mut().insert(REQUEST_ID_HEADER, id);
        }
        crate::metrics::record_request(
            response.request().method(),
            route,
            response.status().as_u16(),
            started.elapsed().as_secs_f64(),
        );
    }
    Ok(response)
}
