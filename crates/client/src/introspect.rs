//! The two requests a verifier makes to Tessera: introspection (RFC 7662)
//! and a page of the revocation feed, both with the resource server's
//! HTTP Basic credentials.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::Deserialize;
use url::Url;

use crate::principal::Principal;

/// Tessera's endpoints and the credentials to call them.
#[derive(Clone)]
pub(crate) struct Tessera {
    http: reqwest::Client,
    introspect: Url,
    feed: Url,
    client_id: String,
    client_secret: String,
}

impl std::fmt::Debug for Tessera {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tessera")
            .field("introspect", &self.introspect.as_str())
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

/// Why Tessera gave no usable answer.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CallError {
    #[error("{}", with_causes(.0))]
    Transport(#[from] reqwest::Error),
    #[error(
        "Tessera refused this resource server's credentials (check client_id, client_secret and resource_server = true)"
    )]
    Credentials,
    #[error("Tessera answered {0}")]
    Status(u16),
    #[error("Tessera's answer did not parse: {0}")]
    Body(String),
}

#[derive(Debug, Deserialize)]
struct Introspection {
    active: bool,
    scope: Option<String>,
    client_id: Option<String>,
    sub: Option<String>,
    exp: Option<u64>,
    fingerprint: Option<String>,
}

/// One answer of the revocation feed.
#[derive(Debug, Deserialize)]
pub(crate) struct FeedPage {
    pub revocations: Vec<FeedEntry>,
    pub cursor: i64,
    pub complete: bool,
    pub more: bool,
}

#[derive(Debug, Deserialize)]
pub(crate) struct FeedEntry {
    pub fingerprint: String,
}

impl Tessera {
    pub(crate) fn new(
        base: &Url,
        client_id: &str,
        client_secret: &str,
    ) -> Result<Self, reqwest::Error> {
        // A base with a path ("https://host/tessera") keeps it.
        let mut base = base.clone();
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        let join = |path: &str| {
            base.join(path)
                .expect("a relative path joins any http(s) URL")
        };
        Ok(Self {
            http: reqwest::Client::builder()
                .pool_idle_timeout(Duration::from_secs(30))
                .build()?,
            introspect: join("api/v1/oauth/introspect"),
            feed: join("api/v1/revocations"),
            client_id: client_id.to_owned(),
            client_secret: client_secret.to_owned(),
        })
    }

    /// `Some(principal)` for an active token, `None` for an inactive one.
    pub(crate) async fn introspect(
        &self,
        token: &str,
        client_ip: Option<IpAddr>,
        timeout: Duration,
    ) -> Result<Option<Arc<Principal>>, CallError> {
        let client_ip = client_ip.map(|ip| ip.to_string());
        let mut form = vec![("token", token)];
        if let Some(ip) = &client_ip {
            form.push(("client_ip", ip));
        }
        let body =
            serde_urlencoded::to_string(&form).map_err(|e| CallError::Body(e.to_string()))?;
        let response = self
            .http
            .post(self.introspect.clone())
            .basic_auth(&self.client_id, Some(&self.client_secret))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body)
            .timeout(timeout)
            .send()
            .await?;
        let answer: Introspection = read(response).await?;
        if !answer.active {
            return Ok(None);
        }
        let missing = |member| CallError::Body(format!("an active answer without `{member}`"));
        let user_id = answer
            .sub
            .ok_or_else(|| missing("sub"))?
            .parse()
            .map_err(|_| CallError::Body("`sub` is not a user id".into()))?;
        Ok(Some(Arc::new(Principal {
            user_id,
            permissions: answer
                .scope
                .unwrap_or_default()
                .split_ascii_whitespace()
                .map(str::to_owned)
                .collect(),
            client_id: answer.client_id,
            expires_at: answer
                .exp
                .map(|secs| SystemTime::UNIX_EPOCH + Duration::from_secs(secs)),
            fingerprint: answer.fingerprint.ok_or_else(|| missing("fingerprint"))?,
        })))
    }

    /// The feed after `after`, waiting up to `wait` whole seconds when
    /// nothing is new.
    pub(crate) async fn feed(
        &self,
        after: i64,
        wait: u64,
        timeout: Duration,
    ) -> Result<FeedPage, CallError> {
        let mut url = self.feed.clone();
        url.query_pairs_mut()
            .append_pair("after", &after.to_string())
            .append_pair("wait", &wait.to_string());
        let response = self
            .http
            .get(url)
            .basic_auth(&self.client_id, Some(&self.client_secret))
            .timeout(timeout + Duration::from_secs(wait))
            .send()
            .await?;
        read(response).await
    }
}

/// reqwest's message ("error sending request for url …") without its
/// causes hides the reason (connection refused, timed out).
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        cause = inner.source();
    }
    text
}

async fn read<T: serde::de::DeserializeOwned>(response: reqwest::Response) -> Result<T, CallError> {
    match response.status().as_u16() {
        200 => {}
        401 => return Err(CallError::Credentials),
        status => return Err(CallError::Status(status)),
    }
    let bytes = response.bytes().await?;
    serde_json::from_slice(&bytes).map_err(|e| CallError::Body(e.to_string()))
}
