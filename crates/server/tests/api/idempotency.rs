//! `Idempotency-Key` on token and client creation: a retry
//! gets what the first request created, never a second record; another
//! body is `422`; concurrent requests with one key make one record,
//! settled by the database; keys are forgotten after 24 hours.

use std::time::Duration;

use actix_web::http::Method;
use serde_json::Value;
use tessera_persistence::Backend;

use crate::helpers::{Reply, TestApp, assert_problem, send_raw, spawn_app};

crate::both_backends!(idempotency:
    a_retried_creation_returns_the_same_token_and_stores_one,
    another_body_with_the_key_is_422_and_creates_nothing,
    concurrent_requests_with_one_key_create_one_token,
    keys_are_forgotten_after_a_day,
    malformed_keys_are_400,
    a_retried_client_creation_returns_the_same_client_and_secret,
    a_failed_request_gives_its_key_back,
);

async fn create(app: &TestApp, key: &str, body: &str) -> Reply {
    send_raw(
        app.with_session(Method::POST, "/api/v1/users/1/api-tokens/create", 1)
            .insert_header(("Idempotency-Key", key)),
        "application/json",
        body.to_owned(),
    )
    .await
}

const BODY: &str = r#"{"identifier": "retried", "permissions": ["submit_score"]}"#;

pub async fn a_retried_creation_returns_the_same_token_and_stores_one(backend: Backend) {
    let app = spawn_app(backend).await;
    let first = create(&app, "key-1", BODY).await;
    assert_eq!(first.status, 200, "{}", first.raw);
    let again = create(&app, "key-1", BODY).await;
    assert_eq!(again.status, 200, "{}", again.raw);
    assert_eq!(again.body["token"], first.body["token"]);
    assert_eq!(again.body["createdAt"], first.body["createdAt"]);
    // The same members in another order are the same request.
    let reordered = create(
        &app,
        "key-1",
        r#"{"permissions": ["submit_score"], "identifier": "retried"}"#,
    )
    .await;
    assert_eq!(
        reordered.body["token"], first.body["token"],
        "{}",
        reordered.raw
    );
    assert_eq!(app.list(1).await.len(), 1, "one record");
    // Without a key, or with another, a request is a new one.
    assert_eq!(create(&app, "key-2", BODY).await.status, 200);
    assert_eq!(app.list(1).await.len(), 2);
}

pub async fn another_body_with_the_key_is_422_and_creates_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    assert_eq!(create(&app, "key-3", BODY).await.status, 200);
    let other = create(
        &app,
        "key-3",
        r#"{"identifier": "other", "permissions": ["submit_score"]}"#,
    )
    .await;
    assert_problem(&other, 422);
    assert_eq!(app.list(1).await.len(), 1);
}

pub async fn concurrent_requests_with_one_key_create_one_token(backend: Backend) {
    let app = spawn_app(backend).await;
    let replies =
        futures_util::future::join_all((0..16).map(|_| create(&app, "key-race", BODY))).await;
    let tokens: std::collections::HashSet<&Value> = replies
        .iter()
        .filter(|r| r.status == 200)
        .map(|r| &r.body["token"])
        .collect();
    assert_eq!(tokens.len(), 1, "one token for all: {tokens:?}");
    for reply in &replies {
        assert!(matches!(reply.status, 200 | 409), "{}", reply.raw);
        if reply.status == 409 {
            assert_problem(reply, 409);
        }
    }
    assert_eq!(app.list(1).await.len(), 1, "settled by the database");
    // Once the first finished, every retry gets its token.
    let after = create(&app, "key-race", BODY).await;
    assert!(tokens.contains(&after.body["token"]), "{}", after.raw);
}

pub async fn keys_are_forgotten_after_a_day(backend: Backend) {
    let app = spawn_app(backend).await;
    let first = create(&app, "key-day", BODY).await;
    app.clock
        .advance(Duration::from_secs(24 * 3600) - Duration::from_millis(1));
    assert_eq!(
        create(&app, "key-day", BODY).await.body["token"],
        first.body["token"]
    );
    app.clock.advance(Duration::from_millis(1));
    let later = create(&app, "key-day", BODY).await;
    assert_eq!(later.status, 200, "{}", later.raw);
    assert_ne!(later.body["token"], first.body["token"], "a new request");
    assert_eq!(app.list(1).await.len(), 2);
}

pub async fn malformed_keys_are_400(backend: Backend) {
    let app = spawn_app(backend).await;
    let long = "k".repeat(256);
    for key in ["", "with space", long.as_str()] {
        let reply = create(&app, key, BODY).await;
        assert_problem(&reply, 400);
        assert!(
            reply.body["detail"]
                .as_str()
                .is_some_and(|d| d.contains("Idempotency-Key")),
            "{}",
            reply.raw
        );
    }
    let non_ascii = send_raw(
        app.with_session(Method::POST, "/api/v1/users/1/api-tokens/create", 1)
            .insert_header((
                "Idempotency-Key",
                actix_web::http::header::HeaderValue::from_bytes(b"cl\xc3\xa9").expect("bytes"),
            )),
        "application/json",
        BODY.to_owned(),
    )
    .await;
    assert_problem(&non_ascii, 400);
    assert_eq!(
        create(&app, &"k".repeat(255), BODY).await.status,
        200,
        "255 characters is fine"
    );
    assert_eq!(app.list(1).await.len(), 1);
}

pub async fn a_retried_client_creation_returns_the_same_client_and_secret(backend: Backend) {
    let app = spawn_app(backend).await;
    let body = r#"{"name": "Retried Client", "permissions": ["submit_score"]}"#;
    let post = |body: &'static str| {
        send_raw(
            app.with_session(Method::POST, "/api/v1/clients/create", 1)
                .insert_header(("Idempotency-Key", "client-key")),
            "application/json",
            body.to_owned(),
        )
    };
    let first = post(body).await;
    assert_eq!(first.status, 200, "{}", first.raw);
    let again = post(body).await;
    assert_eq!(
        again.body["clientID"], first.body["clientID"],
        "{}",
        again.raw
    );
    assert_eq!(again.body["clientSecret"], first.body["clientSecret"]);
    assert_problem(
        &post(r#"{"name": "Another Client", "permissions": ["submit_score"]}"#).await,
        422,
    );
    let listed = crate::helpers::send(app.with_session(Method::GET, "/api/v1/clients", 1)).await;
    assert_eq!(
        listed.body.as_array().map(Vec::len),
        Some(1),
        "{}",
        listed.raw
    );
    // The same key for a token is another scope: a token is created.
    assert_eq!(create(&app, "client-key", BODY).await.status, 200);
}

pub async fn a_failed_request_gives_its_key_back(backend: Backend) {
    let app = spawn_app(backend).await;
    let refused = create(
        &app,
        "key-fail",
        r#"{"identifier": "x", "permissions": ["fly"]}"#,
    )
    .await;
    assert_problem(&refused, 400);
    // A retry after fixing the request runs it.
    let fixed = create(&app, "key-fail", BODY).await;
    assert_eq!(fixed.status, 200, "{}", fixed.raw);
    assert_eq!(app.list(1).await.len(), 1);
}
