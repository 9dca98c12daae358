//! Every error is problem+json, client mistakes are never 5xx,
//! content types and the 16 KiB body limit.

use actix_web::http::Method;
use serde_json::json;
use tessera_persistence::Backend;

use crate::helpers::{assert_problem, send, send_raw, spawn_app};

crate::both_backends!(errors:
    framework_errors_are_problem_json,
    json_content_types_are_accepted_and_others_are_415,
    bodies_over_16_kib_are_413,
    no_malformed_request_gets_a_5xx_or_plain_text,
);

pub async fn framework_errors_are_problem_json(backend: Backend) {
    let app = spawn_app(backend).await;
    assert_problem(&send(app.request(Method::GET, "/no/such/route")).await, 404);
    assert_problem(&send(app.request(Method::PUT, "/healthz")).await, 405);
    assert_problem(
        &send(app.with_session(Method::PATCH, "/api/v1/users/1/api-tokens", 1)).await,
        405,
    );
    assert_problem(
        &send(app.with_session(Method::GET, "/api/v1/users/1/api-tokens/create", 1)).await,
        405,
    );
}

pub async fn json_content_types_are_accepted_and_others_are_415(backend: Backend) {
    let app = spawn_app(backend).await;
    let path = "/api/v1/users/1/api-tokens/create";
    let body = json!({"identifier": "t", "permissions": []}).to_string();
    for accepted in [
        "application/json",
        "application/json; charset=utf-8",
        "application/vnd.tessera+json",
    ] {
        let reply = send_raw(
            app.with_session(Method::POST, path, 1),
            accepted,
            body.clone(),
        )
        .await;
        assert_eq!(reply.status, 200, "{accepted}: {}", reply.raw);
    }
    for refused in [
        "",
        "text/plain",
        "application/x-www-form-urlencoded",
        "text/json",
        "application/xml",
    ] {
        let reply = send_raw(
            app.with_session(Method::POST, path, 1),
            refused,
            body.clone(),
        )
        .await;
        assert_problem(&reply, 415);
    }
}

pub async fn bodies_over_16_kib_are_413(backend: Backend) {
    let app = spawn_app(backend).await;
    let path = "/api/v1/users/1/api-tokens/create";
    let big = json!({"identifier": "x".repeat(17 * 1024), "permissions": []}).to_string();
    let reply = send_raw(
        app.with_session(Method::POST, path, 1),
        "application/json",
        big,
    )
    .await;
    assert_problem(&reply, 413);
    // Just under the limit is read (and refused for its content, not its size).
    let near = json!({"identifier": "x".repeat(16 * 1024 - 64), "permissions": []}).to_string();
    let reply = send_raw(
        app.with_session(Method::POST, path, 1),
        "application/json",
        near,
    )
    .await;
    assert_problem(&reply, 400);
    assert!(app.list(1).await.is_empty());
}

pub async fn no_malformed_request_gets_a_5xx_or_plain_text(backend: Backend) {
    let app = spawn_app(backend).await;
    let path = "/api/v1/users/1/api-tokens/create";
    let bodies = [
        "",
        "{",
        "null",
        "[]",
        "\"str\"",
        "42",
        "{\"identifier\":null,\"permissions\":null}",
        "{\"identifier\":\"x\",\"permissions\":[null]}",
        "{\"identifier\":\"x\",\"permissions\":[1]}",
        "{\"identifier\":\"x\",\"permissions\":[],\"expiresAt\":-1}",
        "{\"identifier\":\"x\",\"permissions\":[],\"expiresAt\":9223372036854775807}",
        "{\"identifier\":\"x\",\"permissions\":[],\"expiresAt\":99999999999999999999}",
        "{\"clientID\":\"\"}",
        "{\"clientID\":\"' OR 1=1 --\"}",
        "{\"identifier\":\"\\u0000\",\"permissions\":[]}",
        "\u{feff}{}",
    ];
    for body in bodies {
        let reply = send_raw(
            app.with_session(Method::POST, path, 1),
            "application/json",
            body.to_owned(),
        )
        .await;
        assert!(reply.status < 500, "{body:?} → {}", reply.raw);
        if reply.status >= 400 {
            assert_problem(&reply, reply.status);
        }
    }
    for path in [
        "/api/v1/users/1/api-token/%00",
        "/api/v1/users/1/api-token/..%2F..",
        "/api/v1/users/%31/api-tokens",
        "/api/v1/users/1/api-token/tsr_%C3%A9",
        "/api/v1/users/1/api-token/%FF%FE",
        "/api/v1/status?echo=%ZZ",
        "/api/v1/status?echo=%00",
    ] {
        let method = if path.contains("api-token/") {
            Method::DELETE
        } else {
            Method::GET
        };
        let reply = send(app.with_session(method, path, 1)).await;
        assert!(reply.status < 500, "{path} → {}", reply.raw);
        if reply.status >= 400 {
            assert_problem(&reply, reply.status);
        }
    }
    // Requests no well-behaved client would send, written on the socket.
    for head in [
        "GET /api/v1/users/1/api-tokens HTTP/1.1\r\nHost: x\r\nCookie: tessera_session=\u{ff}\r\n",
        "GET /api/v1/status HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer tsr_\u{e9}\u{e9}\r\n",
        "POST /api/v1/status HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 3\r\n",
    ] {
        let (status, content_type) = crate::helpers::raw_request(&app, head, "{\"e");
        assert!(status < 500, "{head:?} → {status}");
        if status >= 400 {
            assert_eq!(content_type, "application/problem+json", "{head:?}");
        }
    }
}
