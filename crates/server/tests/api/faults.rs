//! Faults, injected: a TCP proxy between an instance and PostgreSQL that
//! stalls the notification connection, partitions the instance, resets
//! its connections or refuses new ones (a stopped database); a table lock
//! held past the statement deadline; a full SQLite volume. For each: a
//! deleted token is refused within the revocation deadline (measured from
//! the `200` of the deletion, never slept), what cannot be answered is
//! `503` with `Retry-After` within the request deadlines (never a hang,
//! never `500`), `/readyz` says what is wrong, and service resumes within
//! a second of the database's return.

use std::net::ToSocketAddrs as _;
use std::time::{Duration, Instant};

use actix_web::http::Method;
use serde_json::{Value, json};
use tessera_persistence::Backend;
use tessera_persistence::testing::TestDatabase;
use tessera_server::settings::Settings;

use crate::helpers::{
    PROPAGATION_DEADLINE, Reply, TestApp, assert_problem, delete_token, refused_within_deadline,
    send, send_json, spawn_app, spawn_app_on, token_of,
};
use crate::proxy::Proxy;

/// The deadlines of instances under test: a request that needs the
/// database answers within their sum.
const ACQUIRE_MS: u64 = 300;
const STATEMENT_MS: u64 = 700;
/// What a `503` may take: the request deadline, plus scheduling slack.
const ANSWER_WITHIN: Duration = Duration::from_millis(ACQUIRE_MS + STATEMENT_MS + 700);

fn with_short_deadlines(settings: &mut Settings) {
    settings.database.acquire_timeout_ms = ACQUIRE_MS;
    settings.database.statement_timeout_ms = STATEMENT_MS;
}

/// A second instance on `app`'s PostgreSQL database, through a proxy.
fn proxied_peer(app: &TestApp, tweak: impl FnOnce(&mut Settings)) -> (Proxy, TestApp) {
    let url = app.settings.database.url.expose().to_owned();
    let authority = url
        .split_once("://")
        .map_or(url.as_str(), |(_, rest)| rest)
        .split(['/', '?'])
        .next()
        .unwrap_or_default();
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    let host = if host.contains(':') {
        host.to_owned()
    } else {
        format!("{host}:5432")
    };
    let target = host
        .to_socket_addrs()
        .expect("the database's address")
        .next()
        .expect("one address");
    let proxy = Proxy::start(target);
    let mut settings = app.settings.clone();
    settings.database.url = tessera_domain::SecretString::new(proxy.url_for(&url));
    with_short_deadlines(&mut settings);
    tweak(&mut settings);
    let peer = app.spawn_peer_with(settings);
    (proxy, peer)
}

async fn readyz(app: &TestApp) -> (Reply, Duration) {
    let started = Instant::now();
    let reply = send(app.request(Method::GET, "/readyz")).await;
    (reply, started.elapsed())
}

/// Polls `/readyz` until `done` holds of it, failing after `within`.
async fn readyz_until(app: &TestApp, within: Duration, done: impl Fn(&Reply) -> bool) -> Reply {
    let started = Instant::now();
    loop {
        let (reply, took) = readyz(app).await;
        assert!(took < Duration::from_secs(1), "/readyz took {took:?}");
        if done(&reply) {
            return reply;
        }
        assert!(
            started.elapsed() < within,
            "not reached in {within:?}: {}",
            reply.raw
        );
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
    }
}

fn stale(reply: &Reply) -> bool {
    reply.status == 503
        && reply.body["checks"]["revocations"]
            .as_str()
            .is_some_and(|r| r.starts_with("stale"))
}

fn ready(reply: &Reply) -> bool {
    reply.status == 200
}

/// A token of user 1 made through `app`, verified (and so cached) by `peer`.
async fn cached_on(app: &TestApp, peer: &TestApp) -> String {
    let token = token_of(&app.create_token(1, "faulted", &["submit_score"]).await);
    readyz_until(peer, Duration::from_secs(3), ready).await;
    assert_eq!(peer.status_with(&token).await.status, 200);
    assert_eq!(peer.status_with(&token).await.status, 200, "from the cache");
    token
}

fn assert_unavailable(reply: &Reply) {
    assert_problem(reply, 503);
    assert!(
        reply.headers.get("retry-after").is_some(),
        "Retry-After: {:?}",
        reply.headers
    );
}

/// A well-formed token nobody issued: only the database can say so.
fn unknown_token() -> String {
    tessera_domain::TokenFormat::new("tsr_")
        .expect("prefix")
        .generate()
        .expose()
        .to_owned()
}

