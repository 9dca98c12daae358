//! Tessera's HTTP adapter: the actix-web application (routes, credentials,
//! DTOs, error mapping) over the domain's token service. The server crate
//! only binds it to a socket.

mod auth;
mod body;
mod clients;
mod dto;
mod error;
mod health;
pub mod metrics;
mod oauth;
mod revocations;
mod session;
mod state;
mod status;
mod telemetry;
mod tokens;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::middleware::{ErrorHandlers, from_fn};
use actix_web::{App, web};
use tracing_actix_web::TracingLogger;

pub use error::ApiError;
pub use metrics::MetricsRenderer;
pub use session::{SessionCodec, SessionError, SessionSettings};
pub use state::AppState;
pub use telemetry::RedactedRootSpan;

/// Request bodies larger than this are refused with 413 (contract §1).
pub const BODY_LIMIT: usize = 16 * 1024;

/// The whole application; `HttpServer::new(move || app(state.clone()))`.
pub fn app(
    state: AppState,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        // Inner: anything the framework answers by itself (405, a 404 of an
        // unknown route, a payload error) still leaves as problem+json.
        .wrap(ErrorHandlers::new().default_handler(error::problem_fallback))
        // Between: the request id returned, the request counted.
        .wrap(from_fn(telemetry::observe))
        // Outer: one access-log line per request, with the final status.
        .wrap(TracingLogger::<RedactedRootSpan>::new())
        .app_data(web::Data::new(state))
        .app_data(body::json_config())
        .app_data(web::PayloadConfig::new(BODY_LIMIT))
        .configure(routes)
        .default_service(web::to(error::unknown_route))
}

fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/healthz").route(web::get().to(health::healthz)))
        .service(web::resource("/readyz").route(web::get().to(health::readyz)))
        .service(web::resource("/metrics").route(web::get().to(metrics::metrics)))
        .service(
            web::resource("/api/v1/status")
                .route(web::get().to(status::get_status))
                .route(web::post().to(status::post_status)),
        )
        .service(
            web::resource("/api/v1/users/{userID}/api-tokens")
                .route(web::get().to(tokens::list::list_tokens)),
        )
        .service(
            web::resource("/api/v1/users/{userID}/api-tokens/create")
                .route(web::post().to(tokens::create::create_token)),
        )
        .service(
            web::resource([
                "/api/v1/users/{userID}/api-token/{token}",
                "/api/v1/users/{userID}/api-tokens/{token}",
            ])
            .route(web::delete().to(tokens::delete::delete_token)),
        )
        .service(web::resource("/api/v1/clients").route(web::get().to(clients::list::list_clients)))
        .service(
            web::resource("/api/v1/clients/create")
                .route(web::post().to(clients::create::create_client)),
        )
        .service(
            web::resource("/api/v1/clients/{clientID}")
                .route(web::get().to(clients::get::get_client))
                .route(web::patch().to(clients::update::update_client))
                .route(web::delete().to(clients::delete::delete_client)),
        )
        .service(
            web::resource("/api/v1/clients/{clientID}/reset-secret")
                .route(web::post().to(clients::reset_secret::reset_client_secret)),
        )
        .service(
            web::resource("/api/v1/oauth/create-code")
                .route(web::post().to(oauth::create_code::create_code)),
        )
        .service(
            web::resource("/api/v1/oauth/token")
                .route(web::post().to(oauth::token::exchange_token)),
        )
        .service(
            web::resource("/api/v1/oauth/introspect")
                .route(web::post().to(oauth::introspect::introspect_token)),
        )
        .service(
            web::resource("/api/v1/revocations").route(web::get().to(revocations::revocation_feed)),
        )
        .service(
            web::resource("/api/v1/oauth/revoke")
                .route(web::post().to(oauth::revoke::revoke_token)),
        );
}

#[cfg(test)]
mod tests;
