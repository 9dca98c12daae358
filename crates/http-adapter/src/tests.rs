//! The HTTP adapter's own suite: the real `crate::app` driven through
//! actix-web's test harness, over the domain's in-memory fakes (no
//! database), checking what callers see of contract §1–§4 and §6: the
//! Self-Key status table, the order of checks, the create body rules, the
//! documents, RFC 9457 errors, `/api/v1/status`, the probes, and that the
//! OpenAPI document describes exactly the routes the app serves.

use std::collections::BTreeSet;
use std::rc::Rc;
use std::sync::Arc;

use actix_web::cookie::Cookie;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderMap};
use actix_web::test::{TestRequest, call_service, init_service, read_body};
use futures_util::future::LocalBoxFuture;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use tessera_domain::testing::{
    InMemoryClientDirectory, InMemoryStore, InMemoryTokenRepository, TEST_SECRET_KEY,
};
use tessera_domain::{
    Clock, CreateTokenRequest, Keyring, ManualClock, PermissionCatalogue, SecretString,
    SystemClock, Timestamp, TokenFormat, TokenService, TokenSource, UserId,
};
use tessera_oauth_clients::{AuthorizationService, ClientService, StaticClientDirectory};

use crate::{AppState, BODY_LIMIT, SessionCodec, SessionSettings};

const COOKIE: &str = "tessera_session";
const SESSION_SECRET: &str = "test-secret";
const PREFIX: &str = "tsr_";
/// Contract §8's default catalogue, in the (sorted) order it is reported.
const DEFAULT_PERMISSIONS: [&str; 8] = crate::openapi::DEFAULT_CATALOGUE;
const JSON_UTF8: &str = "application/json; charset=utf-8";
const PROBLEM_JSON: &str = "application/problem+json";

// ---------------------------------------------------------------- harness

/// One response, read to the end: status, headers and the parsed JSON body.
struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    json: Value,
}

