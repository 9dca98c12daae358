//! Tessera and the example service running together, on each backend: a
//! valid token passes, a missing permission is `403`, a token deleted in
//! Tessera is refused by the example within a second (the revocation feed,
//! not a cache expiry), and with Tessera stopped the example answers `503`
//! once its view of the feed is older than its staleness limit.

use std::time::{Duration, Instant};

use actix_web::{App, HttpServer};
use serde_json::{Value, json};
use tessera_client::Verifier;
use tessera_domain::{Clock as _, SystemClock, UserId};
use tessera_http_adapter::SessionCodec;
use tessera_oauth_clients::BuiltInClientConfig;
use tessera_persistence::Backend;
use tessera_persistence::testing::TestDatabase;
use tessera_server::Application;
use tessera_server::settings::{Settings, Sources};

const RESOURCE_SERVER: &str = "CXScoreboard";
const SECRET: &str = "scoreboard-secret";
/// Long-polls the feed (from 2 s up), so a deletion arrives at once.
const STALENESS: Duration = Duration::from_secs(2);

struct Tessera {
    url: String,
    sessions: SessionCodec,
    handle: actix_web::dev::ServerHandle,
    _db: TestDatabase,
}

fn start_tessera(backend: Backend) -> Tessera {
    let db = TestDatabase::new(backend);
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut settings = Settings::load(&Sources {
        config_dir: root.join("config"),
        environment: None,
        file: None,
    })
    .expect("config/default.toml loads");
    settings.database = db.settings();
    settings.server.port = 0;
    settings.oauth.clients = vec![BuiltInClientConfig {
        client_secret: Some(tessera_domain::SecretString::new(SECRET)),
        resource_server: true,
        ..BuiltInClientConfig::new(RESOURCE_SERVER, "Scoreboard", &[])
    }];
    let application = Application::build(&settings).expect("Tessera builds");
    let url = format!("http://127.0.0.1:{}", application.port());
    let handle = application.handle();
    actix_web::rt::spawn(application.run_until_stopped());
    Tessera {
        url,
        sessions: SessionCodec::new(&settings.session).expect("session codec"),
        handle,
        _db: db,
    }
}

impl Tessera {
    fn session(&self) -> String {
        let user = UserId::new(1).expect("positive");
        let cookie = self
            .sessions
            .mint(user, 3600, SystemClock.now())
            .expect("mint");
        format!("tessera_session={}", cookie.expose())
    }

    async fn create_token(&self, permissions: &[&str]) -> Value {
        let mut reply = awc::Client::new()
            .post(format!("{}/api/v1/users/1/api-tokens/create", self.url))
            .insert_header(("Cookie", self.session()))
            .send_json(&json!({"identifier": "scoreboard", "permissions": permissions}))
            .await
            .expect("Tessera answers");
        assert_eq!(reply.status(), 200);
        reply.json().await.expect("json")
    }

    async fn delete_token(&self, id: &str) {
        let reply = awc::Client::new()
            .delete(format!("{}/api/v1/users/1/api-token/{id}", self.url))
            .insert_header(("Cookie", self.session()))
            .send()
            .await
            .expect("Tessera answers");
        assert_eq!(reply.status(), 200);
    }
}

/// The example on a free port; its address.
fn start_example(verifier: &Verifier) -> String {
    let verifier = verifier.clone();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(verifier.clone())
            .configure(relying_service::routes)
    })
    .workers(1)
    .bind("127.0.0.1:0")
    .expect("bind");
    let url = format!("http://{}", server.addrs()[0]);
    actix_web::rt::spawn(server.run());
    url
}

/// `POST /scores` with `token`: the status.
async fn submit(example: &str, token: Option<&str>) -> u16 {
    let mut request = awc::Client::new().post(format!("{example}/scores"));
    if let Some(token) = token {
        request = request.insert_header(("Authorization", format!("Bearer {token}")));
    }
    request
        .send()
        .await
        .expect("the example answers")
        .status()
        .as_u16()
}

async fn wait_for(what: &str, limit: Duration, mut check: impl AsyncFnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !check().await {
        assert!(start.elapsed() < limit, "not within {limit:?}: {what}");
        actix_web::rt::time::sleep(Duration::from_millis(10)).await;
    }
    start.elapsed()
}

async fn the_example_accepts_refuses_and_degrades(backend: Backend) {
    let tessera = start_tessera(backend);
    let submitter = tessera.create_token(&["submit_score"]).await;
    let rival = tessera.create_token(&["manage_rivals"]).await;
    let (token, id) = (
        submitter["token"].as_str().expect("token"),
        submitter["id"].as_str().expect("id"),
    );
    let verifier = Verifier::builder(&tessera.url, RESOURCE_SERVER, SECRET)
        .max_staleness(STALENESS)
        .build()
        .expect("verifier builds");
    let example = start_example(&verifier);
    wait_for(
        "the verifier's view is fresh",
        Duration::from_secs(10),
        async || verifier.is_fresh(),
    )
    .await;

    // A valid token passes; the second time from the example's own cache.
    assert_eq!(submit(&example, Some(token)).await, 201);
    let introspections = verifier.stats().introspections;
    assert_eq!(submit(&example, Some(token)).await, 201);
    assert_eq!(verifier.stats().introspections, introspections);

    // A missing permission, no token, an unknown token.
    assert_eq!(submit(&example, rival["token"].as_str()).await, 403);
    assert_eq!(submit(&example, None).await, 401);
    assert_eq!(submit(&example, Some("tsr_unknown")).await, 401);

    // Deleted in Tessera: refused by the example within a second. The cache
    // would keep the answer for a minute; only the feed can drop it.
    tessera.delete_token(id).await;
    let took = wait_for(
        "the deletion reaches the example",
        Duration::from_secs(1),
        async || submit(&example, Some(token)).await == 401,
    )
    .await;
    assert!(verifier.stats().revocations >= 1);
    eprintln!("deletion refused by the example after {took:?}");

    // Tessera stopped: cached tokens keep passing only while the view is
    // fresh; then 503.
    let other = tessera.create_token(&["submit_score"]).await;
    let other = other["token"].as_str().expect("token").to_owned();
    assert_eq!(submit(&example, Some(&other)).await, 201);
    tessera.handle.stop(true).await;
    wait_for(
        "503 once the view is stale",
        Duration::from_secs(15),
        async || match submit(&example, Some(&other)).await {
            201 => false,
            503 => {
                assert!(!verifier.is_fresh(), "503 while the view was fresh");
                true
            }
            status => panic!("unexpected {status}"),
        },
    )
    .await;
}

#[actix_web::test]
async fn with_tessera_on_sqlite() {
    the_example_accepts_refuses_and_degrades(Backend::Sqlite).await;
}

#[actix_web::test]
async fn with_tessera_on_postgres() {
    the_example_accepts_refuses_and_degrades(Backend::Postgres).await;
}
