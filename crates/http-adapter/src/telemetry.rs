//! The access log: one line per request with method, route template,
//! status, latency and request id. The route *template* is logged, never the
//! raw path, because the DELETE URL carries a token.

use std::time::Instant;

use actix_web::HttpMessage;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use tracing::Span;
use tracing_actix_web::{RequestId, RootSpanBuilder};

#[derive(Debug)]
pub struct RedactedRootSpan;

#[derive(Clone, Copy)]
struct Started(Instant);

impl RootSpanBuilder for RedactedRootSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        let route = request
            .match_pattern()
            .unwrap_or_else(|| "(unmatched)".to_owned());
        let request_id = request
            .extensions()
            .get::<RequestId>()
            .map(ToString::to_string)
            .unwrap_or_default();
        request.extensions_mut().insert(Started(Instant::now()));
        tracing::info_span!(
            "http_request",
            method = %request.method(),
            route = %route,
            request_id = %request_id,
        )
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
                    .get::<Started>()
                    .map(|s| s.0.elapsed().as_secs_f64() * 1000.0);
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
