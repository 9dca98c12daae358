//! `GET /metrics` and what the adapter records: requests per
//! route template, verifications by outcome, tokens created and deleted.
//! The adapter records through the `metrics` facade and serves what the
//! server's recorder renders; which exporter collects is the server's
//! choice, and with none installed recording costs next to nothing.

use std::cell::RefCell;
use std::collections::HashMap;

use actix_web::http::Method;
use actix_web::{HttpResponse, web};
use metrics::{Counter, Histogram, counter, histogram};
use tessera_domain::VerifyError;

use crate::state::AppState;

const HTTP_REQUESTS: &str = "http_requests_total";
/// Named for the server, which gives this histogram its buckets.
pub const HTTP_DURATION: &str = "http_request_duration_seconds";
const VERIFICATIONS: &str = "tessera_token_verifications_total";
const TOKENS_CREATED: &str = "tessera_tokens_created_total";
const TOKENS_DELETED: &str = "tessera_tokens_deleted_total";
const CANARY_USES: &str = "tessera_canary_uses_total";

/// `tessera_token_verifications_total`'s outcomes, indexed by `record_verification`.
const OUTCOMES: [&str; 8] = [
    "valid",
    "unknown",
    "expired",
    "malformed",
    "error",
    "disabled",
    "restricted",
    "suspended",
];

/// Help texts, once per process, before anything is recorded.
pub fn describe_metrics() {
    metrics::describe_counter!(
        HTTP_REQUESTS,
        "HTTP requests by method, route template and status"
    );
    metrics::describe_histogram!(
        HTTP_DURATION,
        metrics::Unit::Seconds,
        "HTTP request latency by method and route template"
    );
    metrics::describe_counter!(
        VERIFICATIONS,
        "Token verifications by outcome: valid, unknown, expired, malformed, error, \
         disabled, restricted, suspended"
    );
    metrics::describe_counter!(TOKENS_CREATED, "Tokens created (API and OAuth2 grants)");
    metrics::describe_counter!(
        TOKENS_DELETED,
        "Tokens deleted by their owners through this instance (DELETE)"
    );
    metrics::describe_counter!(
        CANARY_USES,
        "Uses of canary tokens (each answered like an unknown token, and an alarm)"
    );
    counter!(CANARY_USES).increment(0);
    // Every series exists from the start at 0: a rate or an alert over a
    // series that appears only on its first event misses that event.
    for outcome in OUTCOMES {
        counter!(VERIFICATIONS, "outcome" => outcome).increment(0);
    }
    counter!(TOKENS_CREATED).increment(0);
    counter!(TOKENS_DELETED).increment(0);
}

/// Method, route template, status.
type RequestLabels = (&'static str, String, u16);

/// The method as a label: any token is a valid HTTP method, so anything
/// but the standard ones shares one label and callers cannot grow the
/// number of series (routes are templates, statuses a short list).
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}

thread_local! {
    /// Each worker's handles per method, route template and status: a
    /// request then costs two atomic updates, not building and hashing a
    /// label set in the registry. Bounded by the routes the app declares.
    /// (A thread that recorded before a recorder was installed would keep
    /// no-op handles: the server installs it before any worker starts.)
    static REQUEST_HANDLES: RefCell<HashMap<RequestLabels, (Counter, Histogram)>> =
        RefCell::new(HashMap::new());
    /// Likewise, one per verification outcome.
    static VERIFICATION_HANDLES: [Counter; 8] =
        OUTCOMES.map(|outcome| counter!(VERIFICATIONS, "outcome" => outcome));
}

pub(crate) fn record_request(method: &Method, route: String, status: u16, seconds: f64) {
    REQUEST_HANDLES.with_borrow_mut(|handles| {
        let (count, latency) = handles
            .entry((method_label(method), route, status))
            .or_insert_with_key(|&(method, ref route, status)| {
                (
                    counter!(HTTP_REQUESTS, "method" => method, "route" => route.clone(), "status" => status.to_string()),
                    histogram!(HTTP_DURATION, "method" => method, "route" => route.clone()),
                )
            });
        count.increment(1);
        latency.record(seconds);
    });
}

pub(crate) fn record_verification<T>(outcome: &Result<T, VerifyError>) {
    let index = match outcome {
        Ok(_) => 0,
        // `verify_token` answers a canary as unknown before counting it;
        // were one to reach here, it would count as unknown all the same:
        // this series is no way to tell the two apart.
        Err(VerifyError::Unknown | VerifyError::Canary(_)) => 1,
        Err(VerifyError::Expired) => 2,
        Err(VerifyError::Malformed) => 3,
        Err(VerifyError::Unexpected(_)) => 4,
        Err(VerifyError::Disabled) => 5,
        Err(VerifyError::Restricted) => 6,
        Err(VerifyError::Suspended) => 7,
    };
    VERIFICATION_HANDLES.with(|handles| handles[index].increment(1));
}

pub(crate) fn token_created() {
    counter!(TOKENS_CREATED).increment(1);
}

pub(crate) fn canary_used() {
    counter!(CANARY_USES).increment(1);
}

pub(crate) fn token_deleted() {
    counter!(TOKENS_DELETED).increment(1);
}

/// Prometheus metrics
///
/// Prometheus text format (0.0.4): requests per route template,
/// verifications by outcome, tokens created and deleted, pool state.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    responses((status = 200, description = "The current metrics", body = String,
        content_type = "text/plain"))
)]
pub(crate) async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let body = state
        .metrics
        .as_ref()
        .map(|render| render())
        .unwrap_or_default();
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(body)
}
