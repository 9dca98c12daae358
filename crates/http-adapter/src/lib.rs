//! Tessera's HTTP adapter: the actix-web application (routes, credentials,
//! DTOs, error mapping) over the domain's token service. The server crate
//! only binds it to a socket.

mod audit;
mod auth;
mod batches;
mod body;
mod canary;
mod client_auth;
mod clients;
mod constraints;
mod dto;
mod error;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod health;
mod metrics;
mod oauth;
mod openapi;
mod reply;
mod responses;
mod revocations;
mod services;
mod session;
mod state;
mod status;
mod telemetry;
mod tokens;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::{ErrorHandlers, from_fn};
use actix_web::{App, FromRequest, Handler, Responder, Route, guard, web};
use tracing_actix_web::TracingLogger;

pub use error::ApiError;
use error::ErrorFormat;
pub use metrics::{HTTP_DURATION, describe_metrics};
pub use openapi::openapi_json;
pub use session::{SessionCodec, SessionError, SessionSettings};
pub use state::{AppState, MetricsRenderer, StorageProbe};
pub use telemetry::RedactedRootSpan;

/// Request bodies larger than this are refused with 413.
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

/// One resource: its path templates, the error shape it speaks and a
/// handler per method.
struct Endpoint {
    paths: &'static [&'static str],
    format: ErrorFormat,
    routes: Vec<(Method, Route)>,
}

fn endpoint(paths: &'static [&'static str], routes: Vec<(Method, Route)>) -> Endpoint {
    Endpoint {
        paths,
        format: ErrorFormat::Problem,
        routes,
    }
}

/// An endpoint whose callers are OAuth2 client libraries: RFC 6749 errors.
fn oauth_endpoint(paths: &'static [&'static str], routes: Vec<(Method, Route)>) -> Endpoint {
    Endpoint {
        format: ErrorFormat::OAuth,
        ..endpoint(paths, routes)
    }
}

/// A handler for `method`; a `GET` handler answers `HEAD` too (RFC 9110:
/// same status and headers, and actix sends no body for `HEAD`).
fn on<F, Args>(method: Method, handler: F) -> (Method, Route)
where
    F: Handler<Args>,
    Args: FromRequest + 'static,
    F::Output: Responder + 'static,
{
    let route = if method == Method::GET {
        web::route().guard(guard::Any(guard::Get()).or(guard::Head()))
    } else {
        web::route().method(method.clone())
    };
    (method, route.to(handler))
}

/// What a resource answers to a method it does not serve: `405` with the
/// `Allow` header (RFC 9110), in the resource's error shape.
pub(crate) fn method_not_allowed(format: ErrorFormat, methods: &[Method]) -> Route {
    let mut allowed: Vec<&str> = methods.iter().map(Method::as_str).collect();
    if methods.contains(&Method::GET) {
        allowed.push("HEAD");
    }
    let allow = allowed.join(", ");
    web::route().to(move || {
        let allow = allow.clone();
        async move {
            let status = actix_web::http::StatusCode::METHOD_NOT_ALLOWED;
            let detail = format!("this URL accepts {allow}");
            let mut response = format.respond(status, &detail);
            if let Ok(value) = actix_web::http::header::HeaderValue::from_str(&allow) {
                response
                    .headers_mut()
                    .insert(actix_web::http::header::ALLOW, value);
            }
            response
        }
    })
}

