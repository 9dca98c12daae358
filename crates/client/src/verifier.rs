//! [`Verifier`]: a token check answered from the local cache while the
//! revocation view is fresh, and by introspection otherwise.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use url::Url;

use crate::cache::{Answer, Cache, Key};
use crate::config::{BuildError, Builder};
use crate::feed::{self, Schedule};
use crate::introspect::Tessera;
use crate::principal::Principal;
use crate::problem::{AuthError, Refusal, bearer_token};
use crate::state::{Counters, Freshness, Inner, Stats};

/// Checks tokens against one Tessera; cheap to clone (clones share the
/// cache and the feed follower).
#[derive(Debug, Clone)]
pub struct Verifier {
    inner: Arc<Inner>,
}

impl Verifier {
    /// Settings for a verifier of the tokens of the Tessera at `base_url`,
    /// as the resource server `client_id` (a built-in client with
    /// `resource_server = true` and a `client_secret`).
    pub fn builder(base_url: &str, client_id: &str, client_secret: &str) -> Builder {
        Builder::new(base_url, client_id, client_secret)
    }

    pub(crate) fn start(
        settings: Builder,
        base: Url,
        runtime: &tokio::runtime::Handle,
    ) -> Result<Self, BuildError> {
        let inner = Arc::new(Inner {
            tessera: Tessera::new(&base, &settings.client_id, &settings.client_secret)?,
            cache: Cache::new(settings.max_entries),
            freshness: Freshness::new(),
            stats: Counters::default(),
            introspection_failing: AtomicBool::new(false),
            settings,
        });
        runtime.spawn(feed::follow(
            Arc::downgrade(&inner),
            Schedule::for_staleness(inner.settings.max_staleness),
            inner.settings.request_timeout,
        ));
        Ok(Self { inner })
    }

    /// A request's credential checked: `authorization` is its
    /// `Authorization` header, which must be `Bearer <token>`. What the
    /// actix extractor and the tower layer both do, for any other server.
    pub async fn authenticate(
        &self,
        authorization: Option<&str>,
        client_ip: Option<IpAddr>,
    ) -> Result<Arc<Principal>, AuthError> {
        let token = authorization
            .and_then(bearer_token)
            .ok_or(AuthError::Missing)?;
        Ok(self.verify(token, client_ip).await?)
    }

    /// Whom `token` speaks for, as seen from `client_ip` (the end client's
    /// address: a token restricted to addresses is valid only from them,
    /// and never without one).
    pub async fn verify(
        &self,
        token: &str,
        client_ip: Option<IpAddr>,
    ) -> Result<Arc<Principal>, Refusal> {
        let inner = &self.inner;
        let settings = &inner.settings;
        let key = Key::new(token, client_ip);
        let now = Instant::now();
        if inner.freshness.within(settings.max_staleness, now)
            && let Some(answer) = inner.cache.get(&key, now)
        {
            inner.stats.cache_hits.fetch_add(1, Ordering::Relaxed);
            return match answer {
                Answer::Active(principal) => Ok(principal),
                Answer::Inactive => Err(Refusal::Inactive),
            };
        }
        let generation = inner.cache.generation();
        inner.stats.introspections.fetch_add(1, Ordering::Relaxed);
        let answer = inner
            .tessera
            .introspect(token, client_ip, settings.request_timeout)
            .await;
        let failing = answer.is_err();
        if inner.introspection_failing.swap(failing, Ordering::Relaxed) != failing {
            match &answer {
                Err(error) => tracing::warn!(%error, "token checks: Tessera gives no answer"),
                Ok(_) => tracing::info!("token checks: Tessera answers again"),
            }
        }
        let answer = answer.map_err(|_| Refusal::Unavailable)?;
        let now = Instant::now();
        match answer {
            Some(principal) => {
                let until = now + settings.active_ttl.min(remaining(principal.expires_at));
                let result = Ok(principal.clone());
                inner
                    .cache
                    .insert(key, Answer::Active(principal), until, generation);
                result
            }
            None => {
                let until = now + settings.inactive_ttl;
                inner.cache.insert(key, Answer::Inactive, until, generation);
                Err(Refusal::Inactive)
            }
        }
    }

    /// Whether the cache may answer now: the feed proved it complete within
    /// `max_staleness`.
    pub fn is_fresh(&self) -> bool {
        let inner = &self.inner;
        inner
            .freshness
            .within(inner.settings.max_staleness, Instant::now())
    }

    /// The work done so far.
    pub fn stats(&self) -> Stats {
        self.inner.stats.snapshot()
    }

    /// Answers held in the cache.
    pub fn cached(&self) -> usize {
        self.inner.cache.len()
    }
}

/// Time until `expires_at` by this machine's clock (zero when past).
fn remaining(expires_at: Option<SystemTime>) -> Duration {
    expires_at.map_or(Duration::MAX, |at| {
        at.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO)
    })
}

impl Builder {
    /// Checks the settings and starts following the revocation feed on the
    /// current Tokio runtime (actix-web's included). The follower stops when
    /// the last clone of the verifier is dropped.
    pub fn build(self) -> Result<Verifier, BuildError> {
        let base = Url::parse(&self.base_url)
            .ok()
            .filter(|url| matches!(url.scheme(), "http" | "https") && url.has_host())
            .ok_or_else(|| BuildError::BaseUrl(self.base_url.clone()))?;
        if self.client_id.is_empty() {
            return Err(BuildError::Empty("client_id"));
        }
        if self.client_secret.is_empty() {
            return Err(BuildError::Empty("client_secret"));
        }
        if self.max_staleness < Duration::from_millis(100) {
            return Err(BuildError::Staleness);
        }
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| BuildError::NoRuntime)?;
        Verifier::start(self, base, &runtime)
    }
}
