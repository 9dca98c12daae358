//! Running it as a production service (issue 5): `/metrics` after a token
//! lifecycle, the request id, and the operators' commands against a live
//! instance.

use actix_web::http::Method;
use serde_json::json;
use tessera_persistence::Backend;
use tessera_server::{Settings, operators};

use crate::clients::create_client;
use crate::helpers::{
    PROPAGATION_DEADLINE, TestApp, delete_token, refused_within_deadline, send, send_json,
    spawn_app, token_of,
};

crate::both_backends!(operations:
    metrics_cover_a_token_lifecycle,
    operators_revoke_all_of_a_users_tokens,
    operators_revoke_only_one_clients_tokens,
    operators_list_every_client,
);

/// Runs an operator's command on its own pool, as the binary would, off
/// the test's async runtime.
async fn operator<T: Send + 'static>(
    app: &TestApp,
    command: impl FnOnce(&Settings) -> anyhow::Result<T> + Send + 'static,
) -> anyhow::Result<T> {
    let settings = app.settings.clone();
    actix_web::rt::task::spawn_blocking(move || command(&settings))
        .await
        .expect("the command's thread joins")
}

pub async fn metrics_text(app: &TestApp) -> String {
    let reply = send(app.request(Method::GET, "/metrics")).await;
    assert_eq!(reply.status, 200);
    assert!(
        reply.content_type.starts_with("text/plain"),
        "{}",
        reply.content_type
    );
    reply.raw
}

/// The value of the sample `name{labels}` (labels in the exporter's order),
/// or 0 when absent.
pub fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| {
            line.strip_prefix(series)?
                .strip_prefix(' ')?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or(0.0)
}