#[actix_web::test]
async fn a_stalled_notification_connection_cannot_keep_a_deleted_token_alive() {
    let app = spawn_app(Backend::Postgres).await;
    let (proxy, peer) = proxied_peer(&app, |_| {});
    let token = cached_on(&app, &peer).await;

    // Socket open, nothing delivered; the pool is fine.
    proxy.freeze_listeners(true);
    delete_token(&app, 1, &token).await;
    refused_within_deadline(&peer, &token).await;
    let reply = readyz_until(&peer, Duration::from_secs(3), stale).await;
    assert_eq!(reply.body["checks"]["database"], "ok", "{}", reply.raw);
    assert!(reply.headers.get("retry-after").is_some());

    // While stale, verifications are the database's: still correct.
    let fresh = token_of(&app.create_token(1, "during", &[]).await);
    assert_eq!(peer.status_with(&fresh).await.status, 200);
    delete_token(&app, 1, &fresh).await;
    assert_eq!(peer.status_with(&fresh).await.status, 401);

    proxy.freeze_listeners(false);
    let reply = readyz_until(&peer, Duration::from_secs(3), ready).await;
    assert_eq!(
        reply.body,
        json!({"status": "ready", "checks": {"database": "ok", "revocations": "ok", "storage": "ok"}})
    );
    assert_eq!(peer.status_with(&token).await.status, 401);
    let after = cached_on(&app, &peer).await;
    delete_token(&app, 1, &after).await;
    refused_within_deadline(&peer, &after).await;
}

/// Every refusal travels the deletion's path: with notifications stalled,
/// a disabled, a rotated-away and a restricted token are still refused by
/// the other instance within the deadline.
#[actix_web::test]
async fn a_stalled_notification_connection_cannot_keep_a_refused_token_alive() {
    let app = spawn_app(Backend::Postgres).await;
    let (proxy, peer) = proxied_peer(&app, |_| {});
    let disabled = cached_on(&app, &peer).await;
    let rotated = cached_on(&app, &peer).await;
    let restricted = cached_on(&app, &peer).await;
    let ids: Vec<String> = app
        .list(1)
        .await
        .iter()
        .map(|t| t["id"].as_str().expect("id").to_owned())
        .collect();

    proxy.freeze_listeners(true);
    let change = async |id: &str, method: Method, suffix: &str, body: serde_json::Value| {
        let reply = crate::helpers::send_json(
            app.with_session(
                method,
                &format!("/api/v1/users/1/api-tokens/{id}{suffix}"),
                1,
            ),
            &body,
        )
        .await;
        assert_eq!(reply.status, 200, "{}", reply.raw);
    };
    change(&ids[0], Method::PATCH, "", json!({"disabled": true})).await;
    refused_within_deadline(&peer, &disabled).await;
    change(&ids[1], Method::POST, "/rotate", json!({})).await;
    refused_within_deadline(&peer, &rotated).await;
    change(
        &ids[2],
        Method::PATCH,
        "",
        json!({"allowedIps": ["192.0.2.0/24"]}),
    )
    .await;
    refused_within_deadline(&peer, &restricted).await;
    proxy.freeze_listeners(false);
    readyz_until(&peer, Duration::from_secs(3), ready).await;
    for token in [&disabled, &rotated, &restricted] {
        assert_eq!(peer.status_with(token).await.status, 401);
    }
}

#[actix_web::test]
async fn a_partitioned_instance_stops_accepting_a_deleted_token_and_answers_503_in_time() {
    let app = spawn_app(Backend::Postgres).await;
    let (proxy, peer) = proxied_peer(&app, |_| {});
    let token = cached_on(&app, &peer).await;

    proxy.freeze_all(true);
    delete_token(&app, 1, &token).await;
    let deleted = Instant::now();
    let mut after_deadline = 0;
    while deleted.elapsed() < PROPAGATION_DEADLINE + Duration::from_millis(1500) {
        let sent = deleted.elapsed();
        let reply = peer.status_with(&token).await;
        let took = deleted.elapsed() - sent;
        assert!(took < ANSWER_WITHIN, "an answer took {took:?}");
        assert_ne!(reply.status, 500, "{}", reply.raw);
        if sent >= PROPAGATION_DEADLINE {
            after_deadline += 1;
            assert_unavailable(&reply);
        } else {
            assert!(matches!(reply.status, 200 | 503), "{}", reply.raw);
        }
    }
    assert!(after_deadline > 0, "no request was sent past the deadline");
    let reply = readyz_until(&peer, Duration::from_secs(2), stale).await;
    assert_ne!(reply.body["checks"]["database"], "ok", "{}", reply.raw);

    proxy.freeze_all(false);
    readyz_until(&peer, Duration::from_secs(5), ready).await;
    assert_eq!(peer.status_with(&token).await.status, 401);
}

