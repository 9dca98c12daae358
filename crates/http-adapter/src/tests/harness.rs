//! The app under test over in-memory fakes, and the assertions every
//! section of the suite shares.

#![allow(unused_imports)]

pub(super) use std::collections::BTreeSet;
pub(super) use std::rc::Rc;
pub(super) use std::sync::Arc;
pub(super) use std::time::Duration;

pub(super) use actix_web::cookie::Cookie;
pub(super) use actix_web::http::StatusCode;
pub(super) use actix_web::http::header::{self, HeaderMap};
pub(super) use actix_web::test::{TestRequest, call_service, init_service, read_body};
pub(super) use futures_util::future::LocalBoxFuture;
pub(super) use jsonwebtoken::{Algorithm, EncodingKey, Header};
pub(super) use serde_json::{Value, json};
pub(super) use tessera_domain::testing::{InMemoryStore, InMemoryTokenRepository, TEST_SECRET_KEY};
pub(super) use tessera_domain::{
    CacheSettings, Clock, CreateTokenRequest, Keyring, ManualClock, PermissionCatalogue,
    SecretString, SystemClock, Timestamp, TokenFormat, TokenService, TokenSource, UserId,
};
pub(super) use tessera_oauth_clients::{
    BuiltInClientConfig, Core, CoreSettings, Ports, StaticClientDirectory,
};

pub(super) use crate::{AppState, BODY_LIMIT, SessionCodec, SessionSettings};

pub(super) const COOKIE: &str = "tessera_session";
pub(super) const SESSION_SECRET: &str = "test-secret";
pub(super) const PREFIX: &str = "tsr_";
/// `config/default.toml`'s catalogue, in the (sorted) order it is reported.
pub(super) const DEFAULT_PERMISSIONS: [&str; 8] = crate::openapi::DEFAULT_CATALOGUE;
pub(super) const JSON_UTF8: &str = "application/json; charset=utf-8";
pub(super) const PROBLEM_JSON: &str = "application/problem+json";

// ---------------------------------------------------------------- harness

/// One response, read to the end: status, headers and the parsed JSON body.
pub(super) struct Reply {
    pub(super) status: StatusCode,
    pub(super) headers: HeaderMap,
    pub(super) json: Value,
}

impl Reply {
    pub(super) fn content_type(&self) -> &str {
        self.headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

/// One response, read to the end, whatever its body.
pub(super) struct RawReply {
    pub(super) status: StatusCode,
    pub(super) headers: HeaderMap,
    pub(super) body: Vec<u8>,
}

/// The app under test plus handles on what it was built from.
pub(super) struct Harness {
    pub(super) send: Box<dyn Fn(TestRequest) -> LocalBoxFuture<'static, RawReply>>,
    pub(super) service: Arc<TokenService>,
    pub(super) repository: Arc<InMemoryTokenRepository>,
    pub(super) clock: Arc<ManualClock>,
    pub(super) sessions: SessionCodec,
}

pub(super) fn codec(secret: &str) -> SessionCodec {
    SessionCodec::new(&SessionSettings {
        cookie_name: COOKIE.into(),
        secret: SecretString::new(secret),
    })
    .expect("a non-empty secret makes a codec")
}

pub(super) fn user(id: i64) -> UserId {
    UserId::new(id).expect("test user ids are positive")
}

/// With `TEST_LOG` set, the application's log lines go to the test's
/// output (shown for failing tests, or all with `--nocapture`).
fn test_log() {
    if std::env::var_os("TEST_LOG").is_some() {
        // Only the first harness of the process installs it.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(
                std::env::var("RUST_LOG").unwrap_or_else(|_| "debug".into()),
            ))
            .with_test_writer()
            .try_init();
    }
}

/// The real application over fresh in-memory fakes, its clock at the
/// current system time (sessions are verified against the service clock).
pub(super) async fn harness() -> Harness {
    test_log();
    let clock = Arc::new(ManualClock::new(SystemClock.now()));
    // One store behind every port, as one database is in production.
    let repository = Arc::new(InMemoryStore::default());
    let keyring = Keyring::from_base64(TEST_SECRET_KEY).expect("the test key is valid base64");
    let catalogue =
        PermissionCatalogue::new(DEFAULT_PERMISSIONS).expect("the default catalogue is valid");
    let built_in = StaticClientDirectory::new(
        &[BuiltInClientConfig::new(
            "CXFervidex",
            "Fervidex",
            &["submit_score"],
        )],
        &catalogue,
        &keyring,
        clock.now(),
    )
    .expect("a valid built-in client");
    let core = Core::wire(
        Ports {
            tokens: repository.clone(),
            clients: repository.clone(),
            codes: repository.clone(),
            idempotency: repository.clone(),
        },
        CoreSettings {
            keyring,
            format: TokenFormat::new(PREFIX).expect("tsr_ is a valid prefix"),
            catalogue,
            built_in,
            client_cap: 10,
            code_ttl_secs: 600,
            cache: CacheSettings::default(),
            max_lifetime_days: 0,
        },
        clock.clone(),
    );
    let service = core.tokens.clone();
    let state = AppState::new(
        service.clone(),
        core.oauth,
        codec(SESSION_SECRET),
        repository.clone(),
        repository.clone(),
        std::time::Duration::from_secs(1),
    );
    let app = Rc::new(init_service(crate::app(state)).await);
    let send = move |req: TestRequest| -> LocalBoxFuture<'static, RawReply> {
        let app = Rc::clone(&app);
        Box::pin(async move {
            let response = call_service(&*app, req.to_request()).await;
            let status = response.status();
            let headers = response.headers().clone();
            let body = read_body(response).await.to_vec();
            RawReply {
                status,
                headers,
                body,
            }
        })
    };
    Harness {
        send: Box::new(send),
        service,
        repository,
        clock,
        sessions: codec(SESSION_SECRET),
    }
}

