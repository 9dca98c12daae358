//! The seed's token endpoints end to end.

use std::time::Duration;

use actix_web::http::Method;
use futures_util::future::join_all;
use serde_json::json;
use tessera_persistence::Backend;

use crate::helpers::{assert_problem, send, send_json, spawn_app, spawn_app_on, token_of};

crate::both_backends!(tokens:
    create_list_use_delete_cycle,
    created_document_has_the_contract_fields,
    list_is_oldest_first_and_never_another_users,
    delete_works_on_both_paths_and_then_the_token_is_rejected,
    deleting_another_users_token_is_404_and_it_keeps_working,
    client_token_takes_the_clients_name_and_permissions,
    second_client_token_is_409_and_changes_nothing,
    concurrent_client_creations_yield_exactly_one_200,
    expired_token_is_rejected_at_once_and_stays_listed,
    expired_client_token_is_replaced,
    bad_create_bodies_are_400_and_store_nothing,
    me_is_the_session_user,
    last_used_at_is_noted_once_a_minute_and_flushed_at_shutdown,
);

pub async fn create_list_use_delete_cycle(backend: Backend) {
    let app = spawn_app(backend).await;
    let created = app.create_token(1, "My script", &["submit_score"]).await;
    let token = token_of(&created);

    let listed = app.list(1).await;
    assert_eq!(listed, vec![created.clone()]);

    let status = app.status_with(&token).await;
    assert_eq!(status.status, 200, "{}", status.raw);
    assert_eq!(status.body["whoami"], 1);
    assert_eq!(status.body["permissions"], json!(["submit_score"]));

    let deleted = send(app.with_session(
        Method::DELETE,
        &format!("/api/v1/users/1/api-token/{token}"),
        1,
    ))
    .await;
    assert_eq!(deleted.status, 200);
    assert_eq!(deleted.body, json!({}));
    assert_eq!(app.status_with(&token).await.status, 401);
    assert!(app.list(1).await.is_empty());
}

pub async fn created_document_has_the_contract_fields(backend: Backend) {
    let app = spawn_app(backend).await;
    let expires = app.now() + 3_600_000;
    let reply = send_json(
        app.with_session(Method::POST, "/api/v1/users/5/api-tokens/create", 5),
        &json!({"identifier": "  Padded  ", "permissions": ["submit_score", "manage_rivals", "submit_score"], "expiresAt": expires}),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.raw);
    assert_eq!(reply.content_type, "application/json; charset=utf-8");
    let doc = reply.body.as_object().expect("object");
    let mut keys: Vec<_> = doc.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "allowedIps",
            "canary",
            "createdAt",
            "disabled",
            "expiresAt",
            "fromAPIClient",
            "id",
            "identifier",
            "lastUsedAt",
            "lastUsedBy",
            "lastUsedIps",
            "permissions",
            "supersededBy",
            "token",
            "userID"
        ]
    );
    assert_eq!(doc["identifier"], "Padded");
    assert_eq!(
        doc["permissions"],
        json!({"manage_rivals": true, "submit_score": true})
    );
    assert_eq!(doc["userID"], 5);
    assert_eq!(doc["fromAPIClient"], json!(null));
    assert_eq!(doc["createdAt"], app.now());
    assert_eq!(doc["expiresAt"], expires);
    assert_eq!(doc["lastUsedAt"], json!(null));
    let token = token_of(&reply.body);
    assert!(
        token.starts_with("tsr_") && token.len() == 4 + 32 + 6,
        "{token}"
    );
}

pub async fn list_is_oldest_first_and_never_another_users(backend: Backend) {
    let app = spawn_app(backend).await;
    let a = app.create_token(1, "a", &[]).await;
    let other = app.create_token(2, "other", &[]).await;
    let b = app.create_token(1, "b", &[]).await;
    app.clock.advance(Duration::from_millis(10));
    let c = app.create_token(1, "c", &[]).await;
    assert_eq!(app.list(1).await, vec![a, b, c]);
    assert_eq!(app.list(2).await, vec![other]);
    assert!(app.list(3).await.is_empty());
}

