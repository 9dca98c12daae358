//! The OAuth2 client API end to end.

use actix_web::http::Method;
use futures_util::future::join_all;
use serde_json::{Value, json};
use tessera_persistence::Backend;

use crate::helpers::{TestApp, assert_problem, send, send_json, spawn_app, token_of};

crate::both_backends!(clients:
    client_lifecycle_create_list_read_patch_reset_delete,
    invalid_client_bodies_are_400,
    only_the_author_changes_a_client,
    built_in_clients_are_public_and_read_only,
    client_endpoints_need_a_session,
    concurrent_creation_stops_at_the_cap,
    deleting_a_client_deletes_its_tokens,
    tachis_placeholder_is_accepted_in_templates,
);

pub fn valid_client() -> Value {
    json!({
        "name": "My Client",
        "permissions": ["customise_profile", "submit_score"],
        "redirectUri": "https://example.com/callback",
        "apiKeyTemplate": "TOKEN=%%TOKEN%%",
        "apiKeyFilename": "tessera.env"
    })
}

pub async fn create_client(app: &TestApp, user: i64, body: &Value) -> Value {
    let reply = send_json(
        app.with_session(Method::POST, "/api/v1/clients/create", user),
        body,
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.raw);
    reply.body
}

pub async fn client_lifecycle_create_list_read_patch_reset_delete(backend: Backend) {
    let app = spawn_app(backend).await;
    let created = create_client(&app, 1, &valid_client()).await;
    let id = created["clientID"].as_str().expect("id").to_owned();
    assert!(id.starts_with("CI"));
    assert!(
        created["clientSecret"]
            .as_str()
            .expect("secret")
            .starts_with("CS")
    );
    assert_eq!(created["name"], "My Client");
    assert_eq!(created["author"], 1);
    assert_eq!(
        created["requestedPermissions"],
        json!(["customise_profile", "submit_score"])
    );
    assert_eq!(created["webhookUri"], json!(null));
    assert_eq!(created["createdAt"], app.now());

    let listed = send(app.with_session(Method::GET, "/api/v1/clients", 1)).await;
    assert_eq!(listed.body, json!([created]));
    let others = send(app.with_session(Method::GET, "/api/v1/clients", 2)).await;
    assert_eq!(others.body, json!([]));

    let public = send(app.request(Method::GET, &format!("/api/v1/clients/{id}"))).await;
    assert_eq!(public.status, 200);
    assert!(
        public.body.get("clientSecret").is_none(),
        "no secret in the public view"
    );
    assert_eq!(public.body["name"], "My Client");

    let path = format!("/api/v1/clients/{id}");
    let patched = send_json(
        app.with_session(Method::PATCH, &path, 1),
        &json!({"name": "Renamed", "redirectUri": null, "webhookUri": "https://example.com/hook"}),
    )
    .await;
    assert_eq!(patched.status, 200, "{}", patched.raw);
    assert_eq!(patched.body["name"], "Renamed");
    assert_eq!(patched.body["redirectUri"], json!(null));
    assert_eq!(patched.body["webhookUri"], "https://example.com/hook");
    assert_eq!(
        patched.body["apiKeyTemplate"], "TOKEN=%%TOKEN%%",
        "untouched"
    );
    assert_eq!(patched.body["clientSecret"], created["clientSecret"]);

    let reset = send(app.with_session(Method::POST, &format!("{path}/reset-secret"), 1)).await;
    assert_eq!(reset.status, 200);
    assert_ne!(reset.body["clientSecret"], created["clientSecret"]);

    let deleted = send(app.with_session(Method::DELETE, &path, 1)).await;
    assert_eq!((deleted.status, deleted.body.clone()), (200, json!({})));
    assert_problem(&send(app.request(Method::GET, &path)).await, 404);
    assert_problem(&send(app.with_session(Method::DELETE, &path, 1)).await, 404);
}

pub async fn invalid_client_bodies_are_400(backend: Backend) {
    let app = spawn_app(backend).await;
    let with = |key: &str, value: Value| {
        let mut body = valid_client();
        body[key] = value;
        body
    };
    for body in [
        with("name", json!("ab")),
        with("name", json!("x".repeat(81))),
        with("permissions", json!([])),
        with("permissions", json!(["launch_missiles"])),
        with("redirectUri", json!("not a url")),
        with("redirectUri", json!("ftp://example.com/x")),
        with("webhookUri", json!("/relative")),
        with("apiKeyTemplate", json!("no placeholder")),
        with("apiKeyFilename", json!("../etc/passwd")),
        with("unknown", json!(1)),
        with("name", json!(5)),
        json!({"permissions": ["submit_score"]}),
    ] {
        let reply = send_json(
            app.with_session(Method::POST, "/api/v1/clients/create", 1),
            &body,
        )
        .await;
        assert_problem(&reply, 400);
    }
    let created = create_client(&app, 1, &valid_client()).await;
    let path = format!(
        "/api/v1/clients/{}",
        created["clientID"].as_str().expect("id")
    );
    for body in [
        json!({"permissions": ["submit_score"]}),
        json!({"name": null}),
        json!({"name": "ab"}),
        json!({"redirectUri": "javascript:alert(1)"}),
        json!({"surprise": true}),
    ] {
        let reply = send_json(app.with_session(Method::PATCH, &path, 1), &body).await;
        assert_problem(&reply, 400);
    }
    let listed = send(app.with_session(Method::GET, "/api/v1/clients", 1)).await;
    assert_eq!(listed.body, json!([created]), "nothing changed");
}

