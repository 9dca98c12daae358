//! `GET /api/v1/users/{userID}/audit`: a user's audit trail, page by page,
//! in the exact form its hash chain covers.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tessera_domain::{ActorKind, AuditEvent};

use crate::auth::SelfKey;
use crate::error::ApiError;
use crate::reply::json_ok;
use crate::state::AppState;

/// Events per page unless `limit` says otherwise, and at most.
const DEFAULT_LIMIT: i64 = 100;
const MAX_LIMIT: i64 = 500;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Events after this `seq`; `0` (the default) from the first.
    #[param(nullable = false, minimum = 0)]
    after: Option<i64>,
    /// Events per page, 1–500 (default 100).
    #[param(nullable = false, minimum = 1, maximum = 500)]
    limit: Option<i64>,
}

/// Who made a change: `session` (the user), `token`, `client`, `operator`
/// or `system`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ActorDocument {
    // The domain's own type: spelled exactly as the hashed export is.
    #[schema(value_type = String, example = "session")]
    kind: ActorKind,
    /// The user's, token's or client's id; `null` for `operator` and `system`.
    #[schema(required = true, example = "1")]
    id: Option<String>,
}

/// One event. `hash` is the lowercase hex SHA-256 of the event without
/// `hash`, serialised by RFC 8785; `prevHash` is the previous event's
/// `hash` (64 zeros for `seq` 1).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = AuditEvent)]
pub struct AuditEventDocument {
    /// 1, 2, 3… per user, without gaps.
    seq: u64,
    /// Unix milliseconds.
    #[schema(example = 1_764_337_200_000_i64)]
    at: i64,
    #[serde(rename = "type")]
    #[schema(example = "token.created")]
    kind: String,
    actor: ActorDocument,
    #[serde(rename = "tokenID")]
    #[schema(required = true, format = Uuid)]
    token_id: Option<String>,
    #[serde(rename = "clientID")]
    #[schema(required = true)]
    client_id: Option<String>,
    /// What else the event records; never a token or a secret.
    #[schema(value_type = Object)]
    details: Map<String, Value>,
    #[serde(rename = "prevHash")]
    #[schema(pattern = "^[0-9a-f]{64}$")]
    prev_hash: String,
    #[schema(pattern = "^[0-9a-f]{64}$")]
    hash: String,
}

impl From<AuditEvent> for AuditEventDocument {
    fn from(event: AuditEvent) -> Self {
        Self {
            seq: event.seq,
            at: event.at,
            kind: event.kind,
            actor: ActorDocument {
                kind: event.actor.kind,
                id: event.actor.id,
            },
            token_id: event.token_id,
            client_id: event.client_id,
            details: event.details,
            prev_hash: event.prev_hash,
            hash: event.hash,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = AuditPage)]
pub struct AuditPage {
    /// Oldest first.
    events: Vec<AuditEventDocument>,
    /// The last `seq` of this page when more events follow (pass it as
    /// `after`); `null` at the end.
    #[schema(required = true)]
    next: Option<u64>,
}

/// A user's audit trail
///
/// Every change to the user's tokens, clients or suspension, oldest first,
/// as a hash chain anyone holding the export can check offline.
#[utoipa::path(
    get,
    path = "/api/v1/users/{userID}/audit",
    tag = "tokens",
    params(crate::tokens::UserPath, AuditQuery),
    security(("session" = [])),
    responses(
        (status = 200, description = "One page of the user's events", body = AuditPage),
        (status = 400, response = crate::responses::BadUserId),
        (status = 401, response = crate::responses::Unauthorized),
        (status = 403, response = crate::responses::Forbidden),
        (status = 500, response = crate::responses::InternalError),
        (status = 503, response = crate::responses::Unavailable),
    )
)]
pub async fn list_audit(
    SelfKey(user): SelfKey,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let query: AuditQuery = crate::body::read_query(&req)?;
    let after = query.after.unwrap_or(0);
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if after < 0 {
        return Err(ApiError::BadRequest("after must not be negative".into()));
    }
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::BadRequest(format!(
            "limit must be between 1 and {MAX_LIMIT}"
        )));
    }
    let (after, limit) = (after.unsigned_abs(), limit.unsigned_abs() as usize);
    // One more than asked: whether another page follows.
    let mut events = state.audit_events(user, after, limit + 1).await??;
    let more = events.len() > limit;
    events.truncate(limit);
    let next = more.then(|| events.last().map(|e| e.seq)).flatten();
    Ok(json_ok(&AuditPage {
        events: events.into_iter().map(AuditEventDocument::from).collect(),
        next,
    }))
}