impl Harness {
    /// Sends `req`; its answer must be JSON.
    pub(super) async fn send(&self, req: TestRequest) -> Reply {
        let RawReply {
            status,
            headers,
            body,
        } = self.send_raw(req).await;
        let json = serde_json::from_slice(&body).unwrap_or_else(|e| {
            panic!(
                "{status}: the body is not JSON ({e}): {:?}",
                String::from_utf8_lossy(&body)
            )
        });
        Reply {
            status,
            headers,
            json,
        }
    }

    pub(super) async fn send_raw(&self, req: TestRequest) -> RawReply {
        (self.send)(req).await
    }

    /// The clock as the documents show it: Unix milliseconds.
    pub(super) fn now(&self) -> i64 {
        self.clock.now().as_millis()
    }

    /// A session cookie value for `id`, valid for an hour from the clock.
    pub(super) fn session(&self, id: i64) -> String {
        self.session_at(id, 3600, self.now())
    }

    pub(super) fn session_at(&self, id: i64, ttl_secs: u64, now: i64) -> String {
        self.sessions
            .mint(user(id), ttl_secs, Timestamp::from_millis(now))
            .expect("minting a session")
            .expose()
            .to_owned()
    }

    /// Stores a token straight through the domain (not through HTTP), so
    /// the arrange step does not depend on the endpoint under test.
    pub(super) fn seed(
        &self,
        id: i64,
        identifier: &str,
        permissions: &[&str],
        expires_at: Option<i64>,
    ) -> String {
        let request = CreateTokenRequest {
            source: TokenSource::Permissions {
                identifier: Some(identifier.to_owned()),
                permissions: permissions.iter().map(|p| (*p).to_owned()).collect(),
                canary: false,
            },
            expires_at: expires_at.map(Timestamp::from_millis),
        };
        self.service
            .create(user(id), request)
            .expect("seeding a token")
            .token
            .expose()
            .to_owned()
    }

    pub(super) fn stored(&self) -> usize {
        self.repository.snapshot().len()
    }

    /// POSTs `body` to user 1's create endpoint with user 1's session.
    pub(super) async fn create(&self, body: Value) -> Reply {
        let req = create_request("1")
            .set_json(body)
            .with_session(&self.session(1));
        self.send(req).await
    }
}

/// Credentials on a request.
pub(super) trait Credentials {
    fn with_session(self, value: &str) -> Self;
    fn with_bearer(self, token: &str) -> Self;
    fn with_authorization(self, value: &str) -> Self;
}

impl Credentials for TestRequest {
    fn with_session(self, value: &str) -> Self {
        self.cookie(Cookie::new(COOKIE, value.to_owned()))
    }

    fn with_bearer(self, token: &str) -> Self {
        self.with_authorization(&format!("Bearer {token}"))
    }

    fn with_authorization(self, value: &str) -> Self {
        self.insert_header((header::AUTHORIZATION, value.to_owned()))
    }
}

pub(super) fn list_request(user: &str) -> TestRequest {
    TestRequest::get().uri(&format!("/api/v1/users/{user}/api-tokens"))
}

pub(super) fn create_request(user: &str) -> TestRequest {
    TestRequest::post().uri(&format!("/api/v1/users/{user}/api-tokens/create"))
}

pub(super) fn delete_request(user: &str, token: &str) -> TestRequest {
    TestRequest::delete().uri(&format!("/api/v1/users/{user}/api-token/{token}"))
}

pub(super) fn status_request() -> TestRequest {
    TestRequest::get().uri("/api/v1/status")
}

/// A body of exactly `len` bytes that is a valid create request.
pub(super) fn padded_create_body(len: usize) -> String {
    let head = r#"{"identifier":"Padded","permissions":[]"#;
    let pad = len - head.len() - 1;
    format!("{head}{}}}", " ".repeat(pad))
}

