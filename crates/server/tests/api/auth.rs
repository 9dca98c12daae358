//! The status table of every Self-Key endpoint, and the order
//! of checks (userID, then credentials, then body).

use actix_web::http::Method;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;
use tessera_persistence::Backend;

use crate::helpers::{TestApp, assert_problem, send, send_raw, spawn_app, token_of};

crate::both_backends!(auth:
    self_key_status_table_holds_for_every_token_endpoint,
    malformed_user_id_is_400_before_credentials,
    credentials_are_checked_before_the_body,
);

/// One Self-Key endpoint: method, path for user 1, and a valid body.
struct Endpoint {
    method: Method,
    path: String,
    body: Option<serde_json::Value>,
}

async fn endpoints(app: &TestApp) -> Vec<Endpoint> {
    let victim = token_of(&app.create_token(1, "victim", &[]).await);
    vec![
        Endpoint {
            method: Method::GET,
            path: "/api/v1/users/1/api-tokens".into(),
            body: None,
        },
        Endpoint {
            method: Method::POST,
            path: "/api/v1/users/1/api-tokens/create".into(),
            body: Some(json!({"identifier": "t", "permissions": []})),
        },
        Endpoint {
            method: Method::DELETE,
            path: format!("/api/v1/users/1/api-token/{victim}"),
            body: None,
        },
    ]
}

fn jwt(secret: &str, claims: &serde_json::Value) -> String {
    let key = EncodingKey::from_secret(secret.as_bytes()).expect("key");
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &key).expect("encode")
}

async fn call(
    app: &TestApp,
    endpoint: &Endpoint,
    cookie: Option<&str>,
    authorization: Option<&str>,
) -> u16 {
    let mut request = app.request(endpoint.method.clone(), &endpoint.path);
    if let Some(cookie) = cookie {
        request = request.insert_header(("Cookie", format!("tessera_session={cookie}")));
    }
    if let Some(authorization) = authorization {
        request = request.insert_header(("Authorization", authorization.to_owned()));
    }
    let reply = match &endpoint.body {
        Some(body) => send_raw(request, "application/json", body.to_string()).await,
        None => send(request).await,
    };
    if reply.status >= 400 {
        assert_problem(&reply, reply.status);
    }
    if reply.status == 401 {
        assert!(reply.headers.contains_key("www-authenticate"));
    }
    reply.status
}

pub async fn self_key_status_table_holds_for_every_token_endpoint(backend: Backend) {
    let app = spawn_app(backend).await;
    let now_secs = app.now() / 1000;
    let secret = app.settings.session.secret.expose().to_owned();
    let valid = app.session(1);
    let other_user = app.session(2);
    let expired = jwt(&secret, &json!({"sub": "1", "exp": now_secs - 120}));
    let other_secret = jwt(
        "some-other-secret",
        &json!({"sub": "1", "exp": now_secs + 600}),
    );
    let mut tampered = valid.clone();
    tampered.replace_range(tampered.len() - 3.., "AAA");
    let bearer = format!(
        "Bearer {}",
        token_of(&app.create_token(1, "bearer", &["submit_score"]).await)
    );
    let unknown_bearer = "Bearer tsr_0000000000000000000000000000000000000A";

    for endpoint in endpoints(&app).await {
        let what = format!("{} {}", endpoint.method, endpoint.path);
        assert_eq!(
            call(&app, &endpoint, None, None).await,
            401,
            "nothing: {what}"
        );
        for bad in [
            "garbage",
            "",
            expired.as_str(),
            other_secret.as_str(),
            tampered.as_str(),
        ] {
            assert_eq!(
                call(&app, &endpoint, Some(bad), None).await,
                401,
                "bad cookie {bad:?}: {what}"
            );
        }
        assert_eq!(
            call(&app, &endpoint, None, Some(&bearer)).await,
            403,
            "bearer: {what}"
        );
        for bad in [unknown_bearer, "Bearer ", "Basic dXNlcjpwYXNz", "tsr_raw"] {
            assert_eq!(
                call(&app, &endpoint, None, Some(bad)).await,
                401,
                "bad bearer {bad:?}: {what}"
            );
        }
        assert_eq!(
            call(&app, &endpoint, Some(&other_user), None).await,
            403,
            "other user: {what}"
        );
        assert_eq!(
            call(&app, &endpoint, Some("garbage"), Some(&bearer)).await,
            401,
            "bad cookie wins: {what}"
        );
        assert_eq!(
            call(&app, &endpoint, Some(&valid), Some(unknown_bearer)).await,
            200,
            "valid session ignores the bearer header: {what}"
        );
    }
}

pub async fn malformed_user_id_is_400_before_credentials(backend: Backend) {
    let app = spawn_app(backend).await;
    for id in ["abc", "0", "-1", "01", "+1", "9223372036854775808", "1.0"] {
        for (method, path) in [
            (Method::GET, format!("/api/v1/users/{id}/api-tokens")),
            (
                Method::POST,
                format!("/api/v1/users/{id}/api-tokens/create"),
            ),
            (
                Method::DELETE,
                format!("/api/v1/users/{id}/api-token/tsr_x"),
            ),
        ] {
            let reply = send(app.request(method.clone(), &path)).await;
            assert_problem(&reply, 400);
        }
    }
}

pub async fn credentials_are_checked_before_the_body(backend: Backend) {
    let app = spawn_app(backend).await;
    let path = "/api/v1/users/1/api-tokens/create";
    let bearer = token_of(&app.create_token(1, "b", &[]).await);
    // No credentials and a bad body: 401, not 415/400.
    let reply = send_raw(app.request(Method::POST, path), "text/plain", "nope".into()).await;
    assert_problem(&reply, 401);
    // A Bearer token and a bad body: 403.
    let reply = send_raw(
        app.with_bearer(Method::POST, path, &bearer),
        "text/plain",
        "nope".into(),
    )
    .await;
    assert_problem(&reply, 403);
    // A session and a bad body: now the body is judged.
    let reply = send_raw(
        app.with_session(Method::POST, path, 1),
        "text/plain",
        "nope".into(),
    )
    .await;
    assert_problem(&reply, 415);
    let reply = send_raw(
        app.with_session(Method::POST, path, 1),
        "application/json",
        "{".into(),
    )
    .await;
    assert_problem(&reply, 400);
}
