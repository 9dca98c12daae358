//! How a [`Verifier`](crate::Verifier) is set up: where Tessera is, the
//! resource server's credentials, and the limits of the local cache.

use std::time::Duration;

/// Settings of a [`Verifier`](crate::Verifier); every limit has a default fit for most
/// services.
#[derive(Clone)]
pub struct Builder {
    pub(crate) base_url: String,
    pub(crate) client_id: String,
    pub(crate) client_secret: String,
    pub(crate) max_staleness: Duration,
    pub(crate) active_ttl: Duration,
    pub(crate) inactive_ttl: Duration,
    pub(crate) max_entries: usize,
    pub(crate) request_timeout: Duration,
}

impl std::fmt::Debug for Builder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Builder")
            .field("base_url", &self.base_url)
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("max_staleness", &self.max_staleness)
            .field("active_ttl", &self.active_ttl)
            .field("inactive_ttl", &self.inactive_ttl)
            .field("max_entries", &self.max_entries)
            .field("request_timeout", &self.request_timeout)
            .finish()
    }
}

/// Why a verifier could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("Tessera's address {0:?} is not an http(s) URL")]
    BaseUrl(String),
    #[error("{0} must not be empty")]
    Empty(&'static str),
    #[error("max_staleness must be at least 100 ms, to leave room for one feed request")]
    Staleness,
    #[error("the HTTP client could not be built: {0}")]
    Http(#[from] reqwest::Error),
    #[error("a verifier starts its feed follower on a Tokio runtime; build it inside one")]
    NoRuntime,
}

impl Builder {
    pub(crate) fn new(base_url: &str, client_id: &str, client_secret: &str) -> Self {
        Self {
            base_url: base_url.to_owned(),
            client_id: client_id.to_owned(),
            client_secret: client_secret.to_owned(),
            max_staleness: Duration::from_secs(1),
            active_ttl: Duration::from_secs(60),
            inactive_ttl: Duration::from_secs(5),
            max_entries: 200_000,
            request_timeout: Duration::from_secs(2),
        }
    }

    /// The oldest view of the revocation feed the cache may be used with
    /// (default 1 s, as Tessera's own `cache.max_staleness_ms`). From 2 s
    /// up, the verifier long-polls the feed and hears of a revocation at
    /// once; below, it asks four times per `max_staleness`.
    pub fn max_staleness(mut self, limit: Duration) -> Self {
        self.max_staleness = limit;
        self
    }

    /// How long an active answer is kept (default 60 s; never past the
    /// token's own expiry). The feed removes it sooner when the token is
    /// revoked; this bounds only what a lost feed entry could cost.
    pub fn active_ttl(mut self, ttl: Duration) -> Self {
        self.active_ttl = ttl;
        self
    }

    /// How long an inactive answer is kept (default 5 s). Introspection
    /// names no fingerprint for an inactive token, so the feed cannot
    /// announce that it became valid again (re-enabled, owner resumed): it
    /// is accepted again once this passes.
    pub fn inactive_ttl(mut self, ttl: Duration) -> Self {
        self.inactive_ttl = ttl;
        self
    }

    /// The most answers kept (default 200,000, as Tessera's own cache). A hot
    /// set larger than this churns: each insert into a full cache drops a
    /// sixteenth of it.
    pub fn max_entries(mut self, entries: usize) -> Self {
        self.max_entries = entries;
        self
    }

    /// The longest wait for an answer of Tessera (default 2 s) before the
    /// check is refused as unavailable; a feed request may take its long
    /// poll on top.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }
}
