//! A fake Tessera for the client's tests: introspection and the
//! revocation feed over real HTTP, with switches to refuse, fail or stall
//! either endpoint, and counters of what it was asked.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::json;

pub const CLIENT_ID: &str = "CXResource";
pub const SECRET: &str = "resource-secret";

/// How an endpoint behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Answer,
    /// `503`.
    Fail,
    /// Never answers (a stalled connection).
    Stall,
}

#[derive(Debug, Clone)]
pub struct Token {
    pub user: u64,
    pub scope: &'static str,
    pub fingerprint: String,
    /// Active only for this address, like a token with `allowedIps`.
    pub only_from: Option<IpAddr>,
}

#[derive(Debug)]
pub struct State {
    pub tokens: HashMap<String, Token>,
    /// (cursor, fingerprint), oldest first.
    pub feed: Vec<(i64, String)>,
    /// Entries up to this cursor were purged.
    pub purged_through: i64,
    pub introspect_mode: Mode,
    pub feed_mode: Mode,
    pub introspections: u64,
    pub feed_requests: u64,
    /// The `client_ip` of the last introspection.
    pub last_client_ip: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Fake {
    pub url: String,
    pub state: Arc<Mutex<State>>,
}

impl Fake {
    pub fn start() -> Fake {
        let state = Arc::new(Mutex::new(State {
            tokens: HashMap::new(),
            feed: Vec::new(),
            purged_through: 0,
            introspect_mode: Mode::Answer,
            feed_mode: Mode::Answer,
            introspections: 0,
            feed_requests: 0,
            last_client_ip: None,
        }));
        let shared = web::Data::from(state.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(shared.clone())
                .route("/api/v1/oauth/introspect", web::post().to(introspect))
                .route("/api/v1/revocations", web::get().to(feed))
        })
        .workers(1)
        .bind("127.0.0.1:0")
        .expect("bind");
        let url = format!("http://{}", server.addrs()[0]);
        actix_web::rt::spawn(server.run());
        Fake { url, state }
    }

    pub fn with<T>(&self, change: impl FnOnce(&mut State) -> T) -> T {
        change(&mut self.state.lock().expect("fake state"))
    }

    pub fn add_token(&self, token: &str, user: u64, scope: &'static str) -> String {
        let fingerprint = format!("fp-{token}");
        self.with(|s| {
            s.tokens.insert(
                token.to_owned(),
                Token {
                    user,
                    scope,
                    fingerprint: fingerprint.clone(),
                    only_from: None,
                },
            )
        });
        fingerprint
    }

    /// Deletes the token and announces it in the feed.
    pub fn revoke(&self, token: &str) {
        self.with(|s| {
            let gone = s.tokens.remove(token).expect("a known token");
            let cursor = s.feed.last().map_or(0, |e| e.0) + 1;
            s.feed.push((cursor, gone.fingerprint));
        });
    }
}

fn authorised(req: &HttpRequest) -> bool {
    use base64::Engine as _;
    let expected =
        base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{SECRET}"));
    req.headers()
        .get("Authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == format!("Basic {expected}"))
}

async fn behave(mode: Mode) -> Option<HttpResponse> {
    match mode {
        Mode::Answer => None,
        Mode::Fail => Some(HttpResponse::ServiceUnavailable().finish()),
        Mode::Stall => {
            std::future::pending::<()>().await;
            None
        }
    }
}

/// What both endpoints do first: note the request (and read the
/// endpoint's mode) with `note`, act the mode out, check the credentials.
/// `Some` is the answer to give instead of the endpoint's own.
async fn enter(
    req: &HttpRequest,
    state: &Mutex<State>,
    note: impl FnOnce(&mut State) -> Mode,
) -> Option<HttpResponse> {
    let mode = note(&mut state.lock().expect("fake state"));
    if let Some(response) = behave(mode).await {
        return Some(response);
    }
    (!authorised(req))
        .then(|| HttpResponse::Unauthorized().json(json!({"error": "invalid_client"})))
}

async fn introspect(
    req: HttpRequest,
    form: web::Form<HashMap<String, String>>,
    state: web::Data<Mutex<State>>,
) -> HttpResponse {
    let noted = enter(&req, &state, |s| {
        s.introspections += 1;
        s.last_client_ip = form.get("client_ip").cloned();
        s.introspect_mode
    });
    if let Some(response) = noted.await {
        return response;
    }
    let s = state.lock().expect("fake state");
    let client_ip = form.get("client_ip").and_then(|ip| ip.parse().ok());
    match form.get("token").and_then(|t| s.tokens.get(t)) {
        Some(t) if t.only_from.is_none() || t.only_from == client_ip => {
            HttpResponse::Ok().json(json!({
                "active": true, "scope": t.scope, "sub": t.user.to_string(),
                "iat": 1, "token_type": "Bearer", "fingerprint": t.fingerprint,
            }))
        }
        _ => HttpResponse::Ok().json(json!({"active": false})),
    }
}

async fn feed(
    req: HttpRequest,
    query: web::Query<HashMap<String, String>>,
    state: web::Data<Mutex<State>>,
) -> HttpResponse {
    let noted = enter(&req, &state, |s| {
        s.feed_requests += 1;
        s.feed_mode
    });
    if let Some(response) = noted.await {
        return response;
    }
    let after: i64 = query.get("after").and_then(|a| a.parse().ok()).unwrap_or(0);
    let s = state.lock().expect("fake state");
    // Two entries per page, so the tests see `more`.
    let page: Vec<_> = s.feed.iter().filter(|e| e.0 > after).take(2).collect();
    let more = s.feed.iter().filter(|e| e.0 > after).count() > page.len();
    HttpResponse::Ok().json(json!({
        "revocations": page.iter().map(|(cursor, fp)| json!({
            "cursor": cursor, "fingerprint": fp, "revokedAt": 0
        })).collect::<Vec<_>>(),
        "cursor": page.last().map_or(after, |e| e.0),
        "complete": after >= s.purged_through,
        "more": more,
    }))
}

/// A verifier of `fake` whose view of the feed is fresh, with short limits
/// so the tests see a view go stale quickly.
pub async fn fresh(fake: &Fake) -> tessera_client::Verifier {
    let verifier = tessera_client::Verifier::builder(&fake.url, CLIENT_ID, SECRET)
        .max_staleness(Duration::from_millis(400))
        .request_timeout(Duration::from_millis(300))
        .build()
        .expect("verifier builds");
    eventually("the view is fresh", || verifier.is_fresh()).await;
    verifier
}

/// Waits (polling) until `condition` holds; panics after 10 s.
pub async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !condition() {
        assert!(
            std::time::Instant::now() < deadline,
            "never happened: {what}"
        );
        actix_web::rt::time::sleep(Duration::from_millis(5)).await;
    }
}
