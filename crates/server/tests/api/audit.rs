//! The audit trail end to end: events exported page by page, a chain the
//! test checks offline with its own hashing, and `tessera audit verify`
//! naming an event edited directly in the database.

use actix_web::http::Method;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tessera_persistence::Backend;
use tessera_server::operators;

use crate::helpers::{TestApp, assert_problem, delete_token, send, spawn_app, token_of};

crate::both_backends!(audit:
    created_tokens_are_exported_as_a_chain_anyone_can_check,
    out_of_range_paging_and_another_users_trail_are_refused,
    audit_verify_names_an_event_edited_in_the_database,
    a_clients_life_is_recorded_and_no_event_holds_a_secret,
    a_token_coming_within_the_warning_window_is_warned_of_once,
);

async fn page(app: &TestApp, user: i64, query: &str) -> Value {
    let reply = send(app.with_session(
        Method::GET,
        &format!("/api/v1/users/{user}/audit{query}"),
        user,
    ))
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body
}

/// The whole export, following `next`.
async fn export(app: &TestApp, user: i64, limit: u32) -> Vec<Value> {
    let mut events = Vec::new();
    let mut query = format!("?limit={limit}");
    loop {
        let body = page(app, user, &query).await;
        events.extend(body["events"].as_array().expect("events").iter().cloned());
        match body["next"].as_u64() {
            Some(next) => query = format!("?limit={limit}&after={next}"),
            None => return events,
        }
    }
}

/// The chain checked as a holder of the export would: SHA-256 over the
/// RFC 8785 form of each event without `hash`, linked by `prevHash`.
fn assert_chain_holds(events: &[Value]) {
    let mut previous = "0".repeat(64);
    for (i, event) in events.iter().enumerate() {
        assert_eq!(event["seq"], i as u64 + 1);
        assert_eq!(event["prevHash"], previous.as_str(), "event {}", i + 1);
        let mut unhashed = event.clone();
        unhashed.as_object_mut().expect("object").remove("hash");
        let canonical = serde_json_canonicalizer::to_string(&unhashed).expect("canonical");
        let digest = Sha256::digest(canonical.as_bytes());
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(event["hash"], hex.as_str(), "event {}", i + 1);
        previous = hex;
    }
}

pub async fn created_tokens_are_exported_as_a_chain_anyone_can_check(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut issued = Vec::new();
    for i in 0..5 {
        issued.push(
            app.create_token(71, &format!("token {i}"), &["submit_score"])
                .await,
        );
    }
    app.create_token(72, "another user's", &[]).await;
    delete_token(&app, 71, &token_of(&issued[1])).await;

    let events = export(&app, 71, 2).await;
    assert_eq!(events.len(), 6, "three pages of 2");
    assert_chain_holds(&events);
    assert_eq!(events[5]["type"], "token.deleted");
    assert_eq!(events[5]["tokenID"], issued[1]["id"]);
    assert_eq!(
        events[5]["actor"],
        serde_json::json!({"kind": "session", "id": "71"})
    );
    for (event, document) in events.iter().zip(&issued) {
        assert_eq!(event["type"], "token.created");
        assert_eq!(event["tokenID"], document["id"]);
        assert_eq!(event["actor"]["kind"], "session");
        assert_eq!(event["actor"]["id"], "71");
        assert_eq!(event["clientID"], Value::Null);
    }
    // No event holds a token.
    let text = serde_json::to_string(&events).expect("text");
    for document in &issued {
        assert!(!text.contains(&token_of(document)));
    }
    let last = page(&app, 71, "?after=6").await;
    assert_eq!(last["events"], serde_json::json!([]));
    assert_eq!(last["next"], Value::Null);
    assert_eq!(export(&app, 72, 100).await.len(), 1);
    app.stop().await;
}

pub async fn out_of_range_paging_and_another_users_trail_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    for query in [
        "?limit=0",
        "?limit=501",
        "?after=-1",
        "?limit=ten",
        "?after=1.5",
    ] {
        let reply =
            send(app.with_session(Method::GET, &format!("/api/v1/users/73/audit{query}"), 73))
                .await;
        assert_problem(&reply, 400);
    }
    let reply = send(app.with_session(Method::GET, "/api/v1/users/74/audit", 73)).await;
    assert_problem(&reply, 403);
    let reply = send(app.request(Method::GET, "/api/v1/users/73/audit")).await;
    assert_problem(&reply, 401);
    app.stop().await;
}

