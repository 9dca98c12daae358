//! `GET/POST /api/v1/status` (contract §6): who a credential speaks for,
//! so other services can check a token in one call.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use tessera_domain::Timestamp;

use crate::auth::{Caller, identify};
use crate::body::read_json;
use crate::error::ApiError;
use crate::state::AppState;
use crate::tokens::json_ok;

#[derive(Debug, Serialize)]
struct StatusDocument<'a> {
    #[serde(rename = "serverTime")]
    server_time: Timestamp,
    #[serde(rename = "startTime")]
    start_time: Timestamp,
    whoami: Option<i64>,
    version: &'static str,
    permissions: Vec<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    echo: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct StatusQuery {
    echo: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusBody {
    echo: Option<String>,
}

pub async fn get_status(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let caller = identify(&req, &state).await?;
    let query = web::Query::<StatusQuery>::from_query(req.query_string())
        .map_err(|e| ApiError::BadRequest(format!("invalid query string: {e}")))?;
    Ok(respond(&state, &caller, query.into_inner().echo))
}

pub async fn post_status(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let caller = identify(&req, &state).await?;
    let body: StatusBody = read_json(&req, payload).await?;
    Ok(respond(&state, &caller, body.echo))
}

fn respond(state: &AppState, caller: &Caller, echo: Option<String>) -> HttpResponse {
    let all;
    let (whoami, permissions) = match caller {
        Caller::Session(user) => {
            all = state.tokens.catalogue().all();
            (Some(user.get()), all.iter().collect())
        }
        Caller::Token(principal) => (
            Some(principal.user_id.get()),
            principal.permissions.iter().collect(),
        ),
        Caller::Anonymous => (None, Vec::new()),
    };
    json_ok(&StatusDocument {
        server_time: state.tokens.now(),
        start_time: state.start_time,
        whoami,
        version: env!("CARGO_PKG_VERSION"),
        permissions,
        echo,
    })
}
