//! Webhooks end to end, with a real receiver started by the test: payloads
//! and Standard Webhooks signatures checked by the test's own HMAC, retries
//! after a `500` and after a refused connection, a delivery surviving a
//! restart and a crash mid-delivery, and two instances on one database
//! delivering each event once.

use std::collections::{HashMap, VecDeque};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use diesel::prelude::*;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::Value;
use sha2::Sha256;
use tessera_domain::Clock as _;
use tessera_domain::webhooks::WebhookOutbox as _;
use tessera_persistence::Backend;
use tessera_persistence::testing::TestDatabase;
use tessera_server::settings::{Settings, WebhookSettings};

use crate::helpers::{TestApp, settings_for, spawn_app_with};

crate::both_backends!(webhooks:
    events_are_signed_and_retried_after_a_500_and_a_refused_connection,
    a_pending_delivery_survives_a_restart_and_a_crash_mid_delivery,
    two_instances_deliver_each_event_once,
    only_the_events_asked_for_are_sent_and_canary_uses_are,
    a_receiver_that_never_answers_holds_one_delivery_ten_seconds_and_nothing_else,
    an_https_receiver_is_spoken_to_over_tls_and_never_in_the_clear,
    a_redirect_is_not_followed_and_a_day_of_failures_gives_up,
    a_receiver_removed_from_the_configuration_has_its_deliveries_dropped,
);

/// 32 bytes, base64: `tessera-webhook-test-secret-0123`.
const SECRET: &str = "whsec_dGVzc2VyYS13ZWJob29rLXRlc3Qtc2VjcmV0LTAxMjM=";

#[derive(Debug, Clone)]
struct Received {
    id: String,
    timestamp: String,
    signature: String,
    content_type: String,
    body: String,
}

impl Received {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).expect("a JSON body")
    }
}

/// An HTTP receiver recording what it gets and answering with the queued
/// statuses, then `200`.
struct Receiver {
    url: String,
    got: Arc<Mutex<Vec<Received>>>,
    handle: actix_web::dev::ServerHandle,
}

impl Receiver {
    async fn start(answers: &[u16]) -> Self {
        Self::start_on(TcpListener::bind("127.0.0.1:0").expect("bind"), answers)
    }

    fn start_on(listener: TcpListener, answers: &[u16]) -> Self {
        let port = listener.local_addr().expect("address").port();
        let got = Arc::new(Mutex::new(Vec::new()));
        let answers = Arc::new(Mutex::new(answers.iter().copied().collect::<VecDeque<_>>()));
        let (seen, queue) = (got.clone(), answers.clone());
        let server = HttpServer::new(move || {
            let (seen, queue) = (seen.clone(), queue.clone());
            App::new().route(
                "/hook",
                web::post().to(move |req: HttpRequest, body: String| {
                    let (seen, queue) = (seen.clone(), queue.clone());
                    async move {
                        let header = |name: &str| {
                            req.headers()
                                .get(name)
                                .and_then(|v| v.to_str().ok())
                                .unwrap_or_default()
                                .to_owned()
                        };
                        seen.lock().expect("lock").push(Received {
                            id: header("webhook-id"),
                            timestamp: header("webhook-timestamp"),
                            signature: header("webhook-signature"),
                            content_type: header("content-type"),
                            body,
                        });
                        let status = queue.lock().expect("lock").pop_front().unwrap_or(200);
                        // A redirect points at the same receiver's /moved,
                        // which is never answered but recorded.
                        HttpResponse::build(
                            actix_web::http::StatusCode::from_u16(status).expect("status"),
                        )
                        .insert_header(("Location", "/moved"))
                        .finish()
                    }
                }),
            )
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .expect("listen")
        .run();
        let handle = server.handle();
        actix_web::rt::spawn(server);
        Self {
            url: format!("http://127.0.0.1:{port}/hook"),
            got,
            handle,
        }
    }

    fn received(&self) -> Vec<Received> {
        self.got.lock().expect("lock").clone()
    }

    /// What it got once it got at least `count` (or the deadline passed).
    async fn wait_for(&self, count: usize) -> Vec<Received> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let got = self.received();
            if got.len() >= count || Instant::now() > deadline {
                return got;
            }
            actix_web::rt::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn stop(self) {
        self.handle.stop(false).await;
    }
}

fn hook(url: &str, events: &[&str]) -> WebhookSettings {
    WebhookSettings {
        url: url.to_owned(),
        secret: tessera_domain::SecretString::new(SECRET),
        events: events.iter().map(|e| (*e).to_owned()).collect(),
    }
}

fn with_hooks(db: &TestDatabase, hooks: Vec<WebhookSettings>) -> Settings {
    let mut settings = settings_for(db);
    settings.webhooks = hooks;
    settings
}

/// The signature as a receiver's own code checks it, without Tessera's:
/// HMAC-SHA256 keyed by the secret's decoded bytes over
/// `{id}.{timestamp}.{body}`, base64, after `v1,`.
fn assert_signed(received: &Received) {
    let key = STANDARD
        .decode(SECRET.trim_start_matches("whsec_"))
        .expect("base64");
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&key).expect("key");
    mac.update(format!("{}.{}.{}", received.id, received.timestamp, received.body).as_bytes());
    let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
    assert_eq!(received.signature, expected, "{received:?}");
    assert!(received.timestamp.parse::<i64>().is_ok(), "{received:?}");
    assert!(received.content_type.starts_with("application/json"));
}

/// How the service names a receiver (never by its whole URL).
fn name_of(url: &str) -> String {
    tessera_domain::webhooks::receiver_name(&url::Url::parse(url).expect("url"))
}

/// A port nothing listens on (for now): connections to it are refused.
fn closed_port() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").expect("bind")
}