#[actix_web::test]
async fn connections_cut_under_an_instance_miss_no_revocation() {
    let app = spawn_app(Backend::Postgres).await;
    let (proxy, peer) = proxied_peer(&app, |_| {});
    for round in 0..3 {
        let token = cached_on(&app, &peer).await;
        proxy.reset_all();
        delete_token(&app, 1, &token).await;
        let took = refused_within_deadline(&peer, &token).await;
        assert!(took < PROPAGATION_DEADLINE, "round {round}: {took:?}");
    }
}

#[actix_web::test]
async fn a_stopped_database_is_503_at_once_for_64_concurrent_requests_and_service_resumes_within_a_second()
 {
    let app = spawn_app(Backend::Postgres).await;
    let (proxy, peer) = proxied_peer(&app, |_| {});
    readyz_until(&peer, Duration::from_secs(3), ready).await;

    proxy.refuse(true);
    proxy.reset_all();
    let session = peer.session(5);
    let requests = (0..64).map(|i| {
        let peer = &peer;
        let session = session.clone();
        async move {
            let started = Instant::now();
            let reply = match i % 3 {
                0 => peer.status_with(&unknown_token()).await,
                1 => {
                    send_json(
                        peer.request(Method::POST, "/api/v1/users/5/api-tokens/create")
                            .insert_header(("Cookie", format!("tessera_session={session}"))),
                        &json!({"identifier": "t", "permissions": []}),
                    )
                    .await
                }
                _ => {
                    send(
                        peer.request(Method::GET, "/api/v1/users/5/api-tokens")
                            .insert_header(("Cookie", format!("tessera_session={session}"))),
                    )
                    .await
                }
            };
            (reply, started.elapsed())
        }
    });
    let replies = futures_util::future::join_all(requests).await;
    for (reply, took) in &replies {
        assert_unavailable(reply);
        assert!(*took < ANSWER_WITHIN, "took {took:?}");
    }
    let (reply, took) = readyz(&peer).await;
    assert!(took < Duration::from_secs(1), "{took:?}");
    assert_eq!(reply.status, 503, "{}", reply.raw);
    assert_ne!(reply.body["checks"]["database"], "ok", "{}", reply.raw);

    // OAuth endpoints say so in RFC 6749's words.
    let oauth = crate::helpers::send_raw(
        peer.request(Method::POST, "/api/v1/oauth/token"),
        "application/x-www-form-urlencoded",
        format!(
            "grant_type=authorization_code&code=abc&redirect_uri=x&client_id=CXBuiltIn&client_secret={}",
            crate::helpers::BUILT_IN_SECRET
        ),
    )
    .await;
    assert_eq!(oauth.status, 503, "{}", oauth.raw);
    assert_eq!(
        oauth.body["error"], "temporarily_unavailable",
        "{}",
        oauth.raw
    );
    assert!(oauth.headers.get("retry-after").is_some());

    proxy.refuse(false);
    let back = Instant::now();
    loop {
        let reply = send_json(
            peer.with_session(Method::POST, "/api/v1/users/5/api-tokens/create", 5),
            &json!({"identifier": "back", "permissions": []}),
        )
        .await;
        if reply.status == 200 {
            break;
        }
        assert_unavailable(&reply);
        assert!(
            back.elapsed() < Duration::from_secs(1),
            "no success within a second of the database's return"
        );
        actix_web::rt::time::sleep(Duration::from_millis(10)).await;
    }
    let listed = peer.list(5).await;
    assert_eq!(listed.len(), 1, "only the acknowledged token: {listed:?}");
}

#[actix_web::test]
async fn serving_stale_on_outage_keeps_cached_tokens_when_the_operator_chose_it() {
    let app = spawn_app(Backend::Postgres).await;
    let (proxy, peer) = proxied_peer(&app, |settings| {
        settings.cache.serve_stale_on_outage = true;
    });
    let token = cached_on(&app, &peer).await;
    proxy.refuse(true);
    proxy.reset_all();
    readyz_until(&peer, Duration::from_secs(3), stale).await;
    assert_eq!(peer.status_with(&token).await.status, 200, "cached");
    assert_unavailable(&peer.status_with(&unknown_token()).await);
}

crate::both_backends!(faults:
    a_table_locked_past_the_statement_deadline_is_503_not_a_hang,
    readyz_lists_its_checks,
);

