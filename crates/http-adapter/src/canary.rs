//! Reporting a canary's use: answered by the caller exactly like an unknown
//! token, and here counted and queued for the owner's audit trail (and so
//! for webhooks, and the log's warning, both written by the background
//! flush) without waiting for any write.

use std::net::IpAddr;

use actix_web::HttpRequest;
use actix_web::http::header::USER_AGENT;
use tessera_domain::{Canary, CanaryUse};

use crate::state::AppState;

/// The longest `User-Agent` recorded, in bytes: the header is the caller's
/// to fill, the trail is the owner's to read.
const MAX_USER_AGENT: usize = 256;

/// Reports `canary`, presented in `req` from `ip` (and, for introspection,
/// through `resource_server`).
pub(crate) fn report(
    state: &AppState,
    req: &HttpRequest,
    canary: Canary,
    ip: Option<IpAddr>,
    resource_server: Option<&str>,
) {
    // The route template, never the raw path (which may hold anything).
    let route = format!(
        "{} {}",
        req.method(),
        req.match_pattern()
            .unwrap_or_else(|| "(unmatched)".to_owned())
    );
    let user_agent = req
        .headers()
        .get(USER_AGENT)
        .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
        .map(|mut agent| {
            agent.truncate(agent.floor_char_boundary(MAX_USER_AGENT));
            agent
        });
    crate::metrics::canary_used();
    let used = CanaryUse {
        canary,
        at: state.tokens.now(),
        ip,
        user_agent,
        route,
        resource_server: resource_server.map(str::to_owned),
        uses: 1,
    };
    if !state.tokens.report_canary(used) {
        tracing::error!(
            user = canary.user.get(),
            token_id = %canary.id,
            "too many canary uses are waiting to be recorded: this one is only in this log"
        );
    }
}