#[derive(QueryableByName, Debug)]
struct Row {
    #[diesel(sql_type = diesel::sql_types::Text)]
    receiver: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    state: String,
    #[diesel(sql_type = diesel::sql_types::Integer)]
    tries: i32,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    last_error: Option<String>,
}

impl Row {
    /// Whether its last try failed with an error mentioning `text`.
    fn failed_with(&self, text: &str) -> bool {
        self.last_error.as_deref().is_some_and(|e| e.contains(text))
    }
}

/// The outbox as it is in the database.
fn outbox_rows(app: &TestApp) -> Vec<Row> {
    let url = app.settings.database.url.expose().to_owned();
    let query = "SELECT receiver, state, tries, last_error FROM webhook_deliveries ORDER BY id";
    if let Some(path) = url.strip_prefix("sqlite://") {
        let mut conn = diesel::SqliteConnection::establish(path).expect("open");
        diesel::sql_query(query).load(&mut conn).expect("rows")
    } else {
        let mut conn = diesel::PgConnection::establish(&url).expect("connect");
        diesel::sql_query(query).load(&mut conn).expect("rows")
    }
}

/// Waits until the outbox satisfies `done`.
async fn outbox_until(app: &TestApp, done: impl Fn(&[Row]) -> bool) -> Vec<Row> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let rows = outbox_rows(app);
        if done(&rows) || Instant::now() > deadline {
            return rows;
        }
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
    }
}

