//! Liveness and readiness probes.

use actix_web::{HttpResponse, web};
use serde::Serialize;

use crate::reply::json_ok;
use crate::state::AppState;
use std::time::Duration;

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

/// What each readiness check found: `ok`, or a short reason.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReadinessChecks {
    /// A query answers within the deadline.
    #[schema(example = "ok")]
    database: String,
    /// This instance's view of revocations is fresh (younger than
    /// `cache.max_staleness_ms`), so cached verifications may be served.
    #[schema(example = "ok")]
    revocations: String,
    /// The database's volume takes writes (SQLite); PostgreSQL manages its
    /// own storage, and a full disk there shows as `503` on writes.
    #[schema(example = "ok")]
    storage: String,
}

/// A readiness answer: `ready` with every check `ok`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReadinessDocument {
    #[schema(example = "ready")]
    status: &'static str,
    checks: ReadinessChecks,
}

/// A `503` readiness answer: problem details plus the checks.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct NotReadyProblem {
    #[serde(rename = "type")]
    #[schema(example = "about:blank")]
    kind: &'static str,
    #[schema(example = "Service Unavailable")]
    title: &'static str,
    #[schema(example = 503)]
    status: u16,
    #[schema(example = "not ready: database")]
    detail: String,
    checks: ReadinessChecks,
}

/// The longest `/readyz` waits on a check: it answers within a second.
const CHECK_DEADLINE: Duration = Duration::from_millis(800);

const OK: &str = "ok";

/// Runs a blocking check within [`CHECK_DEADLINE`].
async fn check(
    state: &AppState,
    work: impl FnOnce() -> Result<(), String> + Send + 'static,
) -> String {
    let deadline = CHECK_DEADLINE.min(state.deadline);
    match actix_web::rt::time::timeout(deadline, state.blocking(work)).await {
        Ok(Ok(Ok(()))) => OK.to_owned(),
        Ok(Ok(Err(reason))) => reason,
        Ok(Err(_)) | Err(_) => format!("no answer within {} ms", deadline.as_millis()),
    }
}

/// Readiness
///
/// Ready when the database answers, this instance's revocation view is
/// fresh, and (SQLite) the volume takes writes: a load balancer stops
/// sending traffic to an instance that fails any of them. Answers within
/// a second.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    responses(
        (status = 200, description = "Every check passes", body = ReadinessDocument,
            example = json!({"status": "ready",
                "checks": {"database": "ok", "revocations": "ok", "storage": "ok"}})),
        (status = 503, description = "A check fails; `checks` says which and why",
            body = NotReadyProblem, content_type = crate::error::PROBLEM_JSON,
            headers(("Retry-After" = String, description = "Seconds to wait before asking again")),
            example = json!({"type": "about:blank", "title": "Service Unavailable", "status": 503,
                "detail": "not ready: database",
                "checks": {"database": "no answer within 800 ms", "revocations": "ok", "storage": "ok"}})),
    )
)]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let tokens = state.tokens.clone();
    let database = check(&state, move || {
        tokens.ping().map_err(|e| {
            if tessera_domain::is_unavailable(&e) {
                "unavailable".to_owned()
            } else {
                format!("failed: {e}")
            }
        })
    });
    let storage = async {
        match state.storage.clone() {
            Some(probe) => check(&state, move || probe()).await,
            None => OK.to_owned(),
        }
    };
    let (database, storage) = futures_util::future::join(database, storage).await;
    let view = state.tokens.revocation_view();
    let revocations = if view.is_fresh() {
        OK.to_owned()
    } else {
        match view.age() {
            Some(age) => format!("stale: last proven fresh {} ms ago", age.as_millis()),
            None => "stale: not proven fresh yet".to_owned(),
        }
    };
    let checks = ReadinessChecks {
        database,
        revocations,
        storage,
    };
    let failing: Vec<&str> = [
        ("database", &checks.database),
        ("revocations", &checks.revocations),
        ("storage", &checks.storage),
    ]
    .into_iter()
    .filter(|(_, outcome)| outcome.as_str() != OK)
    .map(|(name, _)| name)
    .collect();
    if failing.is_empty() {
        return json_ok(&ReadinessDocument {
            status: "ready",
            checks,
        });
    }
    tracing::debug!(?failing, "not ready");
    let body = NotReadyProblem {
        kind: "about:blank",
        title: "Service Unavailable",
        status: 503,
        detail: format!("not ready: {}", failing.join(", ")),
        checks,
    };
    HttpResponse::ServiceUnavailable()
        .content_type(crate::error::PROBLEM_JSON)
        .insert_header((
            actix_web::http::header::RETRY_AFTER,
            crate::error::RETRY_AFTER_SECS,
        ))
        .body(serde_json::to_string(&body).unwrap_or_default())
}