pub async fn delete_works_on_both_paths_and_then_the_token_is_rejected(backend: Backend) {
    let app = spawn_app(backend).await;
    for path in ["api-token", "api-tokens"] {
        let token = token_of(&app.create_token(1, path, &[]).await);
        assert_eq!(app.status_with(&token).await.status, 200);
        let reply = send(app.with_session(
            Method::DELETE,
            &format!("/api/v1/users/1/{path}/{token}"),
            1,
        ))
        .await;
        assert_eq!(reply.status, 200, "{}", reply.raw);
        assert_eq!(reply.body, json!({}));
        assert_problem(&app.status_with(&token).await, 401);
        let again = send(app.with_session(
            Method::DELETE,
            &format!("/api/v1/users/1/{path}/{token}"),
            1,
        ))
        .await;
        assert_problem(&again, 404);
    }
}

pub async fn deleting_another_users_token_is_404_and_it_keeps_working(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = token_of(&app.create_token(1, "mine", &[]).await);
    let reply = send(app.with_session(
        Method::DELETE,
        &format!("/api/v1/users/2/api-token/{token}"),
        2,
    ))
    .await;
    assert_problem(&reply, 404);
    let unknown = send(app.with_session(
        Method::DELETE,
        "/api/v1/users/2/api-token/tsr_doesnotexist",
        2,
    ))
    .await;
    assert_eq!(
        unknown.body["detail"], reply.body["detail"],
        "indistinguishable"
    );
    assert_eq!(app.status_with(&token).await.status, 200);
    assert_eq!(app.list(1).await.len(), 1);
}

pub async fn client_token_takes_the_clients_name_and_permissions(backend: Backend) {
    let app = spawn_app(backend).await;
    let reply = send_json(
        app.with_session(Method::POST, "/api/v1/users/1/api-tokens/create", 1),
        &json!({"clientID": "CXKamai", "identifier": "ignored"}),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.raw);
    assert_eq!(reply.body["identifier"], "Kamai Token");
    assert_eq!(reply.body["fromAPIClient"], "CXKamai");
    assert_eq!(
        reply.body["permissions"],
        json!({"customise_profile": true, "manage_rivals": true})
    );

    let unknown = send_json(
        app.with_session(Method::POST, "/api/v1/users/1/api-tokens/create", 1),
        &json!({"clientID": "CXNobody"}),
    )
    .await;
    assert_problem(&unknown, 404);
}

pub async fn second_client_token_is_409_and_changes_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let body = json!({"clientID": "CXFervidex"});
    let first = send_json(
        app.with_session(Method::POST, "/api/v1/users/1/api-tokens/create", 1),
        &body,
    )
    .await;
    assert_eq!(first.status, 200);
    let second = send_json(
        app.with_session(Method::POST, "/api/v1/users/1/api-tokens/create", 1),
        &body,
    )
    .await;
    assert_problem(&second, 409);
    assert_eq!(app.list(1).await, vec![first.body.clone()]);
    // Another user may hold a token of the same client.
    let other = send_json(
        app.with_session(Method::POST, "/api/v1/users/2/api-tokens/create", 2),
        &body,
    )
    .await;
    assert_eq!(other.status, 200);
}

pub async fn concurrent_client_creations_yield_exactly_one_200(backend: Backend) {
    let app = spawn_app(backend).await;
    let body = json!({"clientID": "CXFervidex"});
    let replies = join_all((0..24).map(|_| {
        send_json(
            app.with_session(Method::POST, "/api/v1/users/7/api-tokens/create", 7),
            &body,
        )
    }))
    .await;
    let ok = replies.iter().filter(|r| r.status == 200).count();
    let conflicts = replies.iter().filter(|r| r.status == 409).count();
    assert_eq!(
        (ok, conflicts),
        (1, 23),
        "{:?}",
        replies.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    assert_eq!(app.list(7).await.len(), 1);
}

pub async fn expired_token_is_rejected_at_once_and_stays_listed(backend: Backend) {
    let app = spawn_app(backend).await;
    let expires = app.now() + 1_000;
    let reply = send_json(
        app.with_session(Method::POST, "/api/v1/users/1/api-tokens/create", 1),
        &json!({"identifier": "short", "permissions": [], "expiresAt": expires}),
    )
    .await;
    let token = token_of(&reply.body);
    assert_eq!(app.status_with(&token).await.status, 200);
    app.clock.advance(Duration::from_millis(1_000));
    assert_problem(&app.status_with(&token).await, 401);
    let listed = app.list(1).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["expiresAt"], expires);
}

