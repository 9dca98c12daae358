//! `/api/v1/status`: who a credential speaks for.

use super::harness::*;

#[actix_web::test]
async fn anonymous_status_has_no_whoami_and_no_permissions() {
    let h = harness().await;

    let reply = h.send(status_request()).await;

    assert_json_ok(&reply, "anonymous status");
    assert_eq!(reply.json["whoami"], Value::Null);
    assert!(keys(&reply.json).contains("whoami"), "whoami is present");
    assert_eq!(reply.json["permissions"], json!([]));
    assert!(reply.json["version"].is_string(), "{}", reply.json);
    assert_eq!(reply.json["serverTime"], json!(h.now()));
    assert!(reply.json["startTime"].is_i64(), "{}", reply.json);
}

#[actix_web::test]
async fn session_status_is_the_user_with_every_permission() {
    let h = harness().await;

    let reply = h.send(status_request().with_session(&h.session(7))).await;

    assert_json_ok(&reply, "session status");
    assert_eq!(reply.json["whoami"], 7);
    assert_eq!(reply.json["permissions"], json!(DEFAULT_PERMISSIONS));
}

#[actix_web::test]
async fn bearer_status_is_the_tokens_user_and_permissions() {
    let h = harness().await;
    let token = h.seed(42, "Theirs", &["manage_targets", "delete_score"], None);

    let reply = h.send(status_request().with_bearer(&token)).await;

    assert_json_ok(&reply, "bearer status");
    assert_eq!(reply.json["whoami"], 42);
    assert_eq!(
        reply.json["permissions"],
        json!(["delete_score", "manage_targets"])
    );
}

#[actix_web::test]
async fn status_follows_the_credential_precedence() {
    let h = harness().await;
    let token = h.seed(2, "Theirs", &["submit_score"], None);

    let session_and_bearer = h
        .send(
            status_request()
                .with_session(&h.session(1))
                .with_bearer(&token),
        )
        .await;
    let session_and_bad_bearer = h
        .send(
            status_request()
                .with_session(&h.session(1))
                .with_bearer("tsr_x"),
        )
        .await;
    let bad_session_and_bearer = h
        .send(
            status_request()
                .with_session("not-a-jwt")
                .with_bearer(&token),
        )
        .await;
    let other_cookie_and_bearer = h
        .send(
            status_request()
                .cookie(Cookie::new("unrelated", "x"))
                .with_bearer(&token),
        )
        .await;

    assert_json_ok(&session_and_bearer, "session + bearer");
    assert_eq!(session_and_bearer.json["whoami"], 1, "the session wins");
    assert_json_ok(&session_and_bad_bearer, "session + invalid bearer");
    assert_eq!(session_and_bad_bearer.json["whoami"], 1);
    assert_problem(
        &bad_session_and_bearer,
        StatusCode::UNAUTHORIZED,
        "invalid session + valid bearer",
    );
    assert_json_ok(&other_cookie_and_bearer, "unrelated cookie + bearer");
    assert_eq!(other_cookie_and_bearer.json["whoami"], 2);
}

#[actix_web::test]
async fn status_refuses_invalid_credentials_with_401() {
    let h = harness().await;
    let mut cases: Vec<(String, TestRequest)> = invalid_authorizations()
        .into_iter()
        .map(|(case, value)| (case.to_owned(), status_request().with_authorization(&value)))
        .collect();
    for (case, cookie) in invalid_sessions(&h) {
        cases.push((
            format!("{case} session"),
            status_request().with_session(&cookie),
        ));
    }
    for (case, req) in cases {
        let reply = h.send(req).await;

        assert_problem(&reply, StatusCode::UNAUTHORIZED, &case);
    }
}

#[actix_web::test]
async fn status_echoes_the_echo_query_parameter() {
    let h = harness().await;

    let echoed = h
        .send(TestRequest::get().uri("/api/v1/status?echo=hello%20there"))
        .await;
    let empty = h.send(TestRequest::get().uri("/api/v1/status?echo=")).await;
    let absent = h
        .send(TestRequest::get().uri("/api/v1/status?other=1"))
        .await;

    assert_json_ok(&echoed, "echo");
    assert_eq!(echoed.json["echo"], "hello there");
    assert_json_ok(&empty, "empty echo");
    assert_eq!(empty.json["echo"], "");
    assert_json_ok(&absent, "no echo");
    assert!(
        !keys(&absent.json).contains("echo"),
        "echo must be absent, not null: {}",
        absent.json
    );
}

