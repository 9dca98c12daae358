//! RFC 9457 problem documents on every error.

use super::harness::*;

#[actix_web::test]
async fn framework_errors_are_problem_json_too() {
    let h = harness().await;
    let session = h.session(1);
    for (case, req, status) in [
        (
            "unknown route",
            TestRequest::get().uri("/nope"),
            StatusCode::NOT_FOUND,
        ),
        (
            "unknown API route",
            TestRequest::get().uri("/api/v1/users/1/tokens"),
            StatusCode::NOT_FOUND,
        ),
        (
            "PUT /healthz",
            TestRequest::put().uri("/healthz"),
            StatusCode::METHOD_NOT_ALLOWED,
        ),
        (
            "DELETE on the list",
            TestRequest::delete().uri("/api/v1/users/1/api-tokens"),
            StatusCode::METHOD_NOT_ALLOWED,
        ),
        (
            "GET on create",
            TestRequest::get().uri("/api/v1/users/1/api-tokens/create"),
            StatusCode::METHOD_NOT_ALLOWED,
        ),
        (
            "PATCH /api/v1/status",
            TestRequest::patch().uri("/api/v1/status"),
            StatusCode::METHOD_NOT_ALLOWED,
        ),
        (
            "413",
            create_request("1")
                .insert_header((header::CONTENT_TYPE, "application/json"))
                .set_payload(padded_create_body(BODY_LIMIT + 1))
                .with_session(&session),
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
        (
            "415",
            create_request("1")
                .insert_header((header::CONTENT_TYPE, "text/plain"))
                .set_payload("x")
                .with_session(&session),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            "malformed JSON",
            create_request("1")
                .insert_header((header::CONTENT_TYPE, "application/json"))
                .set_payload("{")
                .with_session(&session),
            StatusCode::BAD_REQUEST,
        ),
        (
            "wrong JSON type",
            create_request("1")
                .set_json(json!({"identifier": [], "permissions": []}))
                .with_session(&session),
            StatusCode::BAD_REQUEST,
        ),
        (
            "malformed userID",
            list_request("abc"),
            StatusCode::BAD_REQUEST,
        ),
        ("401", list_request("1"), StatusCode::UNAUTHORIZED),
        (
            "403",
            list_request("2").with_session(&session),
            StatusCode::FORBIDDEN,
        ),
    ] {
        let reply = h.send(req).await;

        assert_problem(&reply, status, case);
    }
}

#[actix_web::test]
async fn only_401_responses_carry_a_www_authenticate_challenge() {
    let h = harness().await;

    let forbidden = h.send(list_request("2").with_session(&h.session(1))).await;
    let unauthorized = h.send(list_request("2")).await;

    assert_problem(&forbidden, StatusCode::FORBIDDEN, "403");
    assert!(!forbidden.headers.contains_key(header::WWW_AUTHENTICATE));
    assert_problem(&unauthorized, StatusCode::UNAUTHORIZED, "401");
    let challenge = unauthorized
        .headers
        .get(header::WWW_AUTHENTICATE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(challenge.starts_with("Bearer"), "{challenge}");
}
