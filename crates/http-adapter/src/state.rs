//! What every handler shares: the token and OAuth2 services, the session
//! codec and the facts `/api/v1/status` reports.

use std::sync::Arc;

use tessera_domain::{Timestamp, TokenService};
use tessera_oauth_clients::AuthorizationService;

use crate::session::SessionCodec;

#[derive(Clone, Debug)]
pub struct AppState {
    pub(crate) tokens: Arc<TokenService>,
    pub(crate) oauth: Arc<AuthorizationService>,
    pub(crate) sessions: Arc<SessionCodec>,
    pub(crate) start_time: Timestamp,
}

impl AppState {
    pub fn new(
        tokens: Arc<TokenService>,
        oauth: Arc<AuthorizationService>,
        sessions: SessionCodec,
    ) -> Self {
        let start_time = tokens.now();
        Self {
            tokens,
            oauth,
            sessions: Arc::new(sessions),
            start_time,
        }
    }
}