#[actix_web::test]
async fn status_post_echoes_the_echo_body_member() {
    let h = harness().await;
    let token = h.seed(3, "Theirs", &["submit_score"], None);
    let post = || TestRequest::post().uri("/api/v1/status");

    let echoed = h.send(post().set_json(json!({"echo": "x"}))).await;
    let with_token = h
        .send(post().set_json(json!({"echo": "y"})).with_bearer(&token))
        .await;
    let absent = h.send(post().set_json(json!({}))).await;

    assert_json_ok(&echoed, "POST echo");
    assert_eq!(echoed.json["echo"], "x");
    assert_eq!(echoed.json["whoami"], Value::Null);
    assert_json_ok(&with_token, "POST echo with a token");
    assert_eq!(with_token.json["echo"], "y");
    assert_eq!(with_token.json["whoami"], 3);
    assert_json_ok(&absent, "POST without echo");
    assert!(
        !keys(&absent.json).contains("echo"),
        "echo must be absent, not null: {}",
        absent.json
    );
}

#[actix_web::test]
async fn status_post_follows_the_body_rules() {
    let h = harness().await;
    let post = || TestRequest::post().uri("/api/v1/status");

    let wrong_type = h.send(post().set_json(json!({"echo": 5}))).await;
    let text = h
        .send(
            post()
                .insert_header((header::CONTENT_TYPE, "text/plain"))
                .set_payload("echo"),
        )
        .await;
    let broken = h
        .send(
            post()
                .insert_header((header::CONTENT_TYPE, "application/json"))
                .set_payload("{"),
        )
        .await;
    let bad_credentials_first = h
        .send(
            post()
                .insert_header((header::CONTENT_TYPE, "text/plain"))
                .set_payload("echo")
                .with_bearer("tsr_x"),
        )
        .await;

    let huge = h
        .send(
            post()
                .insert_header((header::CONTENT_TYPE, "application/json"))
                .set_payload(format!(r#"{{"echo":"{}"}}"#, "x".repeat(BODY_LIMIT))),
        )
        .await;

    assert_problem(&wrong_type, StatusCode::BAD_REQUEST, "echo: 5");
    assert_problem(&huge, StatusCode::PAYLOAD_TOO_LARGE, "17 KiB echo");
    assert_problem(&text, StatusCode::UNSUPPORTED_MEDIA_TYPE, "text/plain");
    assert_problem(&broken, StatusCode::BAD_REQUEST, "malformed JSON");
    assert_problem(
        &bad_credentials_first,
        StatusCode::UNAUTHORIZED,
        "bad bearer and text/plain",
    );
}

#[actix_web::test]
async fn expired_token_is_401_on_status() {
    let h = harness().await;
    let expires_at = h.now() + 10_000;
    let token = h.seed(1, "Short-lived", &["submit_score"], Some(expires_at));
    h.clock.advance(Duration::from_millis(9_999));
    let just_before = h.send(status_request().with_bearer(&token)).await;

    h.clock.advance(Duration::from_millis(1));
    let at_expiry = h.send(status_request().with_bearer(&token)).await;
    h.clock.advance(Duration::from_millis(60_000));
    let after = h.send(status_request().with_bearer(&token)).await;

    assert_json_ok(&just_before, "a millisecond before expiresAt");
    assert_eq!(just_before.json["whoami"], 1);
    assert_problem(&at_expiry, StatusCode::UNAUTHORIZED, "at expiresAt");
    assert_problem(&after, StatusCode::UNAUTHORIZED, "after expiresAt");
}

#[actix_web::test]
async fn server_time_follows_the_clock_and_start_time_stays() {
    let h = harness().await;
    let first = h.send(status_request()).await;

    h.clock.advance(Duration::from_millis(90_000));
    let second = h.send(status_request()).await;

    assert_eq!(first.json["serverTime"], json!(h.now() - 90_000));
    assert_eq!(second.json["serverTime"], json!(h.now()));
    assert_eq!(first.json["startTime"], second.json["startTime"]);
    assert_eq!(first.json["startTime"], json!(h.now() - 90_000));
}
