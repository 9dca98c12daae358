//! Liveness and readiness probes (contract §7).

use actix_web::{HttpResponse, web};

use crate::body::blocking;
use crate::error::ApiError;
use crate::state::AppState;
use crate::tokens::json_ok;

pub async fn healthz() -> HttpResponse {
    json_ok(&serde_json::json!({"status": "ok"}))
}

/// Ready when the database answers: a load balancer stops sending traffic
/// to an instance that cannot reach it.
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let tokens = state.tokens.clone();
    match blocking(move || tokens.ping()).await? {
        Ok(()) => Ok(json_ok(&serde_json::json!({"status": "ready"}))),
        Err(e) => {
            tracing::warn!(error = format!("{e:#}"), "readiness check failed");
            Err(ApiError::Unavailable("the database does not answer"))
        }
    }
}
