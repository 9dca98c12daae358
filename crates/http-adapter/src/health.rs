//! Liveness and readiness probes (contract §7).

use actix_web::{HttpResponse, web};
use serde::Serialize;

use crate::body::blocking;
use crate::error::ApiError;
use crate::state::AppState;
use crate::tokens::json_ok;

/// A probe's answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ProbeDocument {
    /// `ok` for liveness, `ready` for readiness.
    #[schema(example = "ok")]
    status: &'static str,
}

/// Liveness
///
/// `200` while the process runs.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    responses((status = 200, description = "The process runs", body = ProbeDocument,
        example = json!({"status": "ok"})))
)]
pub async fn healthz() -> HttpResponse {
    json_ok(&ProbeDocument { status: "ok" })
}

/// Readiness
///
/// Ready when the database answers: a load balancer stops sending traffic
/// to an instance that cannot reach it.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    responses(
        (status = 200, description = "The database answers", body = ProbeDocument,
            example = json!({"status": "ready"})),
        (status = 500, response = crate::openapi::InternalError),
        (status = 503, description = "The database does not answer", body = crate::error::Problem,
            content_type = crate::error::PROBLEM_JSON),
    )
)]
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let tokens = state.tokens.clone();
    match blocking(move || tokens.ping()).await? {
        Ok(()) => Ok(json_ok(&ProbeDocument { status: "ready" })),
        Err(e) => {
            tracing::warn!(error = format!("{e:#}"), "readiness check failed");
            Err(ApiError::Unavailable("the database does not answer"))
        }
    }
}