pub async fn audit_verify_names_an_event_edited_in_the_database(backend: Backend) {
    use diesel::Connection as _;
    use diesel::connection::SimpleConnection as _;
    let app = spawn_app(backend).await;
    for i in 0..3 {
        app.create_token(75, &format!("token {i}"), &[]).await;
    }
    app.create_token(78, "another", &[]).await;
    app.create_token(79, "a third", &[]).await;
    let settings = app.settings.clone();
    let intact =
        actix_web::rt::task::spawn_blocking(move || operators::verify_audit(&settings, None))
            .await
            .expect("joins")
            .expect("an intact trail verifies");
    assert_eq!(
        intact,
        "user 75: 3 event(s), chain intact\nuser 78: 1 event(s), chain intact\n\
         user 79: 1 event(s), chain intact\n"
    );

    // Someone with database access renames the second token in its event.
    // ... and leaves another user's event unreadable.
    let edit = "UPDATE audit_events SET event = REPLACE(event, 'token 1', 'token X') \
                WHERE user_id = 75 AND seq = 2; \
                UPDATE audit_events SET event = '{' WHERE user_id = 78; \
                DELETE FROM audit_heads WHERE user_id = 79";
    let url = app.settings.database.url.expose().to_owned();
    match backend {
        Backend::Postgres => diesel::PgConnection::establish(&url)
            .expect("connect")
            .batch_execute(edit)
            .expect("edit"),
        Backend::Sqlite => diesel::SqliteConnection::establish(url.trim_start_matches("sqlite://"))
            .expect("open")
            .batch_execute(edit)
            .expect("edit"),
    }
    let settings = app.settings.clone();
    let broken =
        actix_web::rt::task::spawn_blocking(move || operators::verify_audit(&settings, Some("75")))
            .await
            .expect("joins")
            .expect_err("an edited event breaks the chain");
    let message = format!("{broken:#}");
    assert!(
        message.contains("user 75: BROKEN: event 2 was edited"),
        "{message}"
    );
    assert!(
        !message.contains("user 78"),
        "only the user asked for: {message}"
    );
    let settings = app.settings.clone();
    let all = actix_web::rt::task::spawn_blocking(move || operators::verify_audit(&settings, None))
        .await
        .expect("joins")
        .expect_err("two broken chains");
    let message = format!("{all:#}");
    assert!(
        message.contains("user 75: BROKEN: event 2 was edited"),
        "{message}"
    );
    assert!(
        message.contains("user 78: BROKEN: event 1 was edited"),
        "{message}"
    );
    assert!(
        message.contains("user 79: BROKEN: events are recorded but the chain's head was removed"),
        "{message}"
    );
    assert!(message.contains("3 audit chain(s) broken"), "{message}");
    assert_chain_breaks_offline(&export(&app, 75, 100).await);
    app.stop().await;
}

/// The edited export fails the holder's own check too.
fn assert_chain_breaks_offline(events: &[Value]) {
    let outcome = std::panic::catch_unwind(|| assert_chain_holds(events));
    assert!(outcome.is_err(), "an edited event must not pass");
}

pub async fn a_clients_life_is_recorded_and_no_event_holds_a_secret(backend: Backend) {
    let app = spawn_app(backend).await;
    let created = crate::clients::create_client(&app, 76, &crate::clients::valid_client()).await;
    let id = created["clientID"].as_str().expect("an id").to_owned();
    let path = format!("/api/v1/clients/{id}");
    let reset = send(app.with_session(Method::POST, &format!("{path}/reset-secret"), 76)).await;
    assert_eq!(reset.status, 200);
    let token = app.create_token(76, "mine", &[]).await;
    let deleted = send(app.with_session(Method::DELETE, &path, 76)).await;
    assert_eq!(deleted.status, 200);

    let events = export(&app, 76, 100).await;
    assert_chain_holds(&events);
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| e["type"].as_str().expect("a type"))
        .collect();
    assert_eq!(
        kinds,
        [
            "client.created",
            "client.secret_reset",
            "token.created",
            "client.deleted"
        ]
    );
    assert_eq!(events[0]["clientID"], id.as_str());
    let text = serde_json::to_string(&events).expect("text");
    for secret in [
        created["clientSecret"].as_str().expect("a secret"),
        reset.body["clientSecret"].as_str().expect("a secret"),
        &token_of(&token),
    ] {
        assert!(!text.contains(secret), "an event holds a secret");
    }
    app.stop().await;
}

pub async fn a_token_coming_within_the_warning_window_is_warned_of_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let day = 24 * 3600 * 1000;
    let mut created = Vec::new();
    for (identifier, days) in [("soon", 3), ("later", 8)] {
        let body = serde_json::json!({
            "identifier": identifier,
            "permissions": [],
            "expiresAt": app.now() + days * day,
        });
        let reply = crate::helpers::send_json(
            app.with_session(Method::POST, "/api/v1/users/81/api-tokens/create", 81),
            &body,
        )
        .await;
        assert_eq!(reply.status, 200, "{}", reply.raw);
        created.push(reply);
    }
    let (soon, later) = (&created[0], &created[1]);

    // The sweep runs every few seconds on its own.
    let warned = |events: &[Value]| {
        events
            .iter()
            .filter(|e| e["type"] == "token.expiring")
            .cloned()
            .collect::<Vec<_>>()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut events = export(&app, 81, 100).await;
    while warned(&events).is_empty() && std::time::Instant::now() < deadline {
        actix_web::rt::time::sleep(std::time::Duration::from_millis(100)).await;
        events = export(&app, 81, 100).await;
    }
    let first = warned(&events);
    assert_eq!(first.len(), 1, "{events:#?}");
    assert_eq!(first[0]["tokenID"], soon.body["id"]);
    assert_eq!(
        first[0]["actor"],
        serde_json::json!({"kind": "system", "id": null})
    );
    assert_eq!(first[0]["details"]["expiresAt"], soon.body["expiresAt"]);

    // A day later the second comes within the week; the first is not
    // warned of again.
    app.clock
        .advance(std::time::Duration::from_millis(day as u64 + 1000));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while warned(&events).len() < 2 && std::time::Instant::now() < deadline {
        actix_web::rt::time::sleep(std::time::Duration::from_millis(100)).await;
        events = export(&app, 81, 100).await;
    }
    let both = warned(&events);
    assert_eq!(both.len(), 2, "{events:#?}");
    assert_eq!(both[1]["tokenID"], later.body["id"]);
    assert_chain_holds(&events);
}
