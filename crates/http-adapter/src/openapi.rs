//! The OpenAPI document of the HTTP API, generated from the
//! handlers' `#[utoipa::path]` annotations and the DTOs' schemas so it
//! cannot drift from the code, served at `/api/v1/openapi.json`, and the
//! interactive page at `/docs` (Swagger UI, compiled into the binary: the
//! page loads nothing from the internet).
//!
//! `tests.rs` checks that every route `crate::routes` registers is in the
//! document and every operation of the document is registered.

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_swagger_ui::{Config, SwaggerUi};

use crate::error::ErrorBody;
use crate::error::Problem;
use crate::responses::{
    BadUserId, ClientUnauthorized, Forbidden, IdempotencyKeyReused, InternalError, NoSuchClient,
    NotOwner, OAuthBadRequest, OAuthInvalidClient, OAuthPayloadTooLarge, OAuthServerError,
    OAuthUnavailable, OAuthUnsupportedMediaType, PayloadTooLarge, Unauthorized, Unavailable,
    UnsupportedMediaType,
};
use crate::state::AppState;

pub const OPENAPI_PATH: &str = "/api/v1/openapi.json";
pub const DOCS_PATH: &str = "/docs";
/// Swagger UI's page (`/docs/`) and its assets.
pub const SWAGGER_UI_PATH: &str = "/docs/{_:.*}";

/// Registered routes the document leaves out: the page that shows the
/// document is not part of the API it describes.
#[cfg(test)]
pub const NOT_IN_DOCUMENT: [&str; 2] = [DOCS_PATH, SWAGGER_UI_PATH];

/// The contract serves token deletion at two spellings; the singular one
/// is annotated and the plural one copied from it, so they cannot differ.
const DELETE_TOKEN: &str = "/api/v1/users/{userID}/api-token/{token}";
const DELETE_TOKEN_ALIAS: &str = "/api/v1/users/{userID}/api-tokens/{token}";

const DESCRIPTION: &str = "\
Tessera issues API tokens for users and checks them for other services.

Errors are RFC 9457 problem documents (`application/problem+json`), except \
on `/api/v1/oauth/token`, `/revoke` and `/introspect`, which answer RFC 6749 \
§5.2 errors (`{\"error\", \"error_description\"}`) as OAuth2 client \
libraries expect. Times are Unix milliseconds unless a field says \
otherwise. Request bodies are at most 16 KiB.

Self-Key endpoints need the user's own session cookie: an API token there \
is `403`.";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Tessera",
        version = env!("CARGO_PKG_VERSION"),
        description = DESCRIPTION,
        license(name = "MIT", identifier = "MIT"),
    ),
    paths(
        crate::health::healthz,
        crate::health::readyz,
        crate::metrics::metrics,
        get_openapi,
        crate::status::get_status,
        crate::status::post_status,
        crate::tokens::list::list_tokens,
        crate::tokens::create::create_token,
        crate::tokens::delete::delete_token,
        crate::tokens::update::update_token,
        crate::tokens::rotate::rotate_token,
        crate::tokens::rotate::rotate_self,
        crate::audit::list_audit,
        crate::clients::list::list_clients,
        crate::clients::create::create_client,
        crate::clients::get::get_client,
        crate::clients::update::update_client,
        crate::clients::delete::delete_client,
        crate::clients::reset_secret::reset_client_secret,
        crate::oauth::create_code::create_code,
        crate::oauth::token::exchange_token,
        crate::oauth::revoke::revoke_token,
        crate::oauth::introspect::introspect_token,
        crate::revocations::revocation_feed,
    ),
    components(
        schemas(Problem, ErrorBody),
        responses(
            BadUserId,
            NoSuchClient,
            Unauthorized,
            Forbidden,
            NotOwner,
            PayloadTooLarge,
            UnsupportedMediaType,
            InternalError,
            Unavailable,
            IdempotencyKeyReused,
            ClientUnauthorized,
            OAuthBadRequest,
            OAuthInvalidClient,
            OAuthPayloadTooLarge,
            OAuthUnsupportedMediaType,
            OAuthServerError,
            OAuthUnavailable,
        ),
    ),
    modifiers(&SecuritySchemes, &DeleteTokenAlias),
    tags(
        (name = "tokens", description = "A user's API tokens, Self-Key"),
        (name = "status", description = "Whom a credential speaks for"),
        (name = "clients", description = "OAuth2 clients"),
        (name = "oauth", description = "The OAuth2 authorization-code flow, revocation, \
            introspection and the revocation feed"),
        (name = "operations", description = "Probes, metrics and this document"),
    ),
)]
struct ApiDoc;

/// The document, as the running service serves it.
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// The contract's default permission catalogue (`config/default.toml`):
/// what the printed document lists; a running instance serves its own.
pub const DEFAULT_CATALOGUE: [&str; 8] = [
    "customise_profile",
    "customise_score",
    "customise_session",
    "delete_score",
    "manage_challenges",
    "manage_rivals",
    "manage_targets",
    "submit_score",
];

