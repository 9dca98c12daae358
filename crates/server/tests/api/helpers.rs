//! `spawn_app`: the application on port 0 against a fresh database, with
//! typed helpers to call it.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::dev::ServerHandle;
use actix_web::http::Method;
use serde_json::Value;
use tessera_domain::{Clock, ManualClock, SystemClock, UserId};
use tessera_http_adapter::SessionCodec;
use tessera_oauth_clients::BuiltInClientConfig;
use tessera_persistence::Backend;
use tessera_persistence::testing::TestDatabase;
use tessera_server::Application;
use tessera_server::settings::{Settings, Sources};

/// The secret of the built-in client `CXBuiltIn` of the test settings.
pub const BUILT_IN_SECRET: &str = "built-in-client-secret";
/// The secret of `CXResource`, the test settings' resource server.
pub const RESOURCE_SERVER_SECRET: &str = "resource-server-secret";

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The repository's own `config/default.toml`, pointed at `db`.
pub fn settings_for(db: &TestDatabase) -> Settings {
    let mut settings = Settings::load(&Sources {
        config_dir: workspace_root().join("config"),
        environment: None,
        file: None,
    })
    .expect("config/default.toml loads");
    settings.database = db.settings();
    settings.server.host = "127.0.0.1".to_owned();
    settings.server.port = 0;
    settings.oauth.clients = vec![
        BuiltInClientConfig::new("CXFervidex", "Fervidex", &["submit_score"]),
        BuiltInClientConfig::new("CXKamai", "Kamai", &["customise_profile", "manage_rivals"]),
        BuiltInClientConfig {
            client_secret: Some(tessera_domain::SecretString::new(BUILT_IN_SECRET)),
            redirect_uri: Some("https://builtin.example/callback".to_owned()),
            ..BuiltInClientConfig::new("CXBuiltIn", "Built In", &["submit_score"])
        },
        BuiltInClientConfig {
            client_secret: Some(tessera_domain::SecretString::new(RESOURCE_SERVER_SECRET)),
            resource_server: true,
            ..BuiltInClientConfig::new("CXResource", "Resource Server", &[])
        },
    ];
    settings
}

pub struct TestApp {
    pub address: String,
    /// `None` for a peer, which shares another app's database.
    pub db: Option<TestDatabase>,
    pub clock: Arc<ManualClock>,
    pub settings: Settings,
    /// The instance's database handle: counts the queries it ran.
    pub database: tessera_persistence::Database,
    sessions: SessionCodec,
    handle: ServerHandle,
    running: actix_web::rt::task::JoinHandle<std::io::Result<()>>,
}

impl std::fmt::Debug for TestApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestApp")
            .field("address", &self.address)
            .finish()
    }
}

#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub content_type: String,
    pub headers: awc::http::header::HeaderMap,
    pub body: Value,
    pub raw: String,
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_on(TestDatabase::new(backend)).await
}

pub async fn spawn_app_on(db: TestDatabase) -> TestApp {
    let settings = settings_for(&db);
    start(settings, Some(db))
}

/// An instance owning `db` with other settings than `settings_for`'s.
pub fn spawn_app_with(db: TestDatabase, settings: Settings) -> TestApp {
    start(settings, Some(db))
}

/// An HTTP Basic `Authorization` value.
pub fn basic(id: &str, secret: &str) -> String {
    use base64::Engine as _;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
    )
}

fn start(settings: Settings, db: Option<TestDatabase>) -> TestApp {
    // `TEST_LOG=1`: the instances' log lines in the test output.
    if std::env::var_os("TEST_LOG").is_some() {
        tessera_server::telemetry::init(&settings.log);
    }
    // Starts at the real time so the sessions' own `exp` make sense.
    let clock = Arc::new(ManualClock::new(SystemClock.now()));
    let application =
        Application::build_with_clock(&settings, clock.clone()).expect("application builds");
    let address = format!("http://127.0.0.1:{}", application.port());
    let handle = application.handle();
    let database = application.database();
    let running = actix_web::rt::spawn(application.run_until_stopped());
    let sessions = SessionCodec::new(&settings.session).expect("session codec");
    TestApp {
        address,
        db,
        clock,
        settings,
        database,
        sessions,
        handle,
        running,
    }
}

impl TestApp {
    /// Stops the server gracefully, waits for its shutdown work (the last
    /// `lastUsedAt` flush) and hands the database back.
    pub async fn stop(self) -> TestDatabase {
        self.handle.stop(true).await;
        self.running
            .await
            .expect("server task")
            .expect("server stopped cleanly");
        self.db.expect("a peer does not own the database")
    }

    /// A second instance on the same database, as behind a load balancer.
    pub fn spawn_peer(&self) -> TestApp {
        start(self.settings.clone(), None)
    }

    /// A second instance on the same database with other settings (another
    /// URL to the same database through a fault-injecting proxy, deadlines).
    pub fn spawn_peer_with(&self, settings: Settings) -> TestApp {
        start(settings, None)
    }

    /// The clock as the documents show it: Unix milliseconds.
    pub fn now(&self) -> i64 {
        self.clock.now().as_millis()
    }