/// A well-formed token (right prefix, length and checksum) never stored.
pub(super) fn unknown_token() -> String {
    TokenFormat::new(PREFIX)
        .expect("tsr_ is a valid prefix")
        .generate()
        .expose()
        .to_owned()
}

/// `token` with one random character changed: its checksum no longer fits.
pub(super) fn with_bad_checksum(token: &str) -> String {
    let mut chars: Vec<char> = token.chars().collect();
    let at = PREFIX.len();
    chars[at] = if chars[at] == 'A' { 'B' } else { 'A' };
    chars.into_iter().collect()
}

/// `Authorization` values that are not a valid Bearer token of this service.
pub(super) fn invalid_authorizations() -> Vec<(&'static str, String)> {
    vec![
        (
            "unknown well-formed token",
            format!("Bearer {}", unknown_token()),
        ),
        ("wrong shape", "Bearer tsr_short".to_owned()),
        (
            "wrong checksum",
            format!("Bearer {}", with_bad_checksum(&unknown_token())),
        ),
        ("empty Bearer", "Bearer ".to_owned()),
        ("scheme only", "Bearer".to_owned()),
        ("Basic scheme", "Basic dXNlcjpwYXNz".to_owned()),
    ]
}

pub(super) fn raw_jwt(secret: &str, alg: Algorithm, claims: &Value) -> String {
    let key = EncodingKey::from_secret(secret.as_bytes()).expect("an HMAC key");
    jsonwebtoken::encode(&Header::new(alg), claims, &key).expect("encoding a JWT")
}

/// Session cookie values that must be refused, each for user 1.
pub(super) fn invalid_sessions(h: &Harness) -> Vec<(&'static str, String)> {
    let now_secs = h.now() / 1000;
    let valid_one = h.session(1);
    let valid_two = h.session(2);
    // user 2's claims under user 1's signature.
    let one: Vec<&str> = valid_one.split('.').collect();
    let two: Vec<&str> = valid_two.split('.').collect();
    let tampered = format!("{}.{}.{}", one[0], two[1], one[2]);
    vec![
        ("malformed", "not-a-jwt".to_owned()),
        ("empty", String::new()),
        ("tampered", tampered),
        ("expired", h.session_at(1, 60, h.now() - 2 * 3600 * 1000)),
        (
            "signed with another secret",
            codec("another-secret")
                .mint(user(1), 3600, h.clock.now())
                .expect("minting")
                .expose()
                .to_owned(),
        ),
        (
            "signed with HS384",
            raw_jwt(
                SESSION_SECRET,
                Algorithm::HS384,
                &json!({"sub": "1", "exp": now_secs + 3600}),
            ),
        ),
        (
            "sub is not a user id",
            raw_jwt(
                SESSION_SECRET,
                Algorithm::HS256,
                &json!({"sub": "0", "exp": now_secs + 3600}),
            ),
        ),
        (
            "nbf in the future",
            raw_jwt(
                SESSION_SECRET,
                Algorithm::HS256,
                &json!({"sub": "1", "exp": now_secs + 7200, "nbf": now_secs + 3600}),
            ),
        ),
    ]
}

// ------------------------------------------------------------- assertions

/// RFC 9457 problem details with the HTTP status in the body, and a
/// `WWW-Authenticate` challenge on every 401.
pub(super) fn assert_problem(reply: &Reply, status: StatusCode, context: &str) {
    assert_eq!(
        reply.status, status,
        "{context}: status; body {}",
        reply.json
    );
    assert_eq!(
        reply.content_type(),
        PROBLEM_JSON,
        "{context}: content type"
    );
    for member in ["type", "title", "detail"] {
        let text = reply.json[member].as_str().unwrap_or_default();
        assert!(
            !text.is_empty(),
            "{context}: `{member}` must be a non-empty string in {}",
            reply.json
        );
    }
    assert_eq!(
        reply.json["status"],
        json!(status.as_u16()),
        "{context}: `status` member"
    );
    if status == StatusCode::UNAUTHORIZED {
        assert!(
            reply.headers.contains_key(header::WWW_AUTHENTICATE),
            "{context}: a 401 carries WWW-Authenticate"
        );
    }
}

pub(super) fn assert_json_ok(reply: &Reply, context: &str) {
    assert_eq!(
        reply.status,
        StatusCode::OK,
        "{context}: status; body {}",
        reply.json
    );
    assert_eq!(reply.content_type(), JSON_UTF8, "{context}: content type");
}

pub(super) fn keys(value: &Value) -> BTreeSet<&str> {
    value
        .as_object()
        .expect("a JSON object")
        .keys()
        .map(String::as_str)
        .collect()
}

pub(super) fn identifiers(list: &Value) -> Vec<&str> {
    list.as_array()
        .expect("a JSON array")
        .iter()
        .map(|doc| doc["identifier"].as_str().expect("identifier is a string"))
        .collect()
}