pub async fn readyz_lists_its_checks(backend: Backend) {
    let app = spawn_app(backend).await;
    let reply = readyz_until(&app, Duration::from_secs(3), ready).await;
    assert!(
        reply.content_type.starts_with("application/json"),
        "{}",
        reply.content_type
    );
    assert_eq!(
        reply.body,
        json!({"status": "ready", "checks": {"database": "ok", "revocations": "ok", "storage": "ok"}})
    );
}

pub async fn a_table_locked_past_the_statement_deadline_is_503_not_a_hang(backend: Backend) {
    use diesel::Connection as _;
    use diesel::connection::SimpleConnection as _;
    let db = TestDatabase::new(backend);
    let mut settings = crate::helpers::settings_for(&db);
    with_short_deadlines(&mut settings);
    let app = crate::helpers::spawn_app_with(db, settings);
    let kept = token_of(&app.create_token(2, "kept", &[]).await);

    // Another session holds the table (PostgreSQL) or the write lock
    // (SQLite) until told to let go.
    let url = app.settings.database.url.expose().to_owned();
    let mut holder: Box<dyn diesel::connection::SimpleConnection> = match backend {
        Backend::Postgres => {
            let mut conn = diesel::PgConnection::establish(&url).expect("connect");
            conn.batch_execute("BEGIN; LOCK TABLE api_tokens IN ACCESS EXCLUSIVE MODE;")
                .expect("lock");
            Box::new(conn)
        }
        Backend::Sqlite => {
            let path = url.trim_start_matches("sqlite://");
            let mut conn = diesel::SqliteConnection::establish(path).expect("open");
            conn.batch_execute("BEGIN IMMEDIATE;").expect("lock");
            Box::new(conn)
        }
    };
    let started = Instant::now();
    let reply = send_json(
        app.with_session(Method::POST, "/api/v1/users/2/api-tokens/create", 2),
        &json!({"identifier": "blocked", "permissions": []}),
    )
    .await;
    assert!(started.elapsed() < ANSWER_WITHIN, "{:?}", started.elapsed());
    assert_unavailable(&reply);
    holder.batch_execute("COMMIT;").expect("unlock");
    drop(holder);
    let listed: Vec<Value> = app.list(2).await;
    assert_eq!(listed.len(), 1, "the refused creation left nothing");
    assert_eq!(listed[0]["token"], Value::String(kept));
    app.create_token(2, "after", &[]).await;
}

/// Mounts a small tmpfs (needs root, as CI and the project's machines run).
struct SmallVolume {
    dir: tempfile::TempDir,
}

impl SmallVolume {
    fn mount(megabytes: u32) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={megabytes}m"), "tmpfs"])
            .arg(dir.path())
            .status()
            .expect("mount runs");
        assert!(
            status.success(),
            "mounting a small tmpfs needs root: run the suite as root (CI does)"
        );
        Self { dir }
    }

    /// Writes zeros until the volume refuses more.
    fn fill(&self) -> std::path::PathBuf {
        use std::io::Write as _;
        let path = self.dir.path().join("filler");
        let mut file = std::fs::File::create(&path).expect("filler");
        let chunk = vec![0u8; 64 * 1024];
        while file.write_all(&chunk).is_ok() {}
        let _ = file.sync_all();
        path
    }
}

impl Drop for SmallVolume {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(self.dir.path())
            .status();
    }
}

#[actix_web::test]
async fn a_full_sqlite_volume_is_503_and_readyz_says_so() {
    let volume = SmallVolume::mount(8);
    let db_url = format!("sqlite://{}/tessera.db", volume.dir.path().display());
    let db = TestDatabase::sqlite();
    let mut settings = crate::helpers::settings_for(&db);
    settings.database.url = tessera_domain::SecretString::new(db_url);
    with_short_deadlines(&mut settings);
    let app = crate::helpers::spawn_app_with(db, settings);
    let kept = token_of(&app.create_token(3, "kept", &[]).await);

    let filler = volume.fill();
    let reply = send_json(
        app.with_session(Method::POST, "/api/v1/users/3/api-tokens/create", 3),
        &json!({"identifier": "no room", "permissions": []}),
    )
    .await;
    assert_unavailable(&reply);
    let deletion = send(app.with_session(
        Method::DELETE,
        &format!("/api/v1/users/3/api-token/{kept}"),
        3,
    ))
    .await;
    assert!(
        matches!(deletion.status, 200 | 503),
        "a deletion on a full disk: {}",
        deletion.raw
    );
    let (reply, took) = readyz(&app).await;
    assert!(took < Duration::from_secs(1), "{took:?}");
    assert_eq!(reply.status, 503, "{}", reply.raw);
    assert!(
        reply.body["checks"]["storage"]
            .as_str()
            .is_some_and(|s| s != "ok"),
        "{}",
        reply.raw
    );

    std::fs::remove_file(filler).expect("room again");
    readyz_until(&app, Duration::from_secs(3), ready).await;
    let listed = app.list(3).await;
    assert_eq!(
        listed.len(),
        usize::from(deletion.status == 503),
        "nothing half-written: {listed:?}"
    );
    app.create_token(3, "room again", &[]).await;
    app.stop().await;
}