pub async fn events_are_signed_and_retried_after_a_500_and_a_refused_connection(backend: Backend) {
    let receiver = Receiver::start(&[500]).await;
    let closed = closed_port();
    let late_url = format!(
        "http://127.0.0.1:{}/hook",
        closed.local_addr().expect("address").port()
    );
    let db = TestDatabase::new(backend);
    let settings = with_hooks(
        &db,
        vec![
            hook(&receiver.url, &["token.*"]),
            hook(&late_url, &["token.created"]),
        ],
    );
    // Refused until the late receiver listens.
    drop(closed);
    let app = spawn_app_with(db, settings);
    let created = app.create_token(3, "hooked", &["submit_score"]).await;

    let first = receiver.wait_for(1).await;
    assert_eq!(first.len(), 1, "tried at once");
    assert_signed(&first[0]);
    assert_eq!(first[0].id, "3.1");
    let body = first[0].json();
    assert_eq!(body["type"], "token.created");
    assert_eq!(body["data"]["seq"], 1);
    assert_eq!(body["data"]["tokenID"], created["id"]);
    assert_eq!(body["data"]["actor"]["kind"], "session");
    let timestamp = body["timestamp"].as_str().expect("timestamp");
    assert!(
        timestamp.ends_with('Z') && timestamp.contains('T'),
        "RFC 3339: {timestamp}"
    );
    // No token in it.
    assert!(
        !first[0]
            .body
            .contains(created["token"].as_str().expect("token"))
    );

    // The 500 and the refused connection are both due again in a second.
    let rows = outbox_until(&app, |rows| {
        rows.len() == 2 && rows.iter().all(|r| r.tries == 1 && r.last_error.is_some())
    })
    .await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert!(rows.iter().all(|r| r.state == "pending"), "{rows:?}");
    let refused = rows
        .iter()
        .find(|r| r.receiver == name_of(&late_url))
        .expect("row");
    assert!(refused.failed_with("connect"), "{refused:?}");
    let late = Receiver::start_on(
        TcpListener::bind(
            late_url
                .trim_start_matches("http://")
                .trim_end_matches("/hook"),
        )
        .expect("the refused port, now listening"),
        &[],
    );
    app.clock.advance(Duration::from_secs(1));

    let second = receiver.wait_for(2).await;
    assert_eq!(second.len(), 2);
    assert_signed(&second[1]);
    assert_eq!(second[1].id, first[0].id, "the same webhook-id on a retry");
    assert_eq!(second[1].json(), body, "the same payload");
    let arrived = late.wait_for(1).await;
    assert_eq!(arrived.len(), 1);
    assert_signed(&arrived[0]);
    assert_eq!(arrived[0].id, "3.1");
    let rows = outbox_until(&app, |rows| {
        rows.len() == 2 && rows.iter().all(|r| r.state == "delivered")
    })
    .await;
    assert!(
        rows.iter().all(|r| r.state == "delivered" && r.tries == 2),
        "{rows:?}"
    );

    let settings = app.settings.clone();
    let status = actix_web::rt::task::spawn_blocking(move || {
        tessera_server::operators::webhooks_status(&settings)
    })
    .await
    .expect("task")
    .expect("status");
    for url in [&receiver.url, &late_url] {
        let name = name_of(url);
        let line = status
            .lines()
            .find(|l| l.starts_with(&name))
            .expect("a line");
        let counts: Vec<&str> = line[name.len()..].split_whitespace().collect();
        assert_eq!(counts, ["0", "1", "0"], "{status}");
    }
    receiver.stop().await;
    late.stop().await;
}

pub async fn a_pending_delivery_survives_a_restart_and_a_crash_mid_delivery(backend: Backend) {
    // The receiver is down until the restart.
    let closed = closed_port();
    let address = closed.local_addr().expect("address");
    let url = format!("http://{address}/hook");
    drop(closed);
    let db = TestDatabase::new(backend);
    let settings = with_hooks(&db, vec![hook(&url, &["*"])]);
    let database = tessera_persistence::Database::connect(&db.settings()).expect("connect");
    database.migrate().expect("migrate");

    // An operator's command appends an event (its outbox row with it), and
    // an instance that then crashed mid-delivery had claimed it: held for
    // the lease, never settled.
    let operator = settings.clone();
    actix_web::rt::task::spawn_blocking(move || {
        tessera_server::operators::suspend_user(&operator, "4", Some("testing"))
    })
    .await
    .expect("task")
    .expect("suspend");
    let now = tessera_domain::SystemClock.now();
    let taken = database
        .webhook_outbox()
        .claim(now, now + tessera_server::webhooks::LEASE, 10)
        .expect("claim");
    let taken: Vec<String> = taken.iter().map(|d| d.event.kind.clone()).collect();
    assert_eq!(taken, ["user.suspended"], "held by the crashed instance");

    // An instance tries another event while the receiver is down, then
    // stops.
    let app = spawn_app_with(db, settings.clone());
    app.create_token(5, "before the restart", &[]).await;
    let tried = outbox_until(&app, |rows| {
        rows.len() == 2 && rows.iter().any(|r| r.last_error.is_some())
    })
    .await;
    assert!(
        tried.iter().all(|r| r.state == "pending" && r.tries == 1),
        "{tried:?}"
    );
    let db = app.stop().await;

    // Restarted, with the receiver back.
    let receiver = Receiver::start_on(TcpListener::bind(address).expect("rebind"), &[]);
    let app = spawn_app_with(db, settings);
    app.clock.advance(Duration::from_secs(2));
    let after_restart = receiver.wait_for(1).await;
    let ids: Vec<&str> = after_restart.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["5.1"], "the pending one, after the restart");
    app.clock
        .advance(tessera_server::webhooks::LEASE + Duration::from_secs(1));
    let all = receiver.wait_for(2).await;
    let ids: Vec<&str> = all.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(
        ids,
        ["5.1", "4.1"],
        "the crashed one, once its lease ran out"
    );
    all.iter().for_each(assert_signed);
    assert_eq!(all[1].json()["type"], "user.suspended");
    let rows = outbox_until(&app, |rows| {
        rows.len() == 2 && rows.iter().all(|r| r.state == "delivered")
    })
    .await;
    assert!(
        rows.iter().all(|r| r.state == "delivered" && r.tries == 2),
        "{rows:?}"
    );
    database.close(Duration::from_secs(1));
    receiver.stop().await;
}

