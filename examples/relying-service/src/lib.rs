//! A scoreboard that accepts Tessera tokens: the smallest service that
//! protects a route with `tessera-client`. `POST /scores` needs a valid
//! token carrying `submit_score`; `GET /healthz` needs nothing.

use actix_web::{HttpResponse, web};
use tessera_client::{AuthError, Authenticated};

/// The permission `POST /scores` requires.
pub const SUBMIT: &str = "submit_score";

/// The routes; the app must hold a `tessera_client::Verifier` as app data.
pub fn routes(config: &mut web::ServiceConfig) {
    config
        .route("/healthz", web::get().to(healthz))
        .route("/scores", web::post().to(submit_score));
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().body("ok")
}

async fn submit_score(caller: Authenticated) -> Result<HttpResponse, AuthError> {
    let principal = caller.require(SUBMIT)?;
    Ok(HttpResponse::Created().json(serde_json::json!({
        "userId": principal.user_id,
        "accepted": true,
    })))
}