async fn metrics_cover_a_token_lifecycle(backend: Backend) {
    let app = spawn_app(backend).await;
    let before = metrics_text(&app).await;
    let created = app.create_token(41, "metered", &["submit_score"]).await;
    let token = token_of(&created);
    assert_eq!(app.status_with(&token).await.status, 200);
    assert_eq!(app.status_with("tst_not-a-token").await.status, 401);
    delete_token(&app, 41, &token).await;
    assert_eq!(app.status_with(&token).await.status, 401);
    // Any token is a method: made-up ones share one label.
    for made_up in ["FOO1", "FOO2"] {
        let method = Method::from_bytes(made_up.as_bytes()).expect("a method token");
        assert!(send(app.request(method, "/healthz")).await.status >= 400);
    }
    let after = metrics_text(&app).await;
    assert!(!after.contains("FOO"), "a caller's method became a label");
    assert!(
        after.contains(r#"method="OTHER",route="/healthz""#),
        "{after}"
    );

    // The recorder is the process's, shared with tests running alongside:
    // counters are compared before and after, never to absolute values.
    let grew = |series: &str| sample(&after, series) - sample(&before, series);
    let create_route = r#"route="/api/v1/users/{userID}/api-tokens/create""#;
    assert!(
        grew(&format!(
            r#"http_requests_total{{method="POST",{create_route},status="200"}}"#
        )) >= 1.0,
        "{after}"
    );
    assert!(
        grew(r#"http_request_duration_seconds_count{method="GET",route="/api/v1/status"}"#) >= 3.0
    );
    assert!(after.contains(
        r#"http_request_duration_seconds_bucket{method="GET",route="/api/v1/status",le="0.001"}"#
    ));
    for outcome in ["valid", "unknown", "malformed"] {
        assert!(
            grew(&format!(
                r#"tessera_token_verifications_total{{outcome="{outcome}"}}"#
            )) >= 1.0,
            "{outcome}: {after}"
        );
    }
    assert!(after.contains("# TYPE tessera_token_verifications_total counter"));
    assert!(grew("tessera_tokens_created_total") >= 1.0);
    assert!(grew("tessera_tokens_deleted_total") >= 1.0);
    assert!(sample(&after, "tessera_db_pool_max_connections") >= 1.0);
    assert!(after.contains(r#"tessera_db_pool_connections{state="idle"}"#));
    assert!(after.contains(r#"tessera_db_pool_connections{state="in_use"}"#));
    // Gauges are the process's: set by whichever instance rendered last,
    // so only their presence is asserted here (their values in faults.rs
    // through /readyz, which is per instance).
    assert!(after.contains("# TYPE tessera_revocation_view_age_seconds gauge"));
    assert!(after.contains("# TYPE tessera_db_circuit_open gauge"));
    assert!(after.contains("# TYPE tessera_token_cache_misses_total counter"));
    assert!(after.contains(r#"tessera_token_cache_entries{kind="valid"}"#));
    assert!(after.contains("# TYPE tessera_db_queries_total counter"));
    assert_eq!(
        sample(
            &after,
            &format!(
                r#"tessera_build_info{{version="{}"}}"#,
                env!("CARGO_PKG_VERSION")
            )
        ),
        1.0
    );
    // The DELETE URL carried the token: labels hold its template only.
    assert!(after.contains(r#"route="/api/v1/users/{userID}/api-token/{token}""#));
    assert!(
        !after.contains(&token[4..token.len() - 4]),
        "a token became a label"
    );
    app.stop().await;
}

#[actix_web::test]
async fn the_request_id_is_propagated_or_made_up() {
    let app = spawn_app(Backend::Sqlite).await;
    let given = send(
        app.request(Method::GET, "/healthz")
            .insert_header(("X-Request-Id", "trace-7f3a:42")),
    )
    .await;
    assert_eq!(
        given.headers.get("x-request-id").map(|v| v.to_str().ok()),
        Some(Some("trace-7f3a:42"))
    );

    let made_up = send(app.request(Method::GET, "/api/v1/status")).await;
    let id = made_up
        .headers
        .get("x-request-id")
        .expect("an id")
        .to_str()
        .expect("ascii")
        .to_owned();
    assert_eq!(id.len(), 36, "a UUID: {id}");
    let another = send(app.request(Method::GET, "/api/v1/status")).await;
    assert_ne!(
        another
            .headers
            .get("x-request-id")
            .expect("an id")
            .to_str()
            .ok(),
        Some(id.as_str())
    );

    // What cannot be a sane log field is replaced rather than echoed.
    for bad in [
        "x".repeat(129),
        "has space".to_owned(),
        "quote\"d".to_owned(),
    ] {
        let reply = send(
            app.request(Method::GET, "/healthz")
                .insert_header(("X-Request-Id", bad.as_str())),
        )
        .await;
        let returned = reply
            .headers
            .get("x-request-id")
            .expect("an id")
            .to_str()
            .expect("ascii");
        assert_ne!(returned, bad);
        assert_eq!(returned.len(), 36);
    }
    app.stop().await;
}

async fn operators_revoke_all_of_a_users_tokens(backend: Backend) {
    let app = spawn_app(backend).await;
    let first = token_of(&app.create_token(51, "one", &["submit_score"]).await);
    let second = token_of(&app.create_token(51, "two", &[]).await);
    let others = token_of(&app.create_token(52, "other user", &[]).await);
    for token in [&first, &second, &others] {
        assert_eq!(app.status_with(token).await.status, 200, "cached as valid");
    }

    let printed = operator(&app, |s| operators::revoke_tokens(s, "51", None))
        .await
        .expect("revokes");
    assert_eq!(printed, "revoked 2 token(s) of user 51\n");
    assert!(app.list(51).await.is_empty());
    assert_eq!(app.list(52).await.len(), 1, "another user's token stays");
    // The command ran on its own pool, like another process: this instance
    // hears of it through the database (PostgreSQL's notifications, or
    // SQLite's revocation log), within the deadline.
    let both =
        refused_within_deadline(&app, &first).await + refused_within_deadline(&app, &second).await;
    assert!(both < PROPAGATION_DEADLINE, "still accepted after {both:?}");
    assert_eq!(app.status_with(&others).await.status, 200);

    let again = operator(&app, |s| operators::revoke_tokens(s, "51", None))
        .await
        .expect("revokes");
    assert_eq!(again, "revoked 0 token(s) of user 51\n");
    app.stop().await;
}

async fn operators_revoke_only_one_clients_tokens(backend: Backend) {
    let app = spawn_app(backend).await;
    let by_hand = token_of(&app.create_token(61, "by hand", &[]).await);
    let reply = send_json(
        app.with_session(Method::POST, "/api/v1/users/61/api-tokens/create", 61),
        &json!({"clientID": "CXFervidex"}),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.raw);

    let printed = operator(&app, |s| {
        operators::revoke_tokens(s, "61", Some("CXFervidex"))
    })
    .await
    .expect("revokes");
    assert_eq!(
        printed,
        "revoked 1 token(s) of user 61 issued from client CXFervidex\n"
    );
    let left = app.list(61).await;
    assert_eq!(left.len(), 1);
    assert_eq!(token_of(&left[0]), by_hand);

    let unknown = operator(&app, |s| {
        operators::revoke_tokens(s, "61", Some("CXNoSuchClient"))
    })
    .await;
    let bad_user = operator(&app, |s| operators::revoke_tokens(s, "zero", None)).await;
    assert!(format!("{:#}", unknown.expect_err("unknown client")).contains("CXNoSuchClient"));
    assert!(format!("{:#}", bad_user.expect_err("bad user")).contains("--user"));
    assert_eq!(
        app.list(61).await.len(),
        1,
        "a failed command changes nothing"
    );
    app.stop().await;
}

async fn operators_list_every_client(backend: Backend) {
    let app = spawn_app(backend).await;
    let created = create_client(
        &app,
        71,
        &json!({"name": "Registered App", "permissions": ["submit_score"], "redirectUri": "https://app.example/cb"}),
    )
    .await;
    let registered = created["clientID"].as_str().expect("id").to_owned();
    let secret = created["clientSecret"].as_str().expect("secret").to_owned();

    let listing = operator(&app, operators::list_clients)
        .await
        .expect("lists");
    let lines: Vec<&str> = listing.lines().collect();
    assert!(lines[0].starts_with("CLIENT ID"), "{listing}");
    for built_in in ["CXBuiltIn", "CXFervidex", "CXKamai", "CXResource"] {
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with(built_in) && l.contains("built-in")),
            "{built_in}: {listing}"
        );
    }
    let row = lines
        .iter()
        .find(|l| l.starts_with(&registered))
        .expect("the registered client");
    assert!(
        row.contains("Registered App")
            && row.contains("71")
            && row.contains("https://app.example/cb"),
        "{row}"
    );
    assert!(!listing.contains(&secret), "the listing shows no secret");
    assert_eq!(lines.last(), Some(&"5 client(s)"));
    app.stop().await;
}