pub async fn two_instances_deliver_each_event_once(backend: Backend) {
    let receiver = Receiver::start(&[]).await;
    let db = TestDatabase::new(backend);
    let settings = with_hooks(&db, vec![hook(&receiver.url, &["token.created"])]);
    let app = spawn_app_with(db, settings.clone());
    let peer = app.spawn_peer_with(settings);
    let events = 40;
    for i in 0..events {
        let instance = if i % 2 == 0 { &app } else { &peer };
        instance
            .create_token(10 + i / 4, &format!("token {i}"), &[])
            .await;
    }
    let rows = outbox_until(&app, |rows| {
        rows.len() == events as usize && rows.iter().all(|r| r.state == "delivered")
    })
    .await;
    assert!(
        rows.iter().all(|r| r.state == "delivered" && r.tries == 1),
        "{rows:?}"
    );
    let got = receiver.received();
    let mut per_id: HashMap<&str, usize> = HashMap::new();
    for received in &got {
        *per_id.entry(received.id.as_str()).or_default() += 1;
    }
    assert_eq!(per_id.len(), events as usize, "every event");
    assert!(per_id.values().all(|&n| n == 1), "each once: {per_id:?}");
    receiver.stop().await;
}

pub async fn only_the_events_asked_for_are_sent_and_canary_uses_are(backend: Backend) {
    let receiver = Receiver::start(&[]).await;
    let db = TestDatabase::new(backend);
    let settings = with_hooks(
        &db,
        vec![hook(&receiver.url, &["token.canary_used", "*.deleted"])],
    );
    let app = spawn_app_with(db, settings);
    let canary = crate::helpers::send_json(
        app.with_session(
            actix_web::http::Method::POST,
            "/api/v1/users/6/api-tokens/create",
            6,
        ),
        &serde_json::json!({"identifier": "bait", "permissions": [], "canary": true}),
    )
    .await;
    let token = crate::helpers::token_of(&canary.body);
    assert_eq!(app.status_with(&token).await.status, 401);
    let got = receiver.wait_for(1).await;
    assert_eq!(got.len(), 1);
    let body = got[0].json();
    assert_eq!(body["type"], "token.canary_used");
    assert_eq!(body["data"]["tokenID"], canary.body["id"]);
    assert_eq!(body["data"]["details"]["route"], "GET /api/v1/status");
    assert_eq!(got[0].id, "6.2", "token.created (seq 1) was not asked for");
    assert_signed(&got[0]);
    receiver.stop().await;
}

pub async fn a_receiver_that_never_answers_holds_one_delivery_ten_seconds_and_nothing_else(
    backend: Backend,
) {
    // Accepts connections and never answers.
    let stalled = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/hook", stalled.local_addr().expect("address"));
    let held = Arc::new(Mutex::new(Vec::new()));
    let holding = held.clone();
    std::thread::spawn(move || {
        for stream in stalled.incoming().flatten() {
            holding.lock().expect("lock").push(stream);
        }
    });
    let db = TestDatabase::new(backend);
    let settings = with_hooks(&db, vec![hook(&url, &["*"])]);
    let app = spawn_app_with(db, settings);
    app.create_token(8, "to a stalled receiver", &[]).await;
    let connected = Instant::now() + Duration::from_secs(30);
    while held.lock().expect("lock").is_empty() && Instant::now() < connected {
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        held.lock().expect("lock").len(),
        1,
        "the delivery is in flight"
    );

    // Meanwhile the service serves, and changes (events) go on.
    for i in 0..5 {
        let created = app
            .create_token(8, &format!("while stalled {i}"), &[])
            .await;
        let token = crate::helpers::token_of(&created);
        assert_eq!(app.status_with(&token).await.status, 200);
    }
    // The stalled try ends at its deadline and waits for its retry.
    let rows = outbox_until(&app, |rows| rows[0].last_error.is_some()).await;
    assert_eq!(rows[0].state, "pending", "{rows:?}");
    assert_eq!(rows[0].tries, 1, "{rows:?}");
    assert!(rows[0].failed_with("no answer within 10 s"), "{rows:?}");
    assert_eq!(rows.len(), 6);
}