pub async fn expired_client_token_is_replaced(backend: Backend) {
    let app = spawn_app(backend).await;
    let path = "/api/v1/users/1/api-tokens/create";
    let first = send_json(
        app.with_session(Method::POST, path, 1),
        &json!({"clientID": "CXFervidex", "expiresAt": app.now() + 500}),
    )
    .await;
    assert_eq!(first.status, 200);
    app.clock.advance(Duration::from_millis(500));
    let second = send_json(
        app.with_session(Method::POST, path, 1),
        &json!({"clientID": "CXFervidex"}),
    )
    .await;
    assert_eq!(second.status, 200, "{}", second.raw);
    assert_eq!(app.list(1).await, vec![second.body]);
}

pub async fn bad_create_bodies_are_400_and_store_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let path = "/api/v1/users/1/api-tokens/create";
    let cases = [
        json!({"identifier": "x", "permissions": ["submit_score"], "clientID": "CXFervidex"}),
        json!({"identifier": "x"}),
        json!({}),
        json!({"identifier": "x", "permissions": ["launch_missiles"]}),
        json!({"identifier": "x", "permissions": "submit_score"}),
        json!({"identifier": 5, "clientID": "CXFervidex"}),
        json!({"identifier": "x", "permissions": [], "extra": true}),
        json!({"permissions": []}),
        json!({"identifier": "   ", "permissions": []}),
        json!({"identifier": "x".repeat(121), "permissions": []}),
        json!({"identifier": "x", "permissions": [], "expiresAt": 1}),
        json!({"identifier": "x", "permissions": [], "expiresAt": "soon"}),
        json!({"identifier": "x", "permissions": [], "expiresAt": 1.5}),
        json!([]),
    ];
    for body in cases {
        let reply = send_json(app.with_session(Method::POST, path, 1), &body).await;
        assert_problem(&reply, 400);
    }
    let unknown = send_json(
        app.with_session(Method::POST, path, 1),
        &json!({"identifier": "x", "permissions": ["submit_score", "launch_missiles"]}),
    )
    .await;
    assert!(
        unknown.body["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("launch_missiles")
    );
    assert!(app.list(1).await.is_empty());
}

pub async fn me_is_the_session_user(backend: Backend) {
    let app = spawn_app(backend).await;
    let reply = send_json(
        app.with_session(Method::POST, "/api/v1/users/me/api-tokens/create", 3),
        &json!({"identifier": "via me", "permissions": []}),
    )
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body["userID"], 3);
    let listed = send(app.with_session(Method::GET, "/api/v1/users/me/api-tokens", 3)).await;
    assert_eq!(listed.body, json!([reply.body]));
    let token = token_of(&reply.body);
    let deleted = send(app.with_session(
        Method::DELETE,
        &format!("/api/v1/users/me/api-token/{token}"),
        3,
    ))
    .await;
    assert_eq!(deleted.status, 200);
}

pub async fn last_used_at_is_noted_once_a_minute_and_flushed_at_shutdown(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = token_of(&app.create_token(1, "busy", &[]).await);
    assert_eq!(app.list(1).await[0]["lastUsedAt"], json!(null));
    let first_use = app.now();
    assert_eq!(app.status_with(&token).await.status, 200);
    assert_eq!(
        app.list(1).await[0]["lastUsedAt"],
        first_use,
        "shown before it is written"
    );
    app.clock.advance(Duration::from_millis(30_000));
    assert_eq!(app.status_with(&token).await.status, 200);
    assert_eq!(
        app.list(1).await[0]["lastUsedAt"],
        first_use,
        "at most once a minute"
    );

    // Shutdown writes what was noted; a new instance reads it back.
    let app = spawn_app_on(app.stop().await).await;
    assert_eq!(app.list(1).await[0]["lastUsedAt"], first_use);
    app.clock.advance(Duration::from_millis(60_000));
    let second_use = app.now();
    assert_eq!(app.status_with(&token).await.status, 200);
    let app = spawn_app_on(app.stop().await).await;
    assert_eq!(app.list(1).await[0]["lastUsedAt"], second_use);
}
