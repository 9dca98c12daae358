//! `/api/v1/status` tells other services who a credential is,
//! and the health probes.

use actix_web::http::Method;
use serde_json::json;
use tessera_persistence::Backend;

use crate::helpers::{assert_problem, send, send_json, send_raw, spawn_app, token_of};

crate::both_backends!(status:
    anonymous_status_has_no_user_and_no_permissions,
    session_status_has_every_permission,
    bearer_status_has_the_tokens_user_and_permissions,
    echo_comes_back_from_query_or_body,
    invalid_credentials_on_status_are_401,
    health_and_readiness_answer,
);

pub async fn anonymous_status_has_no_user_and_no_permissions(backend: Backend) {
    let app = spawn_app(backend).await;
    let reply = send(app.request(Method::GET, "/api/v1/status")).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body["whoami"], json!(null));
    assert_eq!(reply.body["permissions"], json!([]));
    assert_eq!(reply.body["serverTime"], app.now());
    assert!(reply.body["startTime"].as_i64().expect("startTime") <= app.now());
    assert!(reply.body["version"].is_string());
    assert!(reply.body.get("echo").is_none(), "no echo key without echo");
}

pub async fn session_status_has_every_permission(backend: Backend) {
    let app = spawn_app(backend).await;
    let reply = send(app.with_session(Method::GET, "/api/v1/status", 9)).await;
    assert_eq!(reply.body["whoami"], 9);
    let mut permissions: Vec<_> = reply.body["permissions"]
        .as_array()
        .expect("array")
        .iter()
        .map(|p| p.as_str().expect("string").to_owned())
        .collect();
    permissions.sort();
    let mut expected = app.settings.permissions.clone();
    expected.sort();
    assert_eq!(permissions, expected);
    assert_eq!(permissions.len(), 8);
}

pub async fn bearer_status_has_the_tokens_user_and_permissions(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = token_of(
        &app.create_token(4, "t", &["manage_rivals", "delete_score"])
            .await,
    );
    let reply = app.status_with(&token).await;
    assert_eq!(reply.body["whoami"], 4);
    assert_eq!(
        reply.body["permissions"],
        json!(["delete_score", "manage_rivals"])
    );
}

pub async fn echo_comes_back_from_query_or_body(backend: Backend) {
    let app = spawn_app(backend).await;
    let reply = send(app.request(Method::GET, "/api/v1/status?echo=hello%20there")).await;
    assert_eq!(reply.body["echo"], "hello there");
    let reply = send_json(
        app.request(Method::POST, "/api/v1/status"),
        &json!({"echo": "from body"}),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.raw);
    assert_eq!(reply.body["echo"], "from body");
    let reply = send_json(app.request(Method::POST, "/api/v1/status"), &json!({})).await;
    assert!(reply.body.get("echo").is_none());
    assert_problem(
        &send_raw(
            app.request(Method::POST, "/api/v1/status"),
            "text/plain",
            "x".into(),
        )
        .await,
        415,
    );
}

pub async fn invalid_credentials_on_status_are_401(backend: Backend) {
    let app = spawn_app(backend).await;
    let created = app.create_token(1, "t", &[]).await;
    let token = token_of(&created);
    let deleted = send(app.with_session(
        Method::DELETE,
        &format!("/api/v1/users/1/api-token/{token}"),
        1,
    ))
    .await;
    assert_eq!(deleted.status, 200);
    assert_problem(&app.status_with(&token).await, 401);
    assert_problem(&app.status_with("tsr_definitelynotatoken").await, 401);
    let reply = send(
        app.request(Method::GET, "/api/v1/status")
            .insert_header(("Cookie", "tessera_session=forged")),
    )
    .await;
    assert_problem(&reply, 401);
}

pub async fn health_and_readiness_answer(backend: Backend) {
    let app = spawn_app(backend).await;
    assert_eq!(send(app.request(Method::GET, "/healthz")).await.status, 200);
    assert_eq!(send(app.request(Method::GET, "/readyz")).await.status, 200);
}
