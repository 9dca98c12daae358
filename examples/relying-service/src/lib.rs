//! A scoreboard that accepts Tessera tokens: the smallest service that
//! protects a route with `tessera-client`. `POST /scores` needs a valid
//! token carrying `submit_score`; `GET /healthz` and `GET /stats` (the
//! verifier's counters, for dashboards and the benchmark) need nothing.

use actix_web::{HttpRequest, HttpResponse, web};
use tessera_client::{AuthError, Authenticated, Verifier};

/// The permission `POST /scores` requires.
pub const SUBMIT: &str = "submit_score";

/// The routes; the app must hold a `tessera_client::Verifier` as app data.
pub fn routes(config: &mut web::ServiceConfig) {
    config
        .route("/healthz", web::get().to(healthz))
        .route("/stats", web::get().to(stats))
        .route("/scores", web::post().to(submit_score));
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().body("ok")
}

async fn stats(req: HttpRequest) -> HttpResponse {
    let Some(verifier) = req.app_data::<Verifier>() else {
        return HttpResponse::InternalServerError().finish();
    };
    let stats = verifier.stats();
    HttpResponse::Ok().json(serde_json::json!({
        "fresh": verifier.is_fresh(),
        "cached": verifier.cached(),
        "cacheHits": stats.cache_hits,
        "introspections": stats.introspections,
        "revocations": stats.revocations,
        "feedFailures": stats.feed_failures,
    }))
}

async fn submit_score(caller: Authenticated) -> Result<HttpResponse, AuthError> {
    let principal = caller.require(SUBMIT)?;
    Ok(HttpResponse::Created().json(serde_json::json!({
        "userId": principal.user_id,
        "accepted": true,
    })))
}
