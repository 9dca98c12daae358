//! Hostile input: bodies that are not objects, control
//! characters in paths, JSON strings, forms and credentials, methods a URL
//! does not serve, `HEAD`, out-of-range ids, and RFC 6749's rules for empty
//! parameters and `error_description`. The same requests go to an SQLite and
//! a PostgreSQL instance, and both must answer alike, never `5xx`.

use actix_web::http::Method;
use futures_util::future::LocalBoxFuture;
use serde_json::{Value, json};
use tessera_persistence::Backend;

use crate::clients::create_client;
use crate::helpers::{
    BUILT_IN_SECRET, RESOURCE_SERVER_SECRET, Reply, TestApp, basic, send, send_json, send_raw,
    spawn_app,
};

/// Sends one hostile request to an instance (given a client id it owns).
type Sender = for<'a> fn(&'a TestApp, &'a str) -> LocalBoxFuture<'a, Reply>;

/// One hostile request, what it must get, and why.
struct Case {
    name: &'static str,
    expect: u16,
    send: Sender,
}

macro_rules! case {
    ($name:literal, $expect:literal, |$app:ident, $client:ident| $body:expr) => {
        Case {
            name: $name,
            expect: $expect,
            send: |$app, $client| Box::pin($body),
        }
    };
}

fn form<'a>(
    app: &'a TestApp,
    path: &str,
    auth: Option<String>,
    body: &str,
) -> impl Future<Output = Reply> + 'a {
    let mut request = app.request(Method::POST, path);
    if let Some(auth) = auth {
        request = request.insert_header(("Authorization", auth));
    }
    send_raw(
        request,
        "application/x-www-form-urlencoded",
        body.to_owned(),
    )
}

fn session_json<'a>(
    app: &'a TestApp,
    method: Method,
    path: &str,
    body: &str,
) -> impl Future<Output = Reply> + 'a {
    send_raw(
        app.with_session(method, path, 1),
        "application/json",
        body.to_owned(),
    )
}

