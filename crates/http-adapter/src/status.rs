//! `GET/POST /api/v1/status`: who a credential speaks for,
//! so other services can check a token in one call.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};

use crate::auth::{Caller, UsedAt, identify};
use crate::body::read_json;
use crate::error::{ApiError, PROBLEM_JSON, Problem};
use crate::reply::json_ok;
use crate::state::AppState;

/// Whom the request's credential speaks for. Times are Unix milliseconds.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StatusDocument<'a> {
    #[serde(rename = "serverTime")]
    #[schema(value_type = i64)]
    server_time: i64,
    #[serde(rename = "startTime")]
    #[schema(value_type = i64)]
    start_time: i64,
    /// The user id of the session or Bearer token; `null` without credentials.
    #[schema(required = true, example = 1)]
    whoami: Option<i64>,
    #[schema(example = "0.1.0")]
    version: &'static str,
    /// The token's permission names; every permission for a session, none
    /// without credentials.
    #[schema(example = json!(["submit_score"]))]
    permissions: Vec<&'a str>,
    /// The `echo` given, absent when none was.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    echo: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatusQuery {
    /// Repeated as `echo` in the answer.
    #[param(nullable = false)]
    echo: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusBody {
    /// Repeated as `echo` in the answer.
    echo: Option<String>,
}

/// Whom a credential speaks for
///
/// Other services check a token in one call. A session cookie decides
/// first (valid: that user; invalid: `401`), then `Authorization: Bearer`;
/// no credential at all is an anonymous `200`.
#[utoipa::path(
    get,
    path = "/api/v1/status",
    tag = "status",
    params(StatusQuery),
    security((), ("session" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "Who the credential speaks for", body = StatusDocument),
        (status = 400, description = "Malformed query string", body = Problem,
            content_type = PROBLEM_JSON),
        (status = 401, response = crate::responses::Unauthorized),
        (status = 500, response = crate::responses::InternalError),
        (status = 503, response = crate::responses::Unavailable),
    )
)]
pub async fn get_status(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let caller = identify(&req, &state, UsedAt::Status).await?;
    let query: StatusQuery = crate::body::read_query(&req)?;
    Ok(respond(&state, &caller, query.echo))
}

/// Whom a credential speaks for, `echo` from the body
///
/// As `GET`, with `echo` taken from a JSON body.
#[utoipa::path(
    post,
    path = "/api/v1/status",
    tag = "status",
    request_body = StatusBody,
    security((), ("session" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "Who the credential speaks for", body = StatusDocument),
        (status = 400, description = "Malformed JSON, a wrong type or an unknown member",
            body = Problem, content_type = PROBLEM_JSON),
        (status = 401, response = crate::responses::Unauthorized),
        (status = 413, response = crate::responses::PayloadTooLarge),
        (status = 415, response = crate::responses::UnsupportedMediaType),
        (status = 500, response = crate::responses::InternalError),
        (status = 503, response = crate::responses::Unavailable),
    )
)]
pub async fn post_status(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let caller = identify(&req, &state, UsedAt::Status).await?;
    let body: StatusBody = read_json(&req, payload).await?;
    Ok(respond(&state, &caller, body.echo))
}

fn respond(state: &AppState, caller: &Caller, echo: Option<String>) -> HttpResponse {
    let all;
    let (whoami, permissions) = match caller {
        Caller::Session(user) => {
            all = state.tokens.all_permissions();
            (Some(user.get()), all.iter().collect())
        }
        Caller::Token(principal) => (
            Some(principal.user_id.get()),
            principal.permissions.iter().collect(),
        ),
        Caller::Anonymous => (None, Vec::new()),
    };
    json_ok(&StatusDocument {
        server_time: state.tokens.now().as_millis(),
        start_time: state.start_time.as_millis(),
        whoami,
        version: env!("CARGO_PKG_VERSION"),
        permissions,
        echo,
    })
}