impl Reply {
    fn content_type(&self) -> &str {
        self.headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

/// One response, read to the end, whatever its body.
struct RawReply {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

/// The app under test plus handles on what it was built from.
struct Harness {
    send: Box<dyn Fn(TestRequest) -> LocalBoxFuture<'static, RawReply>>,
    service: Arc<TokenService>,
    repository: Arc<InMemoryTokenRepository>,
    clock: Arc<ManualClock>,
    sessions: SessionCodec,
}

fn codec(secret: &str) -> SessionCodec {
    SessionCodec::new(&SessionSettings {
        cookie_name: COOKIE.into(),
        secret: SecretString::new(secret),
    })
    .expect("a non-empty secret makes a codec")
}

fn user(id: i64) -> UserId {
    UserId::new(id).expect("test user ids are positive")
}

/// The real application over fresh in-memory fakes, its clock at the
/// current system time (sessions are verified against the service clock).
async fn harness() -> Harness {
    let clock = Arc::new(ManualClock::new(SystemClock.now()));
    let repository = Arc::new(InMemoryTokenRepository::default());
    let keyring = Keyring::from_base64(TEST_SECRET_KEY).expect("the test key is valid base64");
    let catalogue =
        PermissionCatalogue::new(DEFAULT_PERMISSIONS).expect("the default catalogue is valid");
    let service = Arc::new(
        TokenService::new(
            repository.clone(),
            Arc::new(InMemoryClientDirectory::with_client(
                "CXFervidex",
                "Fervidex",
                &["submit_score"],
            )),
            keyring.clone(),
            TokenFormat::new(PREFIX).expect("tsr_ is a valid prefix"),
            catalogue.clone(),
            clock.clone(),
        )
        .with_idempotency(repository.clone()),
    );
    // The OAuth2 side gets a store of its own, so `repository.lookups()`
    // counts only what the token endpoints do.
    let oauth_store = Arc::new(InMemoryStore::default());
    let clients = Arc::new(
        ClientService::new(
            StaticClientDirectory::default(),
            oauth_store.clone(),
            keyring,
            catalogue,
            clock.clone(),
            10,
        )
        .with_idempotency(oauth_store.clone()),
    );
    let oauth_store_for_log = oauth_store.clone();
    let oauth = Arc::new(AuthorizationService::new(
        clients,
        oauth_store,
        service.clone(),
        clock.clone(),
        600,
    ));
    let state = AppState::new(
        service.clone(),
        oauth,
        codec(SESSION_SECRET),
        oauth_store_for_log,
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
    async fn send(&self, req: TestRequest) -> Reply {
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

    async fn send_raw(&self, req: TestRequest) -> RawReply {
        (self.send)(req).await
    }

    fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// A session cookie value for `id`, valid for an hour from the clock.
    fn session(&self, id: i64) -> String {
        self.session_at(id, 3600, self.now())
    }

    fn session_at(&self, id: i64, ttl_secs: u64, now: Timestamp) -> String {
        self.sessions
            .mint(user(id), ttl_secs, now)
            .expect("minting a session")
            .expose()
            .to_owned()
    }

    /// Stores a token straight through the domain (not through HTTP), so
    /// the arrange step does not depend on the endpoint under test.
    fn seed(
        &self,
        id: i64,
        identifier: &str,
        permissions: &[&str],
        expires_at: Option<Timestamp>,
    ) -> String {
        let request = CreateTokenRequest {
            source: TokenSource::Permissions {
                identifier: Some(identifier.to_owned()),
                permissions: permissions.iter().map(|p| (*p).to_owned()).collect(),
            },
            expires_at,
        };
        self.service
            .create(user(id), request)
            .expect("seeding a token")
            .token
            .expose()
            .to_owned()
    }

    fn stored(&self) -> usize {
        self.repository.snapshot().len()
    }

    /// POSTs `body` to user 1's create endpoint with user 1's session.
    async fn create(&self, body: Value) -> Reply {
        let req = create_request("1")
            .set_json(body)
            .with_session(&self.session(1));
        self.send(req).await
    }
}

/// Credentials on a request.
trait Credentials {
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

fn list_request(user: &str) -> TestRequest {
    TestRequest::get().uri(&format!("/api/v1/users/{user}/api-tokens"))
}

fn create_request(user: &str) -> TestRequest {
    TestRequest::post().uri(&format!("/api/v1/users/{user}/api-tokens/create"))
}

fn delete_request(user: &str, token: &str) -> TestRequest {
    TestRequest::delete().uri(&format!("/api/v1/users/{user}/api-token/{token}"))
}

fn status_request() -> TestRequest {
    TestRequest::get().uri("/api/v1/status")
}

/// A body of exactly `len` bytes that is a valid create request.
fn padded_create_body(len: usize) -> String {
    let head = r#"{"identifier":"Padded","permissions":[]"#;
    let pad = len - head.len() - 1;
    format!("{head}{}}}", " ".repeat(pad))
}

/// A well-formed token (right prefix, length and checksum) never stored.
fn unknown_token() -> String {
    TokenFormat::new(PREFIX)
        .expect("tsr_ is a valid prefix")
        .generate()
        .expose()
        .to_owned()
}

/// `token` with one random character changed: its checksum no longer fits.
fn with_bad_checksum(token: &str) -> String {
    let mut chars: Vec<char> = token.chars().collect();
    let at = PREFIX.len();
    chars[at] = if chars[at] == 'A' { 'B' } else { 'A' };
    chars.into_iter().collect()
}

/// `Authorization` values that are not a valid Bearer token of this service.
fn invalid_authorizations() -> Vec<(&'static str, String)> {
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

fn raw_jwt(secret: &str, alg: Algorithm, claims: &Value) -> String {
    let key = EncodingKey::from_secret(secret.as_bytes()).expect("an HMAC key");
    jsonwebtoken::encode(&Header::new(alg), claims, &key).expect("encoding a JWT")
}

/// Session cookie values that must be refused, each for user 1.
fn invalid_sessions(h: &Harness) -> Vec<(&'static str, String)> {
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
                .mint(user(1), 3600, h.now())
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
fn assert_problem(reply: &Reply, status: StatusCode, context: &str) {
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

fn assert_json_ok(reply: &Reply, context: &str) {
    assert_eq!(
        reply.status,
        StatusCode::OK,
        "{context}: status; body {}",
        reply.json
    );
    assert_eq!(reply.content_type(), JSON_UTF8, "{context}: content type");
}

fn keys(value: &Value) -> BTreeSet<&str> {
    value
        .as_object()
        .expect("a JSON object")
        .keys()
        .map(String::as_str)
        .collect()
}

fn identifiers(list: &Value) -> Vec<&str> {
    list.as_array()
        .expect("a JSON array")
        .iter()
        .map(|doc| doc["identifier"].as_str().expect("identifier is a string"))
        .collect()
}

// ------------------------------------------------- the Self-Key endpoints

/// The three Self-Key token endpoints of contract §4.
#[derive(Debug, Clone, Copy)]
enum Endpoint {
    List,
    Create,
    Delete,
}

impl Endpoint {
    const ALL: [Self; 3] = [Self::List, Self::Create, Self::Delete];

    /// A request that succeeds given user 1's session; `Delete` targets a
    /// freshly seeded token of user 1.
    fn request(self, h: &Harness, user: &str) -> TestRequest {
        match self {
            Self::List => list_request(user),
            Self::Create => create_request(user)
                .set_json(json!({"identifier": "New", "permissions": ["submit_score"]})),
            Self::Delete => delete_request(user, &h.seed(1, "Doomed", &["submit_score"], None)),
        }
    }

    fn assert_proceeded(self, reply: &Reply, context: &str) {
        assert_json_ok(reply, context);
        match self {
            Self::List => assert!(reply.json.is_array(), "{context}: {}", reply.json),
            Self::Create => assert_eq!(reply.json["identifier"], "New", "{context}"),
            Self::Delete => assert_eq!(reply.json, json!({}), "{context}"),
        }
    }
}

/// Sends `endpoint`'s request for user 1 as shaped by `credentials` and
/// asserts it is refused with `status` and leaves the store as it was.
async fn assert_refused(
    endpoint: Endpoint,
    credentials: impl FnOnce(TestRequest, &Harness) -> TestRequest,
    status: StatusCode,
    case: &str,
) {
    let h = harness().await;
    let req = credentials(endpoint.request(&h, "1"), &h);
    let before = h.repository.snapshot();
    let reply = h.send(req).await;
    let context = format!("{endpoint:?} with {case}");
    assert_problem(&reply, status, &context);
    assert_eq!(
        h.repository.snapshot(),
        before,
        "{context}: a refused request changes nothing"
    );
}

#[actix_web::test]
async fn self_key_endpoint_without_credentials_is_401() {
    for endpoint in Endpoint::ALL {
        assert_refused(endpoint, |req, _| req, StatusCode::UNAUTHORIZED, "nothing").await;
    }
}

#[actix_web::test]
async fn malformed_tampered_expired_or_foreign_session_cookie_is_401() {
    // Minted at (about) the same system time as each harness's clock.
    let cases = invalid_sessions(&harness().await);
    for endpoint in Endpoint::ALL {
        for (case, cookie) in &cases {
            assert_refused(
                endpoint,
                |req, _| req.with_session(cookie),
                StatusCode::UNAUTHORIZED,
                &format!("a {case} session"),
            )
            .await;
        }
    }
}

#[actix_web::test]
async fn bearer_token_on_a_self_key_endpoint_is_403() {
    for endpoint in Endpoint::ALL {
        assert_refused(
            endpoint,
            |req, h| req.with_bearer(&h.seed(1, "Mine", &DEFAULT_PERMISSIONS, None)),
            StatusCode::FORBIDDEN,
            "user 1's own valid Bearer token",
        )
        .await;
    }
}

#[actix_web::test]
async fn invalid_bearer_on_a_self_key_endpoint_is_401() {
    for endpoint in Endpoint::ALL {
        for (case, authorization) in invalid_authorizations() {
            assert_refused(
                endpoint,
                |req, _| req.with_authorization(&authorization),
                StatusCode::UNAUTHORIZED,
                &format!("Authorization: {case}"),
            )
            .await;
        }
    }
}

#[actix_web::test]
async fn expired_or_deleted_bearer_on_a_self_key_endpoint_is_401() {
    for endpoint in Endpoint::ALL {
        assert_refused(
            endpoint,
            |req, h| {
                let token = h.seed(1, "Short-lived", &["submit_score"], Some(h.now() + 1));
                h.clock.advance(1);
                req.with_bearer(&token)
            },
            StatusCode::UNAUTHORIZED,
            "user 1's expired Bearer token",
        )
        .await;
        assert_refused(
            endpoint,
            |req, h| {
                let token = h.seed(1, "Deleted", &["submit_score"], None);
                h.service
                    .delete(user(1), &token)
                    .expect("deleting the seed");
                req.with_bearer(&token)
            },
            StatusCode::UNAUTHORIZED,
            "user 1's deleted Bearer token",
        )
        .await;
    }
}

#[actix_web::test]
async fn session_of_another_user_on_a_self_key_endpoint_is_403() {
    for endpoint in Endpoint::ALL {
        assert_refused(
            endpoint,
            |req, h| req.with_session(&h.session(2)),
            StatusCode::FORBIDDEN,
            "user 2's session",
        )
        .await;
    }
}

#[actix_web::test]
async fn own_session_proceeds_by_user_id_and_by_me() {
    for endpoint in Endpoint::ALL {
        for path_user in ["1", "me"] {
            let h = harness().await;
            let req = endpoint.request(&h, path_user).with_session(&h.session(1));
            let reply = h.send(req).await;
            endpoint.assert_proceeded(&reply, &format!("{endpoint:?} as /users/{path_user}"));
        }
    }
}

#[actix_web::test]
async fn valid_session_wins_over_an_invalid_bearer() {
    for endpoint in Endpoint::ALL {
        for (case, authorization) in invalid_authorizations() {
            let h = harness().await;
            let req = endpoint
                .request(&h, "1")
                .with_session(&h.session(1))
                .with_authorization(&authorization);
            let reply = h.send(req).await;
            endpoint.assert_proceeded(&reply, &format!("{endpoint:?} with session + {case}"));
        }
    }
}

#[actix_web::test]
async fn invalid_session_with_a_valid_bearer_is_401() {
    for endpoint in Endpoint::ALL {
        assert_refused(
            endpoint,
            |req, h| {
                req.with_session("not-a-jwt").with_bearer(&h.seed(
                    1,
                    "Mine",
                    &DEFAULT_PERMISSIONS,
                    None,
                ))
            },
            StatusCode::UNAUTHORIZED,
            "an invalid session and a valid Bearer",
        )
        .await;
    }
}

#[actix_web::test]
async fn largest_canonical_user_id_is_a_user() {
    let h = harness().await;
    let max = i64::MAX;
    let req = list_request(&max.to_string()).with_session(&h.session(max));

    let reply = h.send(req).await;

    assert_json_ok(&reply, "list of user i64::MAX");
    assert_eq!(reply.json, json!([]));
}

#[actix_web::test]
async fn undecodable_session_cookie_is_401_not_ignored() {
    let h = harness().await;
    let token = h.seed(2, "Theirs", &["submit_score"], None);
    let garbage = (header::COOKIE, format!("{COOKIE}=%FF"));

    let alone = h
        .send(status_request().insert_header(garbage.clone()))
        .await;
    let with_bearer = h
        .send(
            status_request()
                .insert_header(garbage.clone())
                .with_bearer(&token),
        )
        .await;
    let self_key = h
        .send(list_request("2").insert_header(garbage).with_bearer(&token))
        .await;

    assert_problem(&alone, StatusCode::UNAUTHORIZED, "undecodable cookie alone");
    assert_problem(
        &with_bearer,
        StatusCode::UNAUTHORIZED,
        "undecodable cookie + Bearer",
    );
    assert_problem(
        &self_key,
        StatusCode::UNAUTHORIZED,
        "undecodable cookie + Bearer, list",
    );
}

#[actix_web::test]
async fn session_expiry_follows_the_service_clock() {
    let h = harness().await;
    let cookie = h.session_at(1, 60, h.now());
    let before = h.send(list_request("1").with_session(&cookie)).await;

    // 60 s of life plus 60 s of leeway, and then some.
    h.clock.advance(121_000);
    let after = h.send(list_request("1").with_session(&cookie)).await;

    assert_json_ok(&before, "session within its life");
    assert_problem(
        &after,
        StatusCode::UNAUTHORIZED,
        "session past exp + leeway",
    );
}

// ------------------------------------------------------- order of checks

/// Puts one kind of credential (given the harness and a valid token) on a request.
type AddCredentials = fn(TestRequest, &Harness, &str) -> TestRequest;

#[actix_web::test]
async fn malformed_user_id_is_400_before_any_credential_check() {
    let bad_ids = [
        "abc",
        "0",
        "-1",
        "01",
        "+1",
        "ME",
        "1.0",
        "9223372036854775808",
    ];
    for endpoint in Endpoint::ALL {
        for id in bad_ids {
            let h = harness().await;
            let token = h.seed(1, "Mine", &["submit_score"], None);
            let credentials: [(&str, AddCredentials); 4] = [
                ("no credentials", |req, _, _| req),
                ("an invalid session", |req, _, _| req.with_session("x")),
                ("a valid session", |req, h, _| {
                    req.with_session(&h.session(1))
                }),
                ("a valid Bearer", |req, _, token| req.with_bearer(token)),
            ];
            for (case, add) in credentials {
                let req = add(endpoint.request(&h, id), &h, &token);
                let before = h.repository.snapshot();

                let reply = h.send(req).await;

                let context = format!("{endpoint:?} /users/{id} with {case}");
                assert_problem(&reply, StatusCode::BAD_REQUEST, &context);
                assert_eq!(
                    h.repository.snapshot(),
                    before,
                    "{context}: nothing changes"
                );
            }
        }
    }
}

#[actix_web::test]
async fn credentials_are_checked_before_the_content_type() {
    let h = harness().await;
    let bearer = h.seed(1, "Mine", &DEFAULT_PERMISSIONS, None);
    let text = || {
        create_request("1")
            .insert_header((header::CONTENT_TYPE, "text/plain"))
            .set_payload("hello")
    };

    let anonymous = h.send(text()).await;
    let with_bearer = h.send(text().with_bearer(&bearer)).await;
    let foreign = h.send(text().with_session(&h.session(2))).await;
    let own = h.send(text().with_session(&h.session(1))).await;

    assert_problem(
        &anonymous,
        StatusCode::UNAUTHORIZED,
        "text/plain, anonymous",
    );
    assert_problem(&with_bearer, StatusCode::FORBIDDEN, "text/plain, Bearer");
    assert_problem(
        &foreign,
        StatusCode::FORBIDDEN,
        "text/plain, user 2's session",
    );
    assert_problem(
        &own,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "text/plain, own session",
    );
}

#[actix_web::test]
async fn credentials_are_checked_before_the_body_size_and_json() {
    let h = harness().await;
    let bearer = h.seed(1, "Mine", &DEFAULT_PERMISSIONS, None);
    let huge = || {
        create_request("1")
            .insert_header((header::CONTENT_TYPE, "application/json"))
            .set_payload(padded_create_body(BODY_LIMIT + 1))
    };
    let broken = || {
        create_request("1")
            .insert_header((header::CONTENT_TYPE, "application/json"))
            .set_payload("{\"identifier\": ")
    };

    let huge_anonymous = h.send(huge()).await;
    let huge_bearer = h.send(huge().with_bearer(&bearer)).await;
    let broken_anonymous = h.send(broken()).await;
    let broken_foreign = h.send(broken().with_session(&h.session(2))).await;

    assert_problem(
        &huge_anonymous,
        StatusCode::UNAUTHORIZED,
        "17 KiB, anonymous",
    );
    assert_problem(&huge_bearer, StatusCode::FORBIDDEN, "17 KiB, Bearer");
    assert_problem(
        &broken_anonymous,
        StatusCode::UNAUTHORIZED,
        "bad JSON, anonymous",
    );
    assert_problem(
        &broken_foreign,
        StatusCode::FORBIDDEN,
        "bad JSON, user 2's session",
    );
}

#[actix_web::test]
async fn content_type_is_checked_before_the_body_size() {
    let h = harness().await;
    let req = create_request("1")
        .insert_header((header::CONTENT_TYPE, "text/plain"))
        .set_payload(padded_create_body(BODY_LIMIT + 1))
        .with_session(&h.session(1));

    let reply = h.send(req).await;

    assert_problem(
        &reply,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "17 KiB of text/plain",
    );
}

#[actix_web::test]
async fn malformed_bearer_token_never_touches_the_store() {
    let h = harness().await;
    let malformed = [
        "Bearer tsr_short".to_owned(),
        format!("Bearer {}", with_bad_checksum(&unknown_token())),
        format!("Bearer xyz_{}", &unknown_token()[PREFIX.len()..]),
        "Bearer ".to_owned(),
        "Basic dXNlcjpwYXNz".to_owned(),
    ];
    for authorization in &malformed {
        for req in [
            status_request(),
            list_request("1"),
            create_request("1").set_json(json!({"identifier": "x", "permissions": []})),
            delete_request("1", &unknown_token()),
        ] {
            let before = h.repository.lookups();
            let reply = h.send(req.with_authorization(authorization)).await;
            let after = h.repository.lookups();

            assert_problem(&reply, StatusCode::UNAUTHORIZED, authorization);
            assert_eq!(after, before, "{authorization}: the store was consulted");
        }
    }
}

#[actix_web::test]
async fn well_formed_unknown_bearer_token_is_looked_up_and_refused() {
    // The counterpart of the test above: proves `lookups()` does count.
    let h = harness().await;
    let before = h.repository.lookups();

    let reply = h.send(status_request().with_bearer(&unknown_token())).await;

    assert_problem(&reply, StatusCode::UNAUTHORIZED, "unknown token");
    assert!(
        h.repository.lookups() > before,
        "a well-formed token is looked up"
    );
}

// ----------------------------------------------------- create: body rules

#[actix_web::test]
async fn create_with_both_permissions_and_client_id_is_400() {
    let h = harness().await;

    let reply = h
        .create(json!({"identifier": "x", "permissions": [], "clientID": "CXFervidex"}))
        .await;

    assert_problem(&reply, StatusCode::BAD_REQUEST, "both");
    assert_eq!(h.stored(), 0);
}

#[actix_web::test]
async fn create_with_neither_permissions_nor_client_id_is_400() {
    let h = harness().await;
    for body in [json!({"identifier": "x"}), json!({})] {
        let reply = h.create(body.clone()).await;

        assert_problem(&reply, StatusCode::BAD_REQUEST, &body.to_string());
    }
    assert_eq!(h.stored(), 0);
}

#[actix_web::test]
async fn create_with_an_unknown_member_is_400() {
    let h = harness().await;
    for body in [
        json!({"identifier": "x", "permissions": [], "scope": "all"}),
        json!({"clientID": "CXFervidex", "permision": []}),
    ] {
        let reply = h.create(body.clone()).await;

        assert_problem(&reply, StatusCode::BAD_REQUEST, &body.to_string());
    }
    assert_eq!(h.stored(), 0);
}

#[actix_web::test]
async fn create_with_a_wrong_json_type_is_400_even_for_an_ignored_member() {
    let h = harness().await;
    for body in [
        json!({"clientID": "CXFervidex", "identifier": 5}),
        json!({"clientID": "CXFervidex", "expiresAt": "tomorrow"}),
        json!({"clientID": 5}),
        json!({"identifier": "x", "permissions": "submit_score"}),
        json!({"identifier": "x", "permissions": [1]}),
        json!({"identifier": 5, "permissions": []}),
        json!({"identifier": "x", "permissions": [], "expiresAt": 1.5}),
        json!([]),
        json!("permissions"),
        json!(null),
    ] {
        let reply = h.create(body.clone()).await;

        assert_problem(&reply, StatusCode::BAD_REQUEST, &body.to_string());
    }
    assert_eq!(h.stored(), 0);
}

#[actix_web::test]
async fn create_with_malformed_json_is_400() {
    let h = harness().await;
    for body in ["{\"identifier\": ", "{identifier: 'x'}", "", "{} {}"] {
        let req = create_request("1")
            .insert_header((header::CONTENT_TYPE, "application/json"))
            .set_payload(body)
            .with_session(&h.session(1));

        let reply = h.send(req).await;

        assert_problem(&reply, StatusCode::BAD_REQUEST, &format!("body {body:?}"));
    }
    assert_eq!(h.stored(), 0);
}

#[actix_web::test]
async fn create_without_a_json_content_type_is_415() {
    let h = harness().await;
    let body = r#"{"identifier":"x","permissions":[]}"#;
    for content_type in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some("text/json"),
        Some("application/jsonx"),
    ] {
        let mut req = create_request("1").set_payload(body);
        if let Some(value) = content_type {
            req = req.insert_header((header::CONTENT_TYPE, value));
        }

        let reply = h.send(req.with_session(&h.session(1))).await;

        assert_problem(
            &reply,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            &format!("Content-Type {content_type:?}"),
        );
    }
    assert_eq!(h.stored(), 0);
}

#[actix_web::test]
async fn create_accepts_json_with_a_charset_and_json_suffixed_types() {
    let h = harness().await;
    let content_types = [
        "application/json",
        "application/json; charset=utf-8",
        "application/vnd.api+json",
    ];
    for (n, content_type) in content_types.iter().enumerate() {
        let req = create_request("1")
            .insert_header((header::CONTENT_TYPE, *content_type))
            .set_payload(format!(r#"{{"identifier":"t{n}","permissions":[]}}"#))
            .with_session(&h.session(1));

        let reply = h.send(req).await;

        assert_json_ok(&reply, content_type);
    }
    assert_eq!(h.stored(), content_types.len());
}

#[actix_web::test]
async fn create_body_of_exactly_16_kib_is_accepted() {
    let h = harness().await;
    let body = padded_create_body(BODY_LIMIT);
    assert_eq!(body.len(), 16 * 1024);
    let req = create_request("1")
        .insert_header((header::CONTENT_TYPE, "application/json"))
        .set_payload(body)
        .with_session(&h.session(1));

    let reply = h.send(req).await;

    assert_json_ok(&reply, "16 KiB body");
    assert_eq!(reply.json["identifier"], "Padded");
}

#[actix_web::test]
async fn create_body_over_16_kib_is_413() {
    let h = harness().await;
    let req = create_request("1")
        .insert_header((header::CONTENT_TYPE, "application/json"))
        .set_payload(padded_create_body(BODY_LIMIT + 1))
        .with_session(&h.session(1));

    let reply = h.send(req).await;

    assert_problem(&reply, StatusCode::PAYLOAD_TOO_LARGE, "16 KiB + 1");
    assert_eq!(h.stored(), 0);
}

#[actix_web::test]
async fn create_body_streaming_past_16_kib_beyond_its_declared_length_is_413() {
    let h = harness().await;
    let req = create_request("1")
        .insert_header((header::CONTENT_TYPE, "application/json"))
        .set_payload(padded_create_body(BODY_LIMIT * 2))
        // A lying Content-Length: the limit must hold on the bytes read.
        .insert_header((header::CONTENT_LENGTH, "40"))
        .with_session(&h.session(1));

    let reply = h.send(req).await;

    assert_problem(
        &reply,
        StatusCode::PAYLOAD_TOO_LARGE,
        "32 KiB declared as 40",
    );
    assert_eq!(h.stored(), 0);
}

#[actix_web::test]
async fn create_with_an_unknown_permission_is_400_naming_it_and_stores_nothing() {
    let h = harness().await;

    let reply = h
        .create(json!({"identifier": "x", "permissions": ["submit_score", "fly_to_the_moon"]}))
        .await;

    assert_problem(&reply, StatusCode::BAD_REQUEST, "unknown permission");
    let detail = reply.json["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("fly_to_the_moon"), "detail: {detail}");
    assert_eq!(h.stored(), 0);
}

#[actix_web::test]
async fn create_with_permissions_requires_a_non_blank_identifier_of_at_most_120_chars() {
    let h = harness().await;
    for (case, body) in [
        ("missing", json!({"permissions": []})),
        ("null", json!({"permissions": [], "identifier": null})),
        ("empty", json!({"permissions": [], "identifier": ""})),
        ("blank", json!({"permissions": [], "identifier": " \t\n "})),
        (
            "121 chars",
            json!({"permissions": [], "identifier": "x".repeat(121)}),
        ),
        (
            "121 multibyte chars",
            json!({"permissions": [], "identifier": "🦀".repeat(121)}),
        ),
    ] {
        let reply = h.create(body).await;

        assert_problem(&reply, StatusCode::BAD_REQUEST, case);
    }
    assert_eq!(h.stored(), 0);
}

#[actix_web::test]
async fn identifier_of_120_multibyte_chars_is_accepted() {
    let h = harness().await;
    let identifier = "🦀".repeat(120);
    assert_eq!(identifier.len(), 480, "4 bytes per crab");

    let reply = h
        .create(json!({"permissions": [], "identifier": format!("  {identifier}  ")}))
        .await;

    assert_json_ok(&reply, "120 crabs");
    assert_eq!(reply.json["identifier"], json!(identifier));
}

#[actix_web::test]
async fn identifier_is_stored_trimmed() {
    let h = harness().await;

    let reply = h
        .create(json!({"permissions": [], "identifier": "  My Token \u{3000}"}))
        .await;

    assert_json_ok(&reply, "padded identifier");
    assert_eq!(reply.json["identifier"], "My Token");
    let stored = h.repository.snapshot();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].identifier, "My Token");
}

#[actix_web::test]
async fn permissions_may_be_empty_and_duplicates_collapse() {
    let h = harness().await;

    let empty = h
        .create(json!({"permissions": [], "identifier": "none"}))
        .await;
    let doubled = h
        .create(json!({"permissions": ["submit_score", "delete_score", "submit_score"], "identifier": "two"}))
        .await;

    assert_json_ok(&empty, "empty permissions");
    assert_eq!(empty.json["permissions"], json!({}));
    assert_json_ok(&doubled, "duplicate permissions");
    assert_eq!(
        doubled.json["permissions"],
        json!({"delete_score": true, "submit_score": true})
    );
}

#[actix_web::test]
async fn expires_at_must_be_in_the_future() {
    let h = harness().await;
    let now = h.now();
    for (case, body) in [
        (
            "now",
            json!({"permissions": [], "identifier": "x", "expiresAt": now}),
        ),
        (
            "a second ago",
            json!({"permissions": [], "identifier": "x", "expiresAt": now - 1000}),
        ),
        (
            "zero",
            json!({"permissions": [], "identifier": "x", "expiresAt": 0}),
        ),
        (
            "negative",
            json!({"permissions": [], "identifier": "x", "expiresAt": -1}),
        ),
        (
            "now, with clientID",
            json!({"clientID": "CXFervidex", "expiresAt": now}),
        ),
    ] {
        let reply = h.create(body).await;

        assert_problem(&reply, StatusCode::BAD_REQUEST, case);
    }
    assert_eq!(h.stored(), 0);

    let future = h
        .create(json!({"permissions": [], "identifier": "x", "expiresAt": now + 1}))
        .await;

    assert_json_ok(&future, "one millisecond ahead");
    assert_eq!(future.json["expiresAt"], json!(now + 1));
}

#[actix_web::test]
async fn create_from_a_client_takes_its_name_and_permissions_and_ignores_identifier() {
    let h = harness().await;

    let reply = h
        .create(json!({"clientID": "CXFervidex", "identifier": "ignored"}))
        .await;

    assert_json_ok(&reply, "clientID");
    assert_eq!(reply.json["identifier"], "Fervidex Token");
    assert_eq!(reply.json["fromAPIClient"], "CXFervidex");
    assert_eq!(reply.json["permissions"], json!({"submit_score": true}));
    assert_eq!(reply.json["userID"], 1);
}

#[actix_web::test]
async fn second_token_from_the_same_client_is_409_and_changes_nothing() {
    let h = harness().await;
    let first = h.create(json!({"clientID": "CXFervidex"})).await;
    let before = h.repository.snapshot();

    let second = h.create(json!({"clientID": "CXFervidex"})).await;

    assert_json_ok(&first, "first client token");
    assert_problem(&second, StatusCode::CONFLICT, "second client token");
    assert_eq!(h.repository.snapshot(), before);
}

#[actix_web::test]
async fn expired_client_token_is_replaced_by_a_new_one() {
    let h = harness().await;
    let first = h
        .create(json!({"clientID": "CXFervidex", "expiresAt": h.now() + 1000}))
        .await;
    assert_json_ok(&first, "first client token");
    assert_eq!(
        first.json["expiresAt"],
        json!(h.now() + 1000),
        "expiresAt honoured"
    );
    h.clock.advance(1000);

    let second = h.create(json!({"clientID": "CXFervidex"})).await;

    assert_json_ok(&second, "after the first expired");
    let list = h.send(list_request("1").with_session(&h.session(1))).await;
    let tokens: Vec<&Value> = list.json.as_array().expect("an array").iter().collect();
    assert_eq!(tokens.len(), 1, "the expired one is gone: {}", list.json);
    assert_eq!(tokens[0]["token"], second.json["token"]);
}

#[actix_web::test]
async fn client_token_for_another_user_is_no_conflict() {
    let h = harness().await;
    let first = h.create(json!({"clientID": "CXFervidex"})).await;
    assert_json_ok(&first, "user 1's client token");
    let req = create_request("2")
        .set_json(json!({"clientID": "CXFervidex"}))
        .with_session(&h.session(2));

    let reply = h.send(req).await;

    assert_json_ok(&reply, "user 2's client token");
    assert_eq!(reply.json["userID"], 2);
}

#[actix_web::test]
async fn create_from_an_unknown_client_is_404() {
    let h = harness().await;

    let reply = h.create(json!({"clientID": "CXNobody"})).await;

    assert_problem(&reply, StatusCode::NOT_FOUND, "unknown client");
    assert_eq!(h.stored(), 0);
}

// -------------------------------------------------------------- documents

#[actix_web::test]
async fn created_document_has_exactly_the_contract_keys() {
    let h = harness().await;

    let reply = h
        .create(json!({"identifier": "Mine", "permissions": ["submit_score", "manage_rivals"]}))
        .await;

    assert_json_ok(&reply, "create");
    let doc = &reply.json;
    assert_eq!(
        keys(doc),
        BTreeSet::from([
            "createdAt",
            "expiresAt",
            "fromAPIClient",
            "identifier",
            "lastUsedAt",
            "permissions",
            "token",
            "userID",
        ])
    );
    assert_eq!(doc["identifier"], "Mine");
    assert_eq!(
        doc["permissions"],
        json!({"manage_rivals": true, "submit_score": true})
    );
    assert_eq!(doc["userID"], 1);
    assert_eq!(doc["fromAPIClient"], Value::Null);
    assert_eq!(doc["createdAt"], json!(h.now()));
    assert_eq!(doc["expiresAt"], Value::Null);
    assert_eq!(doc["lastUsedAt"], Value::Null);
    let token = doc["token"].as_str().expect("token is a string");
    assert!(token.starts_with(PREFIX), "{token}");
    assert!(
        TokenFormat::new(PREFIX)
            .expect("prefix")
            .check(token)
            .is_ok(),
        "{token} has a valid checksum"
    );
}

#[actix_web::test]
async fn created_token_authenticates_as_its_user_with_its_permissions() {
    let h = harness().await;
    let created = h
        .create(json!({"identifier": "Mine", "permissions": ["submit_score", "manage_rivals"]}))
        .await;
    let token = created.json["token"].as_str().expect("token").to_owned();

    let reply = h.send(status_request().with_bearer(&token)).await;

    assert_json_ok(&reply, "status with the new token");
    assert_eq!(reply.json["whoami"], 1);
    assert_eq!(
        reply.json["permissions"],
        json!(["manage_rivals", "submit_score"])
    );
}

#[actix_web::test]
async fn successful_responses_are_json_in_utf8() {
    let h = harness().await;
    let token = h.seed(1, "Doomed", &[], None);
    let session = h.session(1);
    for (case, req) in [
        ("list", list_request("1").with_session(&session)),
        (
            "create",
            create_request("1")
                .set_json(json!({"identifier": "x", "permissions": []}))
                .with_session(&session),
        ),
        ("delete", delete_request("1", &token).with_session(&session)),
        ("status", status_request()),
        (
            "status POST",
            TestRequest::post()
                .uri("/api/v1/status")
                .set_json(json!({})),
        ),
        ("healthz", TestRequest::get().uri("/healthz")),
        ("readyz", TestRequest::get().uri("/readyz")),
    ] {
        let reply = h.send(req).await;

        assert_json_ok(&reply, case);
    }
}

#[actix_web::test]
async fn list_is_oldest_first_and_shows_only_the_users_tokens() {
    let h = harness().await;
    h.seed(1, "first", &[], None);
    h.clock.advance(1000);
    h.seed(2, "someone else's", &[], None);
    h.seed(1, "second", &[], None);
    // Same millisecond: creation order breaks the tie.
    h.seed(1, "third", &[], None);
    h.clock.advance(1000);
    h.seed(1, "fourth", &[], None);

    let reply = h.send(list_request("1").with_session(&h.session(1))).await;

    assert_json_ok(&reply, "list");
    assert_eq!(
        identifiers(&reply.json),
        ["first", "second", "third", "fourth"]
    );
    let created: Vec<i64> = reply
        .json
        .as_array()
        .expect("an array")
        .iter()
        .map(|d| d["createdAt"].as_i64().expect("createdAt is an integer"))
        .collect();
    assert!(created.windows(2).all(|w| w[0] <= w[1]), "{created:?}");
    assert!(
        reply
            .json
            .as_array()
            .expect("an array")
            .iter()
            .all(|d| d["userID"] == 1)
    );
}

#[actix_web::test]
async fn list_shows_each_token_back_in_full() {
    let h = harness().await;
    let token = h.seed(1, "Mine", &["submit_score"], None);

    let reply = h.send(list_request("me").with_session(&h.session(1))).await;

    assert_json_ok(&reply, "list");
    let docs = reply.json.as_array().expect("an array");
    assert_eq!(docs.len(), 1);
    assert_eq!(docs[0]["token"], json!(token));
    assert_eq!(docs[0]["permissions"], json!({"submit_score": true}));
    assert_eq!(keys(&docs[0]).len(), 8, "{}", docs[0]);
}

#[actix_web::test]
async fn expired_token_stays_in_the_list() {
    let h = harness().await;
    let expires_at = h.now() + 1000;
    h.seed(1, "Short-lived", &[], Some(expires_at));
    h.clock.advance(5000);

    let reply = h.send(list_request("1").with_session(&h.session(1))).await;

    assert_json_ok(&reply, "list");
    assert_eq!(identifiers(&reply.json), ["Short-lived"]);
    assert_eq!(reply.json[0]["expiresAt"], json!(expires_at));
}

#[actix_web::test]
async fn delete_answers_an_empty_object_on_both_paths_and_the_token_stops_working() {
    for path in ["api-token", "api-tokens"] {
        let h = harness().await;
        let token = h.seed(1, "Doomed", &["submit_score"], None);
        let kept = h.seed(1, "Kept", &["submit_score"], None);
        let working = h.send(status_request().with_bearer(&token)).await;
        assert_json_ok(&working, "before delete");

        let reply = h
            .send(
                TestRequest::delete()
                    .uri(&format!("/api/v1/users/1/{path}/{token}"))
                    .with_session(&h.session(1)),
            )
            .await;

        assert_json_ok(&reply, path);
        assert_eq!(reply.json, json!({}));
        let after = h.send(status_request().with_bearer(&token)).await;
        assert_problem(&after, StatusCode::UNAUTHORIZED, "deleted token");
        let list = h.send(list_request("1").with_session(&h.session(1))).await;
        assert_eq!(identifiers(&list.json), ["Kept"], "{path}");
        let other = h.send(status_request().with_bearer(&kept)).await;
        assert_json_ok(&other, "the other token still works");
    }
}

#[actix_web::test]
async fn deleting_another_users_token_is_404_and_it_keeps_working() {
    let h = harness().await;
    let theirs = h.seed(2, "Theirs", &["submit_score"], None);
    for path_user in ["1", "me"] {
        let reply = h
            .send(delete_request(path_user, &theirs).with_session(&h.session(1)))
            .await;

        assert_problem(&reply, StatusCode::NOT_FOUND, path_user);
    }
    let status = h.send(status_request().with_bearer(&theirs)).await;
    assert_json_ok(&status, "user 2's token after the attempts");
    assert_eq!(status.json["whoami"], 2);
}

#[actix_web::test]
async fn deleting_an_unknown_or_malformed_or_already_deleted_token_is_404() {
    let h = harness().await;
    let token = h.seed(1, "Once", &[], None);
    let first = h
        .send(delete_request("1", &token).with_session(&h.session(1)))
        .await;
    assert_json_ok(&first, "first delete");
    for (case, candidate) in [
        ("already deleted", token),
        ("unknown", unknown_token()),
        ("malformed", "tsr_nope".to_owned()),
    ] {
        let reply = h
            .send(delete_request("1", &candidate).with_session(&h.session(1)))
            .await;

        assert_problem(&reply, StatusCode::NOT_FOUND, case);
    }
}

// ------------------------------------------------------------ RFC 9457

#[actix_web::test]
async fn framework_errors_are_problem_json_too() {
    let h = harness().await;
    let session = h.session(1);
    for (case, req, status) in [
        (
            "unknown route",
            TestRequest::get().uri("/nope"),
            StatusCode::NOT_FOUND,
        ),
        (
            "unknown API route",
            TestRequest::get().uri("/api/v1/users/1/tokens"),
            StatusCode::NOT_FOUND,
        ),
        (
            "PUT /healthz",
            TestRequest::put().uri("/healthz"),
            StatusCode::METHOD_NOT_ALLOWED,
        ),
        (
            "DELETE on the list",
            TestRequest::delete().uri("/api/v1/users/1/api-tokens"),
            StatusCode::METHOD_NOT_ALLOWED,
        ),
        (
            "GET on create",
            TestRequest::get().uri("/api/v1/users/1/api-tokens/create"),
            StatusCode::METHOD_NOT_ALLOWED,
        ),
        (
            "PATCH /api/v1/status",
            TestRequest::patch().uri("/api/v1/status"),
            StatusCode::METHOD_NOT_ALLOWED,
        ),
        (
            "413",
            create_request("1")
                .insert_header((header::CONTENT_TYPE, "application/json"))
                .set_payload(padded_create_body(BODY_LIMIT + 1))
                .with_session(&session),
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
        (
            "415",
            create_request("1")
                .insert_header((header::CONTENT_TYPE, "text/plain"))
                .set_payload("x")
                .with_session(&session),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            "malformed JSON",
            create_request("1")
                .insert_header((header::CONTENT_TYPE, "application/json"))
                .set_payload("{")
                .with_session(&session),
            StatusCode::BAD_REQUEST,
        ),
        (
            "wrong JSON type",
            create_request("1")
                .set_json(json!({"identifier": [], "permissions": []}))
                .with_session(&session),
            StatusCode::BAD_REQUEST,
        ),
        (
            "malformed userID",
            list_request("abc"),
            StatusCode::BAD_REQUEST,
        ),
        ("401", list_request("1"), StatusCode::UNAUTHORIZED),
        (
            "403",
            list_request("2").with_session(&session),
            StatusCode::FORBIDDEN,
        ),
    ] {
        let reply = h.send(req).await;

        assert_problem(&reply, status, case);
    }
}

#[actix_web::test]
async fn only_401_responses_carry_a_www_authenticate_challenge() {
    let h = harness().await;

    let forbidden = h.send(list_request("2").with_session(&h.session(1))).await;
    let unauthorized = h.send(list_request("2")).await;

    assert_problem(&forbidden, StatusCode::FORBIDDEN, "403");
    assert!(!forbidden.headers.contains_key(header::WWW_AUTHENTICATE));
    assert_problem(&unauthorized, StatusCode::UNAUTHORIZED, "401");
    let challenge = unauthorized
        .headers
        .get(header::WWW_AUTHENTICATE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(challenge.starts_with("Bearer"), "{challenge}");
}

// ------------------------------------------------------------------ status

#[actix_web::test]
async fn anonymous_status_has_no_whoami_and_no_permissions() {
    let h = harness().await;

    let reply = h.send(status_request()).await;

    assert_json_ok(&reply, "anonymous status");
    assert_eq!(reply.json["whoami"], Value::Null);
    assert!(keys(&reply.json).contains("whoami"), "whoami is present");
    assert_eq!(reply.json["permissions"], json!([]));
    assert!(reply.json["version"].is_string(), "{}", reply.json);
    assert_eq!(reply.json["serverTime"], json!(h.now()));
    assert!(reply.json["startTime"].is_i64(), "{}", reply.json);
}

#[actix_web::test]
async fn session_status_is_the_user_with_every_permission() {
    let h = harness().await;

    let reply = h.send(status_request().with_session(&h.session(7))).await;

    assert_json_ok(&reply, "session status");
    assert_eq!(reply.json["whoami"], 7);
    assert_eq!(reply.json["permissions"], json!(DEFAULT_PERMISSIONS));
}

#[actix_web::test]
async fn bearer_status_is_the_tokens_user_and_permissions() {
    let h = harness().await;
    let token = h.seed(42, "Theirs", &["manage_targets", "delete_score"], None);

    let reply = h.send(status_request().with_bearer(&token)).await;

    assert_json_ok(&reply, "bearer status");
    assert_eq!(reply.json["whoami"], 42);
    assert_eq!(
        reply.json["permissions"],
        json!(["delete_score", "manage_targets"])
    );
}

#[actix_web::test]
async fn status_follows_the_credential_precedence() {
    let h = harness().await;
    let token = h.seed(2, "Theirs", &["submit_score"], None);

    let session_and_bearer = h
        .send(
            status_request()
                .with_session(&h.session(1))
                .with_bearer(&token),
        )
        .await;
    let session_and_bad_bearer = h
        .send(
            status_request()
                .with_session(&h.session(1))
                .with_bearer("tsr_x"),
        )
        .await;
    let bad_session_and_bearer = h
        .send(
            status_request()
                .with_session("not-a-jwt")
                .with_bearer(&token),
        )
        .await;
    let other_cookie_and_bearer = h
        .send(
            status_request()
                .cookie(Cookie::new("unrelated", "x"))
                .with_bearer(&token),
        )
        .await;

    assert_json_ok(&session_and_bearer, "session + bearer");
    assert_eq!(session_and_bearer.json["whoami"], 1, "the session wins");
    assert_json_ok(&session_and_bad_bearer, "session + invalid bearer");
    assert_eq!(session_and_bad_bearer.json["whoami"], 1);
    assert_problem(
        &bad_session_and_bearer,
        StatusCode::UNAUTHORIZED,
        "invalid session + valid bearer",
    );
    assert_json_ok(&other_cookie_and_bearer, "unrelated cookie + bearer");
    assert_eq!(other_cookie_and_bearer.json["whoami"], 2);
}

#[actix_web::test]
async fn status_refuses_invalid_credentials_with_401() {
    let h = harness().await;
    let mut cases: Vec<(String, TestRequest)> = invalid_authorizations()
        .into_iter()
        .map(|(case, value)| (case.to_owned(), status_request().with_authorization(&value)))
        .collect();
    for (case, cookie) in invalid_sessions(&h) {
        cases.push((
            format!("{case} session"),
            status_request().with_session(&cookie),
        ));
    }
    for (case, req) in cases {
        let reply = h.send(req).await;

        assert_problem(&reply, StatusCode::UNAUTHORIZED, &case);
    }
}

#[actix_web::test]
async fn status_echoes_the_echo_query_parameter() {
    let h = harness().await;

    let echoed = h
        .send(TestRequest::get().uri("/api/v1/status?echo=hello%20there"))
        .await;
    let empty = h.send(TestRequest::get().uri("/api/v1/status?echo=")).await;
    let absent = h
        .send(TestRequest::get().uri("/api/v1/status?other=1"))
        .await;

    assert_json_ok(&echoed, "echo");
    assert_eq!(echoed.json["echo"], "hello there");
    assert_json_ok(&empty, "empty echo");
    assert_eq!(empty.json["echo"], "");
    assert_json_ok(&absent, "no echo");
    assert!(
        !keys(&absent.json).contains("echo"),
        "echo must be absent, not null: {}",
        absent.json
    );
}

#[actix_web::test]
async fn status_post_echoes_the_echo_body_member() {
    let h = harness().await;
    let token = h.seed(3, "Theirs", &["submit_score"], None);
    let post = || TestRequest::post().uri("/api/v1/status");

    let echoed = h.send(post().set_json(json!({"echo": "x"}))).await;
    let with_token = h
        .send(post().set_json(json!({"echo": "y"})).with_bearer(&token))
        .await;
    let absent = h.send(post().set_json(json!({}))).await;

    assert_json_ok(&echoed, "POST echo");
    assert_eq!(echoed.json["echo"], "x");
    assert_eq!(echoed.json["whoami"], Value::Null);
    assert_json_ok(&with_token, "POST echo with a token");
    assert_eq!(with_token.json["echo"], "y");
    assert_eq!(with_token.json["whoami"], 3);
    assert_json_ok(&absent, "POST without echo");
    assert!(
        !keys(&absent.json).contains("echo"),
        "echo must be absent, not null: {}",
        absent.json
    );
}

#[actix_web::test]
async fn status_post_follows_the_body_rules() {
    let h = harness().await;
    let post = || TestRequest::post().uri("/api/v1/status");

    let wrong_type = h.send(post().set_json(json!({"echo": 5}))).await;
    let text = h
        .send(
            post()
                .insert_header((header::CONTENT_TYPE, "text/plain"))
                .set_payload("echo"),
        )
        .await;
    let broken = h
        .send(
            post()
                .insert_header((header::CONTENT_TYPE, "application/json"))
                .set_payload("{"),
        )
        .await;
    let bad_credentials_first = h
        .send(
            post()
                .insert_header((header::CONTENT_TYPE, "text/plain"))
                .set_payload("echo")
                .with_bearer("tsr_x"),
        )
        .await;

    let huge = h
        .send(
            post()
                .insert_header((header::CONTENT_TYPE, "application/json"))
                .set_payload(format!(r#"{{"echo":"{}"}}"#, "x".repeat(BODY_LIMIT))),
        )
        .await;

    assert_problem(&wrong_type, StatusCode::BAD_REQUEST, "echo: 5");
    assert_problem(&huge, StatusCode::PAYLOAD_TOO_LARGE, "17 KiB echo");
    assert_problem(&text, StatusCode::UNSUPPORTED_MEDIA_TYPE, "text/plain");
    assert_problem(&broken, StatusCode::BAD_REQUEST, "malformed JSON");
    assert_problem(
        &bad_credentials_first,
        StatusCode::UNAUTHORIZED,
        "bad bearer and text/plain",
    );
}

#[actix_web::test]
async fn expired_token_is_401_on_status() {
    let h = harness().await;
    let expires_at = h.now() + 10_000;
    let token = h.seed(1, "Short-lived", &["submit_score"], Some(expires_at));
    h.clock.advance(9_999);
    let just_before = h.send(status_request().with_bearer(&token)).await;

    h.clock.advance(1);
    let at_expiry = h.send(status_request().with_bearer(&token)).await;
    h.clock.advance(60_000);
    let after = h.send(status_request().with_bearer(&token)).await;

    assert_json_ok(&just_before, "a millisecond before expiresAt");
    assert_eq!(just_before.json["whoami"], 1);
    assert_problem(&at_expiry, StatusCode::UNAUTHORIZED, "at expiresAt");
    assert_problem(&after, StatusCode::UNAUTHORIZED, "after expiresAt");
}

#[actix_web::test]
async fn server_time_follows_the_clock_and_start_time_stays() {
    let h = harness().await;
    let first = h.send(status_request()).await;

    h.clock.advance(90_000);
    let second = h.send(status_request()).await;

    assert_eq!(first.json["serverTime"], json!(h.now() - 90_000));
    assert_eq!(second.json["serverTime"], json!(h.now()));
    assert_eq!(first.json["startTime"], second.json["startTime"]);
    assert_eq!(first.json["startTime"], json!(h.now() - 90_000));
}

// ------------------------------------------------------------------ probes

#[actix_web::test]
async fn healthz_is_200() {
    let h = harness().await;

    let reply = h.send(TestRequest::get().uri("/healthz")).await;

    assert_json_ok(&reply, "healthz");
}

#[actix_web::test]
async fn readyz_is_200_when_the_store_answers() {
    let h = harness().await;

    let reply = h.send(TestRequest::get().uri("/readyz")).await;

    assert_json_ok(&reply, "readyz");
}

// ----------------------------------------------------------------- OpenAPI

const HTTP_METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// The document as JSON, as `/api/v1/openapi.json` serves it.
fn document() -> Value {
    serde_json::to_value(crate::openapi::openapi_document()).expect("the document serialises")
}

/// Every (METHOD, path template) operation the document describes.
fn documented_operations(document: &Value) -> BTreeSet<(String, String)> {
    document["paths"]
        .as_object()
        .expect("the document has paths")
        .iter()
        .flat_map(|(path, item)| {
            HTTP_METHODS
                .iter()
                .filter(|method| item.get(**method).is_some())
                .map(move |method| (method.to_uppercase(), path.clone()))
        })
        .collect()
}

/// A `$ref` to a component, followed; anything else as it is.
fn resolved<'a>(document: &'a Value, value: &'a Value) -> &'a Value {
    match value["$ref"].as_str() {
        Some(reference) => {
            let pointer = reference.trim_start_matches('#');
            document
                .pointer(pointer)
                .unwrap_or_else(|| panic!("{reference} resolves"))
        }
        None => value,
    }
}

/// The member names a schema documents, through `$ref` and `allOf`.
fn documented_members(document: &Value, schema: &Value) -> BTreeSet<String> {
    let schema = resolved(document, schema);
    let mut members: BTreeSet<String> = schema["properties"]
        .as_object()
        .map(|properties| properties.keys().cloned().collect())
        .unwrap_or_default();
    for part in schema["allOf"].as_array().into_iter().flatten() {
        members.extend(documented_members(document, part));
    }
    members
}

/// A concrete URL for a path template.
fn concrete(template: &str) -> String {
    template
        .replace("{userID}", "1")
        .split('/')
        .map(|segment| {
            if segment.starts_with('{') {
                "x"
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[test]
fn every_route_is_documented_and_every_documented_operation_is_a_route() {
    let registered: BTreeSet<(String, String)> = crate::route_table()
        .into_iter()
        .filter(|(_, path)| !crate::openapi::NOT_IN_DOCUMENT.contains(path))
        .map(|(method, path)| (method.to_string(), path.to_owned()))
        .collect();

    let documented = documented_operations(&document());

    let undocumented: Vec<_> = registered.difference(&documented).collect();
    let unregistered: Vec<_> = documented.difference(&registered).collect();
    assert!(
        undocumented.is_empty(),
        "routes the OpenAPI document does not describe: {undocumented:?}"
    );
    assert!(
        unregistered.is_empty(),
        "documented operations that no route serves: {unregistered:?}"
    );
    assert!(
        registered.contains(&(
            "DELETE".to_owned(),
            "/api/v1/users/{userID}/api-tokens/{token}".to_owned()
        )),
        "the route table lists both DELETE spellings: {registered:?}"
    );
}

#[test]
fn no_path_template_is_registered_twice() {
    // actix answers a path from the first resource matching it, so a
    // second resource with the same template would never be reached.
    let mut seen = BTreeSet::new();
    for path in crate::endpoints()
        .iter()
        .flat_map(|endpoint| endpoint.paths)
    {
        assert!(seen.insert(*path), "{path} is registered twice");
    }
}

#[actix_web::test]
async fn every_documented_operation_is_routed_to_a_handler() {
    let h = harness().await;
    for (method, path) in documented_operations(&document()) {
        // Without credentials or a body: every endpoint answers at once,
        // the revocation feed included (401 before any long poll).
        let req = TestRequest::default()
            .method(method.parse().expect("an HTTP method"))
            .uri(&concrete(&path));

        let reply = h.send_raw(req).await;

        let body = String::from_utf8_lossy(&reply.body);
        assert_ne!(
            reply.status,
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}: {body}"
        );
        assert!(
            !body.contains("no endpoint at this URL"),
            "{method} {path} is not routed: {body}"
        );
    }
}

#[test]
fn documented_errors_have_the_shape_their_endpoint_answers() {
    let document = document();
    let schemes: BTreeSet<&str> = keys(&document["components"]["securitySchemes"]);
    assert_eq!(
        schemes,
        BTreeSet::from(["bearer", "clientBasic", "session"])
    );
    for (method, path) in documented_operations(&document) {
        let operation = &document["paths"][&path][method.to_lowercase()];
        let context = format!("{method} {path}");
        let expected = if crate::oauth::is_oauth_error_path(&path) {
            "application/json"
        } else {
            PROBLEM_JSON
        };
        let responses = operation["responses"].as_object().expect("responses");
        assert!(
            responses.contains_key("200"),
            "{context}: documents its 200"
        );
        for (status, response) in responses {
            if !status.starts_with(['4', '5']) {
                continue;
            }
            let response = resolved(&document, response);
            assert_eq!(
                keys(&response["content"]),
                BTreeSet::from([expected]),
                "{context} {status}"
            );
        }
        for requirement in operation["security"].as_array().into_iter().flatten() {
            for scheme in keys(requirement) {
                assert!(
                    schemes.contains(scheme),
                    "{context}: unknown scheme {scheme}"
                );
            }
        }
    }
}

#[actix_web::test]
async fn openapi_document_is_served_as_json() {
    let h = harness().await;

    let reply = h.send(TestRequest::get().uri("/api/v1/openapi.json")).await;

    assert_json_ok(&reply, "openapi.json");
    let version = reply.json["openapi"].as_str().unwrap_or_default();
    assert!(version.starts_with("3."), "OpenAPI 3.x, not {version:?}");
    assert_eq!(reply.json["info"]["title"], "Tessera");
    let catalogue: Vec<String> = DEFAULT_PERMISSIONS
        .iter()
        .map(|p| (*p).to_owned())
        .collect();
    assert_eq!(reply.json, crate::openapi::openapi_value(&catalogue));
    // The instance's catalogue is the one its document lists.
    let listed = &reply.json["components"]["schemas"]["CreateClientBody"]["properties"]["permissions"]
        ["items"]["enum"];
    assert_eq!(listed, &serde_json::json!(catalogue));
}

#[actix_web::test]
async fn docs_page_and_its_assets_are_served_from_the_binary() {
    let h = harness().await;
    let get = |uri: &str| TestRequest::get().uri(uri);
    let header_of = |reply: &RawReply, name: header::HeaderName| {
        reply
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };

    let bare = h.send_raw(get("/docs")).await;
    let page = h.send_raw(get("/docs/")).await;
    let bundle = h.send_raw(get("/docs/swagger-ui-bundle.js")).await;
    let initializer = h.send_raw(get("/docs/swagger-initializer.js")).await;
    let missing = h.send(get("/docs/no-such-asset.js")).await;

    assert_eq!(bare.status, StatusCode::PERMANENT_REDIRECT);
    assert_eq!(header_of(&bare, header::LOCATION), "docs/");
    assert_eq!(page.status, StatusCode::OK);
    assert!(header_of(&page, header::CONTENT_TYPE).starts_with("text/html"));
    let html = String::from_utf8_lossy(&page.body);
    assert!(html.contains("swagger-ui"), "{html}");
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "{html}"
    );
    assert_eq!(bundle.status, StatusCode::OK);
    assert!(header_of(&bundle, header::CONTENT_TYPE).contains("javascript"));
    assert!(bundle.body.len() > 100_000, "the whole bundle, embedded");
    let script = String::from_utf8_lossy(&initializer.body);
    assert!(script.contains("/api/v1/openapi.json"), "{script}");
    assert!(
        script.contains(r#""validatorUrl": "none""#),
        "no public validator: {script}"
    );
    assert_problem(&missing, StatusCode::NOT_FOUND, "unknown asset");
}

#[actix_web::test]
async fn token_grant_has_exactly_the_documented_members() {
    let h = harness().await;
    let session = h.session(1);
    let client = h
        .send(
            TestRequest::post()
                .uri("/api/v1/clients/create")
                .set_json(json!({
                    "name": "Documented",
                    "permissions": ["submit_score"],
                    "redirectUri": "https://example.com/callback"
                }))
                .with_session(&session),
        )
        .await;
    assert_json_ok(&client, "client created");
    let code = h
        .send(
            TestRequest::post()
                .uri("/api/v1/oauth/create-code")
                .set_json(json!({"clientID": client.json["clientID"]}))
                .with_session(&session),
        )
        .await;
    assert_json_ok(&code, "code created");
    let form = serde_urlencoded::to_string([
        ("grant_type", "authorization_code"),
        ("code", code.json["code"].as_str().unwrap_or_default()),
        (
            "client_id",
            client.json["clientID"].as_str().unwrap_or_default(),
        ),
        (
            "client_secret",
            client.json["clientSecret"].as_str().unwrap_or_default(),
        ),
    ])
    .expect("a form");

    let grant = h
        .send(
            TestRequest::post()
                .uri("/api/v1/oauth/token")
                .insert_header((header::CONTENT_TYPE, "application/x-www-form-urlencoded"))
                .set_payload(form),
        )
        .await;

    assert_json_ok(&grant, "token grant");
    let document = document();
    let documented = documented_members(
        &document,
        &json!({"$ref": "#/components/schemas/TokenGrant"}),
    );
    let members: BTreeSet<String> = keys(&grant.json).into_iter().map(str::to_owned).collect();
    assert_eq!(members, documented);
    assert_eq!(grant.json["access_token"], grant.json["token"]);
    assert_eq!(grant.json["token_type"], "Bearer");
    assert_eq!(grant.json["scope"], "submit_score");
    assert_eq!(grant.json["identifier"], "Documented Token");
}