fn cases() -> Vec<Case> {
    vec![
        case!("status body is an array", 400, |app, _c| session_json(
            app,
            Method::POST,
            "/api/v1/status",
            r#"["hi"]"#
        )),
        case!("status body is null", 400, |app, _c| session_json(
            app,
            Method::POST,
            "/api/v1/status",
            "null"
        )),
        case!("token body is an array", 400, |app, _c| session_json(
            app,
            Method::POST,
            "/api/v1/users/1/api-tokens/create",
            r#"[["submit_score"], "x"]"#
        )),
        case!("token body is a string", 400, |app, _c| session_json(
            app,
            Method::POST,
            "/api/v1/users/1/api-tokens/create",
            r#""x""#
        )),
        case!("token body is a number", 400, |app, _c| session_json(
            app,
            Method::POST,
            "/api/v1/users/1/api-tokens/create",
            "42"
        )),
        case!("client body is an array", 400, |app, _c| session_json(
            app,
            Method::POST,
            "/api/v1/clients/create",
            r#"["My Client", ["submit_score"]]"#
        )),
        case!("client patch is an array", 400, |app, c| session_json(
            app,
            Method::PATCH,
            &format!("/api/v1/clients/{c}"),
            r#"[null, null]"#
        )),
        case!("create-code body is an array", 400, |app, c| session_json(
            app,
            Method::POST,
            "/api/v1/oauth/create-code",
            &format!(r#"["{c}"]"#)
        )),
        case!("NUL in a path client id", 404, |app, _c| send(
            app.request(Method::GET, "/api/v1/clients/CI%00abc")
        )),
        case!(
            "control character in a path client id",
            404,
            |app, _c| send(app.request(Method::GET, "/api/v1/clients/abc%01"))
        ),
        case!("NUL in a patched client id", 404, |app, _c| session_json(
            app,
            Method::PATCH,
            "/api/v1/clients/CI%00",
            r#"{"name": "Renamed"}"#
        )),
        case!("NUL in a deleted client id", 404, |app, _c| send(
            app.with_session(Method::DELETE, "/api/v1/clients/CI%00", 1)
        )),
        case!("NUL in a reset client id", 404, |app, _c| send(
            app.with_session(Method::POST, "/api/v1/clients/CI%00/reset-secret", 1)
        )),
        case!("NUL in a body client id", 400, |app, _c| session_json(
            app,
            Method::POST,
            "/api/v1/users/1/api-tokens/create",
            r#"{"clientID": "CX\u0000"}"#
        )),
        case!("NUL in a create-code client id", 400, |app, _c| {
            session_json(
                app,
                Method::POST,
                "/api/v1/oauth/create-code",
                r#"{"clientID": "CI\u0000"}"#,
            )
        }),
        case!("NUL in an apiKeyTemplate", 400, |app, _c| session_json(
            app,
            Method::POST,
            "/api/v1/clients/create",
            r#"{"name": "Hostile", "permissions": ["submit_score"], "apiKeyTemplate": "K=%%TOKEN%%\u0000"}"#
        )),
        case!("control character inside an identifier", 400, |app, _c| {
            session_json(
                app,
                Method::POST,
                "/api/v1/users/1/api-tokens/create",
                r#"{"identifier": "a\u0007b", "permissions": []}"#,
            )
        }),
        case!("NUL in a token path", 404, |app, _c| send(
            app.with_session(Method::DELETE, "/api/v1/users/1/api-token/tsr_%00", 1)
        )),
        case!("NUL in a query parameter", 400, |app, _c| send(
            app.request(Method::GET, "/api/v1/status?echo=a%00b")
        )),
        case!("NUL in a form client_id", 401, |app, _c| form(
            app,
            "/api/v1/oauth/token",
            None,
            "grant_type=authorization_code&code=x&client_id=CX%00&client_secret=x"
        )),
        case!("NUL in Basic credentials", 401, |app, _c| form(
            app,
            "/api/v1/oauth/token",
            Some(basic("CXBuiltIn\0", BUILT_IN_SECRET)),
            "grant_type=authorization_code&code=x"
        )),
        case!("NUL in a form value", 400, |app, _c| form(
            app,
            "/api/v1/oauth/token",
            Some(basic("CXBuiltIn", BUILT_IN_SECRET)),
            "grant_type=authorization_code&code=a%00b"
        )),
        case!(
            "NUL in a revoked token is still 200 (RFC 7009)",
            200,
            |app, _c| form(
                app,
                "/api/v1/oauth/revoke",
                Some(basic("CXBuiltIn", BUILT_IN_SECRET)),
                "token=tsr_%00"
            )
        ),
        case!("a repeated parameter", 400, |app, _c| form(
            app,
            "/api/v1/oauth/introspect",
            Some(basic("CXResource", RESOURCE_SERVER_SECRET)),
            "client_ip=192.0.2.1&token=a&client_ip=192.0.2.1"
        )),
        case!("many parameters, each once, are fine", 200, |app, _c| form(
            app,
            "/api/v1/oauth/introspect",
            Some(basic("CXResource", RESOURCE_SERVER_SECRET)),
            &format!(
                "{}token=a",
                (0..1800).map(|i| format!("p{i}=x&")).collect::<String>()
            )
        )),
        case!("NUL in an introspected token", 400, |app, _c| form(
            app,
            "/api/v1/oauth/introspect",
            Some(basic("CXResource", RESOURCE_SERVER_SECRET)),
            "token=a%00b"
        )),
        case!(
            "empty body credentials beside Basic are omitted",
            200,
            |app, _c| form(
                app,
                "/api/v1/oauth/revoke",
                Some(basic("CXBuiltIn", BUILT_IN_SECRET)),
                "token=x&client_id=&client_secret="
            )
        ),
        case!(
            "conflicting body credentials beside Basic at introspection",
            400,
            |app, _c| form(
                app,
                "/api/v1/oauth/introspect",
                Some(basic("CXResource", RESOURCE_SERVER_SECRET)),
                "token=x&client_id=CXResource&client_secret=other"
            )
        ),
        case!(
            "another client_id in the body beside Basic at introspection",
            400,
            |app, _c| form(
                app,
                "/api/v1/oauth/introspect",
                Some(basic("CXResource", RESOURCE_SERVER_SECRET)),
                "token=x&client_id=CXBuiltIn"
            )
        ),
        case!(
            "the same client_id in the body beside Basic at introspection",
            200,
            |app, _c| form(
                app,
                "/api/v1/oauth/introspect",
                Some(basic("CXResource", RESOURCE_SERVER_SECRET)),
                "token=x&client_id=CXResource"
            )
        ),
        case!("userID above 2^63", 400, |app, _c| send(app.with_session(
            Method::GET,
            "/api/v1/users/9223372036854775808/api-tokens",
            1
        ))),
        case!("DELETE on status", 405, |app, _c| send(
            app.request(Method::DELETE, "/api/v1/status")
        )),
        case!("POST on healthz", 405, |app, _c| send(
            app.request(Method::POST, "/healthz")
        )),
        case!("GET on the token endpoint", 405, |app, _c| send(
            app.request(Method::GET, "/api/v1/oauth/token")
        )),
        case!("HEAD on healthz", 200, |app, _c| send(
            app.request(Method::HEAD, "/healthz")
        )),
        case!("HEAD on a token list", 200, |app, _c| send(
            app.with_session(Method::HEAD, "/api/v1/users/1/api-tokens", 1)
        )),
        case!("HEAD on a client", 200, |app, c| send(
            app.request(Method::HEAD, &format!("/api/v1/clients/{c}"))
        )),
    ]
}

/// Printable ASCII but `"` and `\`: RFC 6749 §5.2's `error_description`.
fn rfc6749_text(text: &str) -> bool {
    text.chars()
        .all(|c| matches!(c, '\x20'..='\x21' | '\x23'..='\x5b' | '\x5d'..='\x7e'))
}

async fn answers(app: &TestApp, client: &str) -> Vec<(&'static str, u16)> {
    let mut seen = Vec::new();
    for case in cases() {
        let reply = (case.send)(app, client).await;
        assert!(reply.status < 500, "{}: {}", case.name, reply.raw);
        assert_eq!(reply.status, case.expect, "{}: {}", case.name, reply.raw);
        if reply.status == 405 {
            let allow = reply
                .headers
                .get("allow")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            assert!(!allow.is_empty(), "{}: 405 without Allow", case.name);
        }
        if let Some(description) = reply.body.get("error_description").and_then(Value::as_str) {
            assert!(rfc6749_text(description), "{}: {description:?}", case.name);
        }
        seen.push((case.name, reply.status));
    }
    seen
}

#[actix_web::test]
async fn hostile_requests_get_the_same_answers_on_both_backends() {
    let mut by_backend = Vec::new();
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let app = spawn_app(backend).await;
        let client = create_client(
            &app,
            1,
            &json!({"name": "Hostile Target", "permissions": ["submit_score"]}),
        )
        .await["clientID"]
            .as_str()
            .expect("id")
            .to_owned();
        by_backend.push(answers(&app, &client).await);
        // Nothing above changed anything.
        assert!(app.list(1).await.is_empty(), "{backend:?}");
        let listed = send(app.with_session(Method::GET, "/api/v1/clients", 1)).await;
        assert_eq!(
            listed.body.as_array().map(Vec::len),
            Some(1),
            "{}",
            listed.raw
        );
    }
    assert_eq!(by_backend[0], by_backend[1]);
}

