//! Canary tokens end to end: on every path a token can take (Bearer,
//! introspection, self-rotation, OAuth revocation) a canary is answered
//! byte for byte like a deleted token, and each use lands in its owner's
//! audit trail with where it came from, and in `/metrics`.

use std::time::{Duration, Instant};

use actix_web::http::Method;
use serde_json::{Value, json};
use tessera_persistence::Backend;

use crate::helpers::{
    BUILT_IN_SECRET, RESOURCE_SERVER_SECRET, Reply, TestApp, basic, delete_token, send, send_json,
    send_raw, spawn_app, token_of,
};
use crate::operations::{metrics_text, sample};

crate::both_backends!(canary:
    a_canary_is_answered_like_a_deleted_token_everywhere_and_every_use_is_recorded,
);

/// What a caller can observe of an answer.
fn observed(reply: &Reply) -> (u16, String, String, Vec<String>) {
    // Every header but those that differ per response anyway: the date,
    // the request id, and `connection: close`, which actix-web adds when a
    // refusal is answered before the request's body has fully arrived —
    // a matter of packet timing, for an unknown token as for a canary.
    let mut headers: Vec<String> = reply
        .headers
        .iter()
        .filter(|(name, _)| !matches!(name.as_str(), "date" | "x-request-id" | "connection"))
        .map(|(name, value)| format!("{name}: {value:?}"))
        .collect();
    headers.sort();
    (
        reply.status,
        reply.content_type.clone(),
        reply.raw.clone(),
        headers,
    )
}

/// How many uses the events count (uses alike that waited together are
/// one event).
fn uses(events: &[Value]) -> u64 {
    events
        .iter()
        .map(|e| e["details"]["uses"].as_u64().expect("uses"))
        .sum()
}

async fn introspect(app: &TestApp, token: &str) -> Reply {
    send_raw(
        app.request(Method::POST, "/api/v1/oauth/introspect")
            .insert_header(("Authorization", basic("CXResource", RESOURCE_SERVER_SECRET))),
        "application/x-www-form-urlencoded",
        format!("token={token}&client_ip=198.51.100.4"),
    )
    .await
}

async fn revoke(app: &TestApp, token: &str) -> Reply {
    send_raw(
        app.request(Method::POST, "/api/v1/oauth/revoke")
            .insert_header(("Authorization", basic("CXBuiltIn", BUILT_IN_SECRET))),
        "application/x-www-form-urlencoded",
        format!("token={token}"),
    )
    .await
}

/// Every way a caller can present a token, each answer as observed.
async fn every_use(app: &TestApp, token: &str) -> Vec<(u16, String, String, Vec<String>)> {
    let mut answers = Vec::new();
    for _ in 0..2 {
        // Twice: from the store, then from the cache.
        let status = send(
            app.with_bearer(Method::GET, "/api/v1/status", token)
                .insert_header(("User-Agent", "leaked-ci/2.1")),
        )
        .await;
        answers.push(observed(&status));
    }
    let listing = send(app.with_bearer(Method::GET, "/api/v1/users/me/api-tokens", token)).await;
    answers.push(observed(&listing));
    answers.push(observed(&introspect(app, token).await));
    let rotation = send_json(
        app.with_bearer(Method::POST, "/api/v1/tokens/rotate", token),
        &json!({}),
    )
    .await;
    answers.push(observed(&rotation));
    answers.push(observed(&revoke(app, token).await));
    answers
}

/// The user's `token.canary_used` events once `count` are there (they are
/// written off the request path, within a fraction of a second).
async fn canary_events(app: &TestApp, user: i64, count: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let reply = send(app.with_session(
            Method::GET,
            &format!("/api/v1/users/{user}/audit?limit=500"),
            user,
        ))
        .await;
        assert_eq!(reply.status, 200, "{}", reply.raw);
        let used: Vec<Value> = reply.body["events"]
            .as_array()
            .expect("events")
            .iter()
            .filter(|e| e["type"] == "token.canary_used")
            .cloned()
            .collect();
        if uses(&used) >= count as u64 || Instant::now() > deadline {
            return used;
        }
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
}

pub async fn a_canary_is_answered_like_a_deleted_token_everywhere_and_every_use_is_recorded(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let created = send_json(
        app.with_session(Method::POST, "/api/v1/users/5/api-tokens/create", 5),
        &json!({"identifier": "AWS_KEY in .env", "permissions": ["submit_score"], "canary": true}),
    )
    .await;
    assert_eq!(created.status, 200, "{}", created.raw);
    assert_eq!(created.body["canary"], true);
    let canary = token_of(&created.body);
    let deleted = app.create_token(5, "gone", &["submit_score"]).await;
    let deleted_token = token_of(&deleted);
    delete_token(&app, 5, &deleted_token).await;
    let before = sample(&metrics_text(&app).await, "tessera_canary_uses_total");

    let canary_answers = every_use(&app, &canary).await;
    let deleted_answers = every_use(&app, &deleted_token).await;

    assert_eq!(canary_answers, deleted_answers);
    assert_eq!(canary_answers[0].0, 401);
    assert_eq!(canary_answers[3].2, r#"{"active":false}"#);
    let used = canary_events(&app, 5, 6).await;
    assert_eq!(uses(&used), 6, "{used:#?}");
    for event in &used {
        assert_eq!(event["tokenID"], created.body["id"]);
        assert_eq!(
            event["actor"],
            json!({"kind": "token", "id": created.body["id"]})
        );
    }
    // In order, with the two alike status uses counted together or apart
    // depending on whether a flush fell between them.
    let mut routes: Vec<(&str, u64)> = Vec::new();
    for event in &used {
        let route = event["details"]["route"].as_str().expect("route");
        let count = event["details"]["uses"].as_u64().expect("uses");
        match routes.last_mut() {
            Some((last, n)) if *last == route => *n += count,
            _ => routes.push((route, count)),
        }
    }
    assert_eq!(
        routes,
        [
            ("GET /api/v1/status", 2),
            ("GET /api/v1/users/{userID}/api-tokens", 1),
            ("POST /api/v1/oauth/introspect", 1),
            ("POST /api/v1/tokens/rotate", 1),
            ("POST /api/v1/oauth/revoke", 1),
        ]
    );
    let by_route = |route: &str| {
        used.iter()
            .find(|e| e["details"]["route"] == route)
            .expect("an event")
    };
    let status = by_route("GET /api/v1/status");
    assert_eq!(status["details"]["userAgent"], "leaked-ci/2.1");
    assert_eq!(status["details"]["ip"], "127.0.0.1");
    assert_eq!(status["details"]["resourceServer"], Value::Null);
    let introspected = by_route("POST /api/v1/oauth/introspect");
    assert_eq!(introspected["details"]["resourceServer"], "CXResource");
    assert_eq!(introspected["details"]["ip"], "198.51.100.4");
    // Nothing changed: the canary is still there, still a canary.
    let listed = app.list(5).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["canary"], true);
    let after = sample(&metrics_text(&app).await, "tessera_canary_uses_total");
    assert!(after - before >= 6.0, "{before} → {after}");
}