pub async fn an_https_receiver_is_spoken_to_over_tls_and_never_in_the_clear(backend: Backend) {
    // A plain-HTTP server behind an https:// URL: a client that spoke TLS
    // fails its handshake there; one that fell back to plain HTTP would be
    // answered 200.
    let receiver = Receiver::start(&[]).await;
    let url = receiver.url.replacen("http://", "https://", 1);
    let db = TestDatabase::new(backend);
    let settings = with_hooks(&db, vec![hook(&url, &["*"])]);
    let app = spawn_app_with(db, settings);
    app.create_token(9, "over TLS", &[]).await;
    let rows = outbox_until(&app, |rows| rows.len() == 1 && rows[0].last_error.is_some()).await;
    assert_eq!(rows[0].state, "pending", "{rows:?}");
    let error = rows[0]
        .last_error
        .as_deref()
        .unwrap_or_default()
        .to_lowercase();
    assert!(
        error.contains("ssl") || error.contains("tls") || error.contains("handshake"),
        "{error}"
    );
    assert!(
        receiver.received().is_empty(),
        "no request reached the server in the clear"
    );
    receiver.stop().await;
}

pub async fn a_redirect_is_not_followed_and_a_day_of_failures_gives_up(backend: Backend) {
    // Every answer a redirect: never followed (the receiver would record a
    // request to /moved: its one route is /hook), always tried again.
    let receiver = Receiver::start(&[302, 307, 308]).await;
    let db = TestDatabase::new(backend);
    let settings = with_hooks(&db, vec![hook(&receiver.url, &["*"])]);
    let app = spawn_app_with(db, settings);
    app.create_token(12, "redirected", &[]).await;
    let rows = outbox_until(&app, |rows| {
        rows.len() == 1 && rows[0].tries == 1 && rows[0].last_error.is_some()
    })
    .await;
    assert!(rows[0].failed_with("302"), "{rows:?}");
    app.clock.advance(Duration::from_secs(1));
    outbox_until(&app, |rows| {
        rows[0].tries == 2 && rows[0].failed_with("307")
    })
    .await;
    // A day later the next failure is the last.
    app.clock.advance(Duration::from_secs(24 * 3600));
    let rows = outbox_until(&app, |rows| rows[0].state != "pending").await;
    assert_eq!(rows[0].state, "failed", "{rows:?}");
    assert_eq!(rows[0].tries, 3, "{rows:?}");
    assert!(rows[0].failed_with("308"), "{rows:?}");
    assert_eq!(
        receiver.received().len(),
        3,
        "three tries, no request followed a redirect"
    );
    // A failed delivery is not tried again.
    app.clock.advance(Duration::from_secs(3600));
    app.create_token(12, "a later event", &[]).await;
    outbox_until(&app, |rows| rows.len() == 2 && rows[1].state == "delivered").await;
    assert_eq!(receiver.received().len(), 4);
    assert_eq!(outbox_rows(&app)[0].tries, 3);
    receiver.stop().await;
}

pub async fn a_receiver_removed_from_the_configuration_has_its_deliveries_dropped(
    backend: Backend,
) {
    let closed = closed_port();
    let gone = format!("http://{}/hook", closed.local_addr().expect("address"));
    drop(closed);
    let db = TestDatabase::new(backend);
    let settings = with_hooks(&db, vec![hook(&gone, &["*"])]);
    let app = spawn_app_with(db, settings);
    app.create_token(13, "for a receiver about to go", &[])
        .await;
    outbox_until(&app, |rows| rows.len() == 1 && rows[0].tries == 1).await;
    let db = app.stop().await;
    // Restarted with another receiver in its place: the left-over
    // delivery is dropped at the next look, not tried for a day, and
    // never sent to the new one.
    let replacement = Receiver::start(&[]).await;
    let settings = with_hooks(&db, vec![hook(&replacement.url, &["*"])]);
    let app = spawn_app_with(db, settings);
    app.clock.advance(Duration::from_secs(2));
    let rows = outbox_until(&app, |rows| rows[0].state != "pending").await;
    assert_eq!(rows[0].state, "failed", "{rows:?}");
    assert_eq!(
        rows[0].last_error.as_deref(),
        Some("the receiver is no longer configured")
    );
    assert_eq!(rows[0].tries, 2);
    assert!(replacement.received().is_empty());
    replacement.stop().await;
}