/// Every route of the application. Routes are declared here and nowhere
/// else, so `route_table` (which the OpenAPI coverage test reads) lists
/// exactly what `routes` registers. Order matters: `clients/create`
/// before `clients/{clientID}`, and the hot paths (status, introspection,
/// then the probes) first, since actix tries resources in order.
fn endpoints() -> Vec<Endpoint> {
    use openapi::{DOCS_PATH, OPENAPI_PATH};
    vec![
        // The two paths other services call on every request of theirs
        // first, then the probes (every few seconds), then the rest.
        endpoint(
            &["/api/v1/status"],
            vec![
                on(Method::GET, status::get_status),
                on(Method::POST, status::post_status),
            ],
        ),
        oauth_endpoint(
            &["/api/v1/oauth/introspect"],
            vec![on(Method::POST, oauth::introspect::introspect_token)],
        ),
        endpoint(&["/healthz"], vec![on(Method::GET, health::healthz)]),
        endpoint(&["/readyz"], vec![on(Method::GET, health::readyz)]),
        endpoint(&["/metrics"], vec![on(Method::GET, metrics::metrics)]),
        endpoint(&[OPENAPI_PATH], vec![on(Method::GET, openapi::get_openapi)]),
        endpoint(
            &[DOCS_PATH],
            vec![on(Method::GET, openapi::redirect_to_docs)],
        ),
        endpoint(
            &["/api/v1/users/{userID}/api-tokens"],
            vec![on(Method::GET, tokens::list::list_tokens)],
        ),
        endpoint(
            &["/api/v1/users/{userID}/audit"],
            vec![on(Method::GET, audit::list_audit)],
        ),
        endpoint(
            &["/api/v1/users/{userID}/api-tokens/create"],
            vec![on(Method::POST, tokens::create::create_token)],
        ),
        endpoint(
            &["/api/v1/users/{userID}/api-token/{token}"],
            vec![on(Method::DELETE, tokens::delete::delete_token)],
        ),
        endpoint(
            &["/api/v1/users/{userID}/api-tokens/{token}"],
            vec![
                on(Method::DELETE, tokens::delete::delete_token),
                on(Method::PATCH, tokens::update::update_token),
            ],
        ),
        endpoint(
            &["/api/v1/users/{userID}/api-tokens/{id}/rotate"],
            vec![on(Method::POST, tokens::rotate::rotate_token)],
        ),
        endpoint(
            &["/api/v1/tokens/rotate"],
            vec![on(Method::POST, tokens::rotate::rotate_self)],
        ),
        endpoint(
            &["/api/v1/clients"],
            vec![on(Method::GET, clients::list::list_clients)],
        ),
        endpoint(
            &["/api/v1/clients/create"],
            vec![on(Method::POST, clients::create::create_client)],
        ),
        endpoint(
            &["/api/v1/clients/{clientID}"],
            vec![
                on(Method::GET, clients::get::get_client),
                on(Method::PATCH, clients::update::update_client),
                on(Method::DELETE, clients::delete::delete_client),
            ],
        ),
        endpoint(
            &["/api/v1/clients/{clientID}/reset-secret"],
            vec![on(Method::POST, clients::reset_secret::reset_client_secret)],
        ),
        endpoint(
            &["/api/v1/oauth/create-code"],
            vec![on(Method::POST, oauth::create_code::create_code)],
        ),
        oauth_endpoint(
            &["/api/v1/oauth/token"],
            vec![on(Method::POST, oauth::token::exchange_token)],
        ),
        endpoint(
            &["/api/v1/revocations"],
            vec![on(Method::GET, revocations::revocation_feed)],
        ),
        oauth_endpoint(
            &["/api/v1/oauth/revoke"],
            vec![on(Method::POST, oauth::revoke::revoke_token)],
        ),
    ]
}

fn routes(cfg: &mut web::ServiceConfig) {
    // Paths without a variable first: actix tries resources in order, and a
    // templated one costs a regex match per request that passes it (twice:
    // routing, then the route label of the access log). Introspection sat
    // behind seven of them — a third of its CPU time in a profile. No
    // template claims a path that a fixed one is meant to serve
    // (`clients/create` must win over `clients/{clientID}`), so the order
    // among fixed paths, and among templates, is kept.
    let mut endpoints = endpoints();
    endpoints.sort_by_key(|endpoint| endpoint.paths.iter().any(|path| path.contains('{')));
    for Endpoint {
        paths,
        format,
        routes,
    } in endpoints
    {
        let methods: Vec<Method> = routes.iter().map(|(method, _)| method.clone()).collect();
        let resource = routes
            .into_iter()
            .fold(
                web::resource(paths.to_vec()).app_data(format),
                |resource, (_, route)| resource.route(route),
            )
            .default_service(method_not_allowed(format, &methods));
        cfg.service(resource);
    }
    // Swagger UI is a service of its own (one resource, GET only), not a
    // handler per method; `route_table` lists it by hand.
    cfg.service(openapi::swagger_ui());
    cfg.service(openapi::swagger_ui_head());
}

/// The error shape of the endpoint at `path` (a template).
#[cfg(test)]
fn error_format_of(path: &str) -> ErrorFormat {
    endpoints()
        .iter()
        .find(|endpoint| endpoint.paths.contains(&path))
        .map_or(ErrorFormat::Problem, |endpoint| endpoint.format)
}

/// Every (method, path template) that `routes` registers.
#[cfg(test)]
fn route_table() -> Vec<(Method, &'static str)> {
    let mut table: Vec<(Method, &'static str)> = endpoints()
        .iter()
        .flat_map(|endpoint| {
            endpoint.paths.iter().flat_map(|path| {
                endpoint
                    .routes
                    .iter()
                    .map(|(method, _)| (method.clone(), *path))
            })
        })
        .collect();
    table.push((Method::GET, openapi::SWAGGER_UI_PATH));
    table
}

#[cfg(test)]
mod tests;