#[actix_web::test]
async fn a_partition_answers_introspection_503_not_active() {
    let app = spawn_app_on(TestDatabase::postgres()).await;
    let (proxy, peer) = proxied_peer(&app, |_| {});
    readyz_until(&peer, Duration::from_secs(3), ready).await;
    proxy.refuse(true);
    proxy.reset_all();
    let reply = crate::helpers::send_raw(
        peer.request(Method::POST, "/api/v1/oauth/introspect")
            .insert_header((
                "Authorization",
                crate::helpers::basic("CXResource", crate::helpers::RESOURCE_SERVER_SECRET),
            )),
        "application/x-www-form-urlencoded",
        format!("token={}", unknown_token()),
    )
    .await;
    assert_eq!(reply.status, 503, "{}", reply.raw);
    assert_eq!(
        reply.body["error"], "temporarily_unavailable",
        "{}",
        reply.raw
    );
}

/// Sends `held` (whose connection `proxy` stalls) and, once that
/// connection has stalled, `other`: `other` must be answered `200` while
/// `held` still waits, and `held` `503` within the request deadlines.
async fn only_the_stalled_request_waits(
    proxy: &Proxy,
    held: impl std::future::Future<Output = Reply>,
    other: impl std::future::Future<Output = Reply>,
) {
    let started = Instant::now();
    let held = async {
        let reply = held.await;
        (reply, started.elapsed())
    };
    let other = async {
        while proxy.stalled() == 0 {
            actix_web::rt::time::sleep(Duration::from_millis(5)).await;
        }
        let reply = other.await;
        (reply, started.elapsed())
    };
    let ((held, held_at), (other, other_at)) = futures_util::future::join(held, other).await;
    assert_eq!(other.status, 200, "{}", other.raw);
    assert!(
        other_at < held_at,
        "answered while the stalled request still waited: {other_at:?}, {held_at:?}"
    );
    assert_unavailable(&held);
    assert!(held_at < ANSWER_WITHIN, "{held_at:?}");
    assert_eq!(proxy.stalled(), 1, "only the one connection stalled");
}

#[actix_web::test]
async fn a_lookup_stalled_on_its_connection_holds_up_no_other_verification() {
    let app = spawn_app(Backend::Postgres).await;
    let (proxy, peer) = proxied_peer(&app, |_| {});
    readyz_until(&peer, Duration::from_secs(3), ready).await;
    let stalled = token_of(&app.create_token(1, "stalled", &[]).await);
    let healthy = token_of(&app.create_token(1, "healthy", &[]).await);
    let keyring = tessera_domain::Keyring::from_base64(app.settings.security.secret_key.expose())
        .expect("the test key");
    // The connection that looks the first token up stalls mid-statement.
    proxy.stall_on(Some(keyring.fingerprint(&stalled).0.to_vec()));
    only_the_stalled_request_waits(
        &proxy,
        peer.status_with(&stalled),
        peer.status_with(&healthy),
    )
    .await;
    proxy.stall_on(None);
    assert_eq!(peer.status_with(&stalled).await.status, 200);
}

#[actix_web::test]
async fn a_creation_stalled_on_its_connection_holds_up_no_other_creation() {
    let app = spawn_app(Backend::Postgres).await;
    let (proxy, peer) = proxied_peer(&app, |_| {});
    readyz_until(&peer, Duration::from_secs(3), ready).await;
    // The connection that stores this identifier's token stalls there.
    proxy.stall_on(Some(b"stalled-creation".to_vec()));
    let create = |user: i64, identifier: &'static str| {
        let request = peer.with_session(
            Method::POST,
            &format!("/api/v1/users/{user}/api-tokens/create"),
            user,
        );
        let body = json!({"identifier": identifier, "permissions": []});
        async move { send_json(request, &body).await }
    };
    only_the_stalled_request_waits(&proxy, create(7, "stalled-creation"), create(8, "healthy"))
        .await;
    proxy.stall_on(None);
    let listed = peer.list(8).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
}
