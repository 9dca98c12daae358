//! `GET/POST /api/v1/status`: who a credential speaks for,
//! so other services can check a token in one call.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};

use crate::auth::{Caller, UsedAt, identify};
use crate::body::read_json;
use crate::error::{ApiError, PROBLEM_JSON, Problem};
use crate::reply::{Object, Written, json_written};
use crate::state::AppState;
use tessera_domain::PermissionSet;

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
    #[serde(serialize_with = "names")]
    #[schema(value_type = Vec<String>, example = json!(["submit_score"]))]
    permissions: &'a PermissionSet,
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
pub async fn get_status(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    // The state from the request rather than as a second extractor: the
    // extraction machinery of two arguments cost ~400 instructions, a
    // tenth of what a cached verification adds to a request.
    let state = AppState::of(&req)?;
    let caller = identify(&req, state, UsedAt::Status).await?;
    // Checks rarely have a query string: nothing to parse then.
    let echo = if req.query_string().is_empty() {
        None
    } else {
        crate::body::read_query::<StatusQuery>(&req)?.echo
    };
    Ok(respond(state, &caller, echo))
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

/// A permission set as the JSON array of its names.
fn names<S: serde::Serializer>(set: &&PermissionSet, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(set.iter())
}

fn respond(state: &AppState, caller: &Caller, echo: Option<String>) -> HttpResponse {
    let all;
    let none = PermissionSet::default();
    let (whoami, permissions) = match caller {
        Caller::Session(user) => {
            all = state.tokens.all_permissions();
            (Some(user.get()), &all)
        }
        Caller::Token(principal) => (Some(principal.user_id.get()), &*principal.permissions),
        Caller::Anonymous => (None, &none),
    };
    let document = StatusDocument {
        server_time: state.tokens.now().as_millis(),
        start_time: state.start_time.as_millis(),
        whoami,
        version: env!("CARGO_PKG_VERSION"),
        permissions,
        echo,
    };
    json_written(&document)
}

/// Every verification answers with one: serde's derive spent ~3k
/// instructions on it (key escaping, dispatch per member), a third of what
/// the rest of a cached verification costs.
impl Written for StatusDocument<'_> {
    fn write(&self, object: &mut Object) {
        object.int("serverTime", self.server_time);
        object.int("startTime", self.start_time);
        match self.whoami {
            Some(user) => object.int("whoami", user),
            None => object.null("whoami"),
        }
        object.string("version", self.version);
        object.strings("permissions", self.permissions.iter());
        if let Some(echo) = &self.echo {
            object.string("echo", echo);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::StatusDocument;
    use crate::reply::{assert_written_as_serde, written};
    use tessera_domain::PermissionSet;

    #[test]
    fn the_written_document_is_what_serde_writes() {
        let documents = [
            StatusDocument {
                server_time: 1_764_600_000_123,
                start_time: 0,
                whoami: None,
                version: "0.1.0",
                permissions: &PermissionSet::default(),
                echo: None,
            },
            StatusDocument {
                server_time: -5,
                start_time: i64::MAX,
                whoami: Some(9_223_372_036_854_775_807),
                version: "0.1.0",
                permissions: &PermissionSet::from_trusted([
                    "submit_score".to_owned(),
                    "customise_profile".to_owned(),
                ]),
                echo: Some("hé ✓ \u{7f} ok".to_owned()),
            },
            StatusDocument {
                server_time: 1,
                start_time: 2,
                whoami: Some(3),
                version: "0.1.0",
                permissions: &PermissionSet::from_trusted(["a".to_owned()]),
                echo: Some(String::new()),
            },
        ];
        for document in &documents {
            assert_written_as_serde(document);
        }
        for needs_escaping in ["say \"hi\"", "back\\slash", "tab\there", "\u{1}"] {
            let document = StatusDocument {
                server_time: 1,
                start_time: 2,
                whoami: None,
                version: "0.1.0",
                permissions: &PermissionSet::default(),
                echo: Some(needs_escaping.to_owned()),
            };
            assert_eq!(
                written(&document),
                None,
                "{needs_escaping:?} is left to serde"
            );
        }
    }
}