/// The document with every rule the handlers enforce written in (see
/// `constraints`), permissions from `catalogue`.
pub fn openapi_value(catalogue: &[String]) -> serde_json::Value {
    let mut document =
        serde_json::to_value(openapi_document()).expect("an OpenAPI document always serialises");
    crate::constraints::apply(&mut document, catalogue);
    document
}

/// The document as pretty-printed JSON, with the default catalogue
/// (`tessera openapi` prints it).
pub fn openapi_json() -> String {
    let catalogue: Vec<String> = DEFAULT_CATALOGUE.iter().map(|p| (*p).to_owned()).collect();
    serde_json::to_string_pretty(&openapi_value(&catalogue))
        .expect("an OpenAPI document always serialises")
}

/// This document
///
/// The OpenAPI 3.1 document of every endpoint, with the permission
/// catalogue this instance accepts.
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    tag = "operations",
    responses((status = 200, description = "The OpenAPI document", body = Object,
        content_type = "application/json"))
)]
pub async fn get_openapi(state: web::Data<AppState>) -> HttpResponse {
    let document = state.openapi.get_or_init(|| {
        let catalogue: Vec<String> = state
            .tokens
            .all_permissions()
            .iter()
            .map(str::to_owned)
            .collect();
        openapi_value(&catalogue).to_string()
    });
    HttpResponse::Ok()
        .content_type(crate::reply::JSON)
        .body(document.clone())
}

/// Swagger UI's page links its assets relatively (`./swagger-ui.css`), so
/// it must be read at `/docs/`. The relative target keeps working behind a
/// proxy that mounts the service under a prefix.
pub async fn redirect_to_docs() -> HttpResponse {
    HttpResponse::PermanentRedirect()
        .insert_header((header::LOCATION, "docs/"))
        .finish()
}

/// The interactive page, reading this service's own document.
pub fn swagger_ui() -> SwaggerUi {
    SwaggerUi::new(SWAGGER_UI_PATH).config(swagger_config())
}

fn swagger_config() -> Config<'static> {
    Config::from(OPENAPI_PATH)
        // Swagger UI's default sends the document to a public validator
        // for a badge; nothing may leave for the internet.
        .validator_url("none")
        .try_it_out_enabled(true)
}

/// What Swagger UI's own service (`GET` only) leaves out at its URLs:
/// `HEAD` (the same answer without its body) and `405` with `Allow` for
/// every other method. Registered after [`swagger_ui`].
pub fn swagger_ui_head() -> actix_web::Resource {
    let config = std::sync::Arc::new(swagger_config());
    web::resource(SWAGGER_UI_PATH)
        .route(web::head().to(move |path: web::Path<String>| {
            let config = config.clone();
            async move {
                match utoipa_swagger_ui::serve(&path.into_inner(), config) {
                    Ok(Some(file)) => {
                        let mut response = HttpResponse::Ok();
                        if file.gzpipped {
                            response.insert_header((
                                header::CONTENT_ENCODING,
                                header::ContentEncoding::Gzip,
                            ));
                        }
                        response
                            .content_type(file.content_type)
                            .body(file.bytes.to_vec())
                    }
                    Ok(None) => crate::error::problem(
                        actix_web::http::StatusCode::NOT_FOUND,
                        "no endpoint at this URL",
                    ),
                    Err(error) => crate::error::problem(
                        actix_web::http::StatusCode::INTERNAL_SERVER_ERROR,
                        &error.to_string(),
                    ),
                }
            }
        }))
        .default_service(crate::method_not_allowed(
            crate::error::ErrorFormat::Problem,
            &[actix_web::http::Method::GET],
        ))
}

/// Adds the security schemes the operations name.
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                crate::session::DEFAULT_COOKIE_NAME,
                "The user's own session (Self-Key): an HS256 JWT whose `sub` is the user id, \
                 minted by the login service or `tessera session mint`. The cookie's name is \
                 `session.cookie_name`. Looked at before any `Authorization` header.",
            ))),
        );
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("tsr_ API token")
                    .description(Some(
                        "An API token this service issued. Not accepted where the user's \
                         session is needed (`403`).",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "clientBasic",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Basic)
                    .description(Some(
                        "An OAuth2 client's id and secret (RFC 6749 §2.3.1, each \
                         form-encoded). The OAuth endpoints also take `client_id` and \
                         `client_secret` in the body instead; the revocation feed takes \
                         only this.",
                    ))
                    .build(),
            ),
        );
    }
}

/// Documents the plural DELETE spelling as a copy of the singular one.
struct DeleteTokenAlias;

impl Modify for DeleteTokenAlias {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let paths = &mut openapi.paths.paths;
        let Some(mut delete) = paths.get(DELETE_TOKEN).and_then(|item| item.delete.clone()) else {
            return;
        };
        delete.operation_id = Some("delete_token_alias".to_owned());
        delete.summary = Some("Delete a token (the `api-tokens` spelling)".to_owned());
        // The plural spelling also serves `PATCH`, documented on its own.
        paths
            .entry(DELETE_TOKEN_ALIAS.to_owned())
            .or_default()
            .delete = Some(delete);
    }
}