    /// A valid session cookie value for `user`.
    pub fn session(&self, user: i64) -> String {
        self.sessions
            .mint(UserId::new(user).expect("positive"), 3600, self.clock.now())
            .expect("mint")
            .expose()
            .to_owned()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub fn request(&self, method: Method, path: &str) -> awc::ClientRequest {
        awc::Client::builder()
            .disable_redirects()
            .finish()
            .request(method, self.url(path))
    }

    pub fn with_session(&self, method: Method, path: &str, user: i64) -> awc::ClientRequest {
        self.request(method, path)
            .insert_header(("Cookie", format!("tessera_session={}", self.session(user))))
    }

    pub fn with_bearer(&self, method: Method, path: &str, token: &str) -> awc::ClientRequest {
        self.request(method, path)
            .insert_header(("Authorization", format!("Bearer {token}")))
    }

    /// Creates a token for `user` from a permission list; returns its document.
    pub async fn create_token(&self, user: i64, identifier: &str, permissions: &[&str]) -> Value {
        let reply = send_json(
            self.with_session(
                Method::POST,
                &format!("/api/v1/users/{user}/api-tokens/create"),
                user,
            ),
            &serde_json::json!({"identifier": identifier, "permissions": permissions}),
        )
        .await;
        assert_eq!(reply.status, 200, "{}", reply.raw);
        reply.body
    }

    pub async fn list(&self, user: i64) -> Vec<Value> {
        let reply = send(self.with_session(
            Method::GET,
            &format!("/api/v1/users/{user}/api-tokens"),
            user,
        ))
        .await;
        assert_eq!(reply.status, 200, "{}", reply.raw);
        reply.body.as_array().expect("an array").clone()
    }

    pub async fn status_with(&self, token: &str) -> Reply {
        send(self.with_bearer(Method::GET, "/api/v1/status", token)).await
    }
}

pub async fn send(request: awc::ClientRequest) -> Reply {
    finish(request.send().await.expect("request sent")).await
}

pub async fn send_json(request: awc::ClientRequest, body: &Value) -> Reply {
    send_raw(request, "application/json", body.to_string()).await
}

pub async fn send_raw(request: awc::ClientRequest, content_type: &str, body: String) -> Reply {
    let request = if content_type.is_empty() {
        request
    } else {
        request.insert_header(("Content-Type", content_type))
    };
    finish(request.send_body(body).await.expect("request sent")).await
}

async fn finish<S>(mut response: awc::ClientResponse<S>) -> Reply
where
    S: futures_util::Stream<Item = Result<actix_web::web::Bytes, awc::error::PayloadError>> + Unpin,
{
    let bytes = response.body().limit(1 << 20).await.expect("body");
    let raw = String::from_utf8_lossy(&bytes).into_owned();
    Reply {
        status: response.status().as_u16(),
        content_type: response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned(),
        headers: response.headers().clone(),
        body: serde_json::from_str(&raw).unwrap_or(Value::Null),
        raw,
    }
}

/// Asserts an RFC 9457 problem document with this status.
pub fn assert_problem(reply: &Reply, status: u16) {
    assert_eq!(reply.status, status, "{}", reply.raw);
    assert_eq!(
        reply.content_type, "application/problem+json",
        "{}",
        reply.raw
    );
    assert_eq!(reply.body["status"], status, "{}", reply.raw);
    assert!(reply.body["title"].is_string(), "{}", reply.raw);
    assert!(reply.body["type"].is_string(), "{}", reply.raw);
    assert!(reply.body["detail"].is_string(), "{}", reply.raw);
}

pub fn token_of(document: &Value) -> String {
    document["token"]
        .as_str()
        .expect("token is a string")
        .to_owned()
}

/// Sends `head` (request line and headers, each ending in CRLF) and `body`
/// on a raw socket; returns the status and Content-Type of the answer.
pub fn raw_request(app: &TestApp, head: &str, body: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let address = app.address.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(address).expect("connect");
    let request = format!("{head}Connection: close\r\n\r\n{body}");
    stream.write_all(request.as_bytes()).expect("write");
    let mut response = Vec::new();
    stream.read_to_end(&mut response).expect("read");
    let text = String::from_utf8_lossy(&response);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    let content_type = text
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-type")
                .then(|| value.trim().to_owned())
        })
        .unwrap_or_default();
    (status, content_type)
}

/// The deadline of issue 4 for another instance to stop accepting a token.
pub const PROPAGATION_DEADLINE: Duration = Duration::from_secs(1);

/// Deletes the user's token through the API, asserting 200.
pub async fn delete_token(app: &TestApp, user: i64, token: &str) {
    let path = format!("/api/v1/users/{user}/api-token/{token}");
    assert_eq!(
        send(app.with_session(Method::DELETE, &path, user))
            .await
            .status,
        200
    );
}

/// Polls `app` until it refuses `token`, failing past the deadline;
/// returns how long it took.
pub async fn refused_within_deadline(app: &TestApp, token: &str) -> Duration {
    let started = Instant::now();
    loop {
        if app.status_with(token).await.status == 401 {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < PROPAGATION_DEADLINE,
            "the instance still accepts the token after {:?}",
            started.elapsed()
        );
        actix_web::rt::time::sleep(Duration::from_millis(5)).await;
    }
}