pub async fn only_the_author_changes_a_client(backend: Backend) {
    let app = spawn_app(backend).await;
    let created = create_client(&app, 1, &valid_client()).await;
    let path = format!(
        "/api/v1/clients/{}",
        created["clientID"].as_str().expect("id")
    );
    let patch = send_json(
        app.with_session(Method::PATCH, &path, 2),
        &json!({"name": "Mine now"}),
    )
    .await;
    assert_problem(&patch, 403);
    assert_problem(
        &send(app.with_session(Method::POST, &format!("{path}/reset-secret"), 2)).await,
        403,
    );
    assert_problem(&send(app.with_session(Method::DELETE, &path, 2)).await, 403);
    for (method, suffix) in [
        (Method::PATCH, ""),
        (Method::POST, "/reset-secret"),
        (Method::DELETE, ""),
    ] {
        let reply = send_json(
            app.with_session(method, &format!("/api/v1/clients/CInothing{suffix}"), 1),
            &json!({}),
        )
        .await;
        assert_problem(&reply, 404);
    }
    let public = send(app.request(Method::GET, &path)).await;
    assert_eq!(public.body["name"], "My Client");
}

pub async fn built_in_clients_are_public_and_read_only(backend: Backend) {
    let app = spawn_app(backend).await;
    let public = send(app.request(Method::GET, "/api/v1/clients/CXFervidex")).await;
    assert_eq!(public.status, 200);
    assert_eq!(public.body["author"], json!(null));
    assert_eq!(public.body["requestedPermissions"], json!(["submit_score"]));
    assert!(public.body.get("clientSecret").is_none());
    let path = "/api/v1/clients/CXBuiltIn";
    assert_problem(
        &send_json(
            app.with_session(Method::PATCH, path, 1),
            &json!({"name": "Hijack"}),
        )
        .await,
        403,
    );
    assert_problem(
        &send(app.with_session(Method::POST, &format!("{path}/reset-secret"), 1)).await,
        403,
    );
    assert_problem(&send(app.with_session(Method::DELETE, path, 1)).await, 403);
}

pub async fn client_endpoints_need_a_session(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = token_of(&app.create_token(1, "bearer", &[]).await);
    for (method, path) in [
        (Method::GET, "/api/v1/clients"),
        (Method::POST, "/api/v1/clients/create"),
        (Method::PATCH, "/api/v1/clients/CIx"),
        (Method::POST, "/api/v1/clients/CIx/reset-secret"),
        (Method::DELETE, "/api/v1/clients/CIx"),
        (Method::POST, "/api/v1/oauth/create-code"),
    ] {
        assert_problem(
            &send_json(app.request(method.clone(), path), &valid_client()).await,
            401,
        );
        assert_problem(
            &send_json(app.with_bearer(method, path, &token), &valid_client()).await,
            403,
        );
    }
}

pub async fn concurrent_creation_stops_at_the_cap(backend: Backend) {
    let app = spawn_app(backend).await;
    let cap = app.settings.oauth.client_cap as usize;
    let body = valid_client();
    let replies = join_all((0..cap + 6).map(|_| {
        send_json(
            app.with_session(Method::POST, "/api/v1/clients/create", 3),
            &body,
        )
    }))
    .await;
    let ok = replies.iter().filter(|r| r.status == 200).count();
    let refused = replies.iter().filter(|r| r.status == 400).count();
    assert_eq!(
        (ok, refused),
        (cap, 6),
        "{:?}",
        replies.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    let listed = send(app.with_session(Method::GET, "/api/v1/clients", 3)).await;
    assert_eq!(listed.body.as_array().expect("array").len(), cap);
}

pub async fn deleting_a_client_deletes_its_tokens(backend: Backend) {
    let app = spawn_app(backend).await;
    let created = create_client(&app, 1, &valid_client()).await;
    let id = created["clientID"].as_str().expect("id");
    let token = send_json(
        app.with_session(Method::POST, "/api/v1/users/5/api-tokens/create", 5),
        &json!({"clientID": id}),
    )
    .await;
    assert_eq!(token.status, 200, "{}", token.raw);
    assert_eq!(token.body["identifier"], "My Client Token");
    let plain = token_of(&app.create_token(5, "plain", &[]).await);
    let token = token_of(&token.body);
    assert_eq!(app.status_with(&token).await.status, 200);
    let deleted = send(app.with_session(Method::DELETE, &format!("/api/v1/clients/{id}"), 1)).await;
    assert_eq!(deleted.status, 200);
    assert_problem(&app.status_with(&token).await, 401);
    assert_eq!(app.status_with(&plain).await.status, 200);
    assert_eq!(app.list(5).await.len(), 1);
}

/// Tachi's client documents spell the placeholder
/// `%%TACHI_KEY%%`; it is accepted wherever `%%TOKEN%%` is, and kept as sent.
pub async fn tachis_placeholder_is_accepted_in_templates(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut body = valid_client();
    body["apiKeyTemplate"] = json!("export TACHI_KEY=%%TACHI_KEY%%");
    let created = create_client(&app, 1, &body).await;
    assert_eq!(created["apiKeyTemplate"], "export TACHI_KEY=%%TACHI_KEY%%");
    let id = created["clientID"].as_str().expect("id");
    let patched = send_json(
        app.with_session(Method::PATCH, &format!("/api/v1/clients/{id}"), 1),
        &json!({"apiKeyTemplate": "KEY=%%TACHI_KEY%%"}),
    )
    .await;
    assert_eq!(patched.status, 200, "{}", patched.raw);
    assert_eq!(patched.body["apiKeyTemplate"], "KEY=%%TACHI_KEY%%");
    // A near miss is still no placeholder.
    let refused = send_json(
        app.with_session(Method::PATCH, &format!("/api/v1/clients/{id}"), 1),
        &json!({"apiKeyTemplate": "KEY=%%TACHI%%"}),
    )
    .await;
    assert_problem(&refused, 400);
}