#[actix_web::test]
async fn allow_lists_the_methods_and_head_answers_like_get_without_a_body() {
    let app = spawn_app(Backend::Sqlite).await;
    for (method, path, allow) in [
        (Method::DELETE, "/api/v1/status", "GET, POST, HEAD"),
        (Method::PUT, "/healthz", "GET, HEAD"),
        (Method::GET, "/api/v1/oauth/token", "POST"),
        (Method::POST, "/api/v1/users/1/api-tokens", "GET, HEAD"),
        (Method::DELETE, "/docs/", "GET, HEAD"),
    ] {
        let reply = send(app.request(method.clone(), path)).await;
        assert_eq!(reply.status, 405, "{method} {path}");
        assert_eq!(
            reply.headers.get("allow").and_then(|v| v.to_str().ok()),
            Some(allow),
            "{method} {path}"
        );
        if path.contains("oauth") {
            assert_eq!(reply.body["error"], "invalid_request", "{}", reply.raw);
        } else {
            crate::helpers::assert_problem(&reply, 405);
        }
    }
    let get = send(app.request(Method::GET, "/readyz")).await;
    let head = send(app.request(Method::HEAD, "/readyz")).await;
    assert_eq!(head.status, get.status);
    assert_eq!(head.content_type, get.content_type);
    assert!(head.raw.is_empty(), "HEAD has no body: {:?}", head.raw);
    assert!(!get.raw.is_empty());
    // Swagger UI's files too.
    let page = send(app.request(Method::HEAD, "/docs/")).await;
    assert_eq!(page.status, 200);
    assert!(page.raw.is_empty());
}

#[actix_web::test]
async fn a_user_id_past_i64_is_named_as_out_of_range() {
    let app = spawn_app(Backend::Sqlite).await;
    let reply = send_json(
        app.with_session(
            Method::POST,
            "/api/v1/users/9223372036854775808/api-tokens/create",
            1,
        ),
        &json!({"identifier": "x", "permissions": []}),
    )
    .await;
    crate::helpers::assert_problem(&reply, 400);
    assert!(
        reply.body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("2^63")),
        "{}",
        reply.raw
    );
}
