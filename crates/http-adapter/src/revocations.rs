//! `GET /api/v1/revocations?after=<cursor>`: revoked token fingerprints for
//! relying services that cache verifications themselves. When nothing is
//! new it waits (long poll) until something is, or the time runs out, so a
//! reader learns of a revocation within a second without polling hard.

use std::pin::pin;
use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};

use crate::client_auth::resource_server;
use crate::error::{ApiError, PROBLEM_JSON, Problem};
use crate::reply::json_ok;
use crate::state::AppState;

/// Entries per answer; a reader asks again with the new cursor.
const PAGE: usize = 1000;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FeedQuery {
    /// The `cursor` of the previous answer; `0` (the default) for the start.
    #[param(nullable = false, minimum = 0)]
    after: Option<i64>,
    /// Seconds to wait when nothing is new; at most `revocations.long_poll_secs`.
    #[param(nullable = false, minimum = 0)]
    wait: Option<i64>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Entry {
    cursor: i64,
    /// The revoked token's keyed fingerprint (hex), as introspection names it.
    fingerprint: String,
    /// Unix milliseconds.
    #[serde(rename = "revokedAt")]
    #[schema(value_type = i64)]
    revoked_at: i64,
}

/// Revocations after a cursor, oldest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = RevocationFeed)]
pub struct Feed {
    revocations: Vec<Entry>,
    /// Pass as `after` next time.
    cursor: i64,
    /// `false` when entries after the given cursor were already purged: the
    /// reader missed some and must drop everything it cached.
    complete: bool,
    /// `true` when more entries wait: ask again at once.
    more: bool,
}

/// Revoked token fingerprints
///
/// For resource servers that cache verifications themselves: a built-in
/// client marked `resource_server`, by HTTP Basic only. When nothing is new
/// after the cursor, the request waits (long poll) until something is or
/// `wait` runs out.
#[utoipa::path(
    get,
    path = "/api/v1/revocations",
    tag = "oauth",
    params(FeedQuery),
    security(("clientBasic" = [])),
    responses(
        (status = 200, description = "Revocations after the cursor", body = Feed),
        (status = 400, description = "Malformed query string, or a negative `after`",
            body = Problem, content_type = PROBLEM_JSON),
        (status = 401, response = crate::responses::ClientUnauthorized),
        (status = 500, response = crate::responses::InternalError),
        (status = 503, response = crate::responses::Unavailable),
    )
)]
pub async fn revocation_feed(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    resource_server(&req, &state)?;
    let query: FeedQuery = crate::body::read_query(&req)?;
    let after = query.after.unwrap_or(0);
    if after < 0 {
        return Err(ApiError::BadRequest("after must not be negative".into()));
    }
    let wait = match query.wait {
        None => state.long_poll,
        Some(secs) => Duration::from_secs(
            u64::try_from(secs)
                .map_err(|_| ApiError::BadRequest("wait must not be negative".into()))?,
        )
        .min(state.long_poll),
    };

    // Registered before reading, so a revocation landing in between still
    // wakes this request.
    let mut woken = pin!(state.revoked.notified());
    woken.as_mut().enable();
    let mut page = read(&state, after).await?;
    if page.entries.is_empty() && !wait.is_zero() {
        let _ = actix_web::rt::time::timeout(wait, woken).await;
        page = read(&state, after).await?;
    }
    let cursor = page.entries.last().map_or(after, |e| e.cursor);
    let more = page.entries.len() == PAGE;
    Ok(json_ok(&Feed {
        complete: after >= page.purged_through,
        revocations: page
            .entries
            .into_iter()
            .map(|e| Entry {
                cursor: e.cursor,
                fingerprint: e.hash.to_hex(),
                revoked_at: e.revoked_at.as_millis(),
            })
            .collect(),
        cursor,
        more,
    }))
}

async fn read(state: &AppState, after: i64) -> Result<tessera_domain::RevocationPage, ApiError> {
    Ok(state.revocations_after(after, PAGE).await??)
}
