//! The order of checks: what a request is refused for first.

use super::harness::*;
use super::self_key::Endpoint;

/// Puts one kind of credential (given the harness and a valid token) on a request.
type AddCredentials = fn(TestRequest, &Harness, &str) -> TestRequest;

#[actix_web::test]
async fn malformed_user_id_is_400_before_any_credential_check() {
    let bad_ids = [
        "abc",
        "0",
        "-1",
        "01",
        "+1",
        "ME",
        "1.0",
        "9223372036854775808",
    ];
    for endpoint in Endpoint::ALL {
        for id in bad_ids {
            let h = harness().await;
            let token = h.seed(1, "Mine", &["submit_score"], None);
            let credentials: [(&str, AddCredentials); 4] = [
                ("no credentials", |req, _, _| req),
                ("an invalid session", |req, _, _| req.with_session("x")),
                ("a valid session", |req, h, _| {
                    req.with_session(&h.session(1))
                }),
                ("a valid Bearer", |req, _, token| req.with_bearer(token)),
            ];
            for (case, add) in credentials {
                let req = add(endpoint.request(&h, id), &h, &token);
                let before = h.repository.snapshot();

                let reply = h.send(req).await;

                let context = format!("{endpoint:?} /users/{id} with {case}");
                assert_problem(&reply, StatusCode::BAD_REQUEST, &context);
                assert_eq!(
                    h.repository.snapshot(),
                    before,
                    "{context}: nothing changes"
                );
            }
        }
    }
}

#[actix_web::test]
async fn credentials_are_checked_before_the_content_type() {
    let h = harness().await;
    let bearer = h.seed(1, "Mine", &DEFAULT_PERMISSIONS, None);
    let text = || {
        create_request("1")
            .insert_header((header::CONTENT_TYPE, "text/plain"))
            .set_payload("hello")
    };

    let anonymous = h.send(text()).await;
    let with_bearer = h.send(text().with_bearer(&bearer)).await;
    let foreign = h.send(text().with_session(&h.session(2))).await;
    let own = h.send(text().with_session(&h.session(1))).await;

    assert_problem(
        &anonymous,
        StatusCode::UNAUTHORIZED,
        "text/plain, anonymous",
    );
    assert_problem(&with_bearer, StatusCode::FORBIDDEN, "text/plain, Bearer");
    assert_problem(
        &foreign,
        StatusCode::FORBIDDEN,
        "text/plain, user 2's session",
    );
    assert_problem(
        &own,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "text/plain, own session",
    );
}

#[actix_web::test]
async fn credentials_are_checked_before_the_body_size_and_json() {
    let h = harness().await;
    let bearer = h.seed(1, "Mine", &DEFAULT_PERMISSIONS, None);
    let huge = || {
        create_request("1")
            .insert_header((header::CONTENT_TYPE, "application/json"))
            .set_payload(padded_create_body(BODY_LIMIT + 1))
    };
    let broken = || {
        create_request("1")
            .insert_header((header::CONTENT_TYPE, "application/json"))
            .set_payload("{\"identifier\": ")
    };

    let huge_anonymous = h.send(huge()).await;
    let huge_bearer = h.send(huge().with_bearer(&bearer)).await;
    let broken_anonymous = h.send(broken()).await;
    let broken_foreign = h.send(broken().with_session(&h.session(2))).await;

    assert_problem(
        &huge_anonymous,
        StatusCode::UNAUTHORIZED,
        "17 KiB, anonymous",
    );
    assert_problem(&huge_bearer, StatusCode::FORBIDDEN, "17 KiB, Bearer");
    assert_problem(
        &broken_anonymous,
        StatusCode::UNAUTHORIZED,
        "bad JSON, anonymous",
    );
    assert_problem(
        &broken_foreign,
        StatusCode::FORBIDDEN,
        "bad JSON, user 2's session",
    );
}

#[actix_web::test]
async fn content_type_is_checked_before_the_body_size() {
    let h = harness().await;
    let req = create_request("1")
        .insert_header((header::CONTENT_TYPE, "text/plain"))
        .set_payload(padded_create_body(BODY_LIMIT + 1))
        .with_session(&h.session(1));

    let reply = h.send(req).await;

    assert_problem(
        &reply,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "17 KiB of text/plain",
    );
}

#[actix_web::test]
async fn malformed_bearer_token_never_touches_the_store() {
    let h = harness().await;
    let malformed = [
        "Bearer tsr_short".to_owned(),
        format!("Bearer {}", with_bad_checksum(&unknown_token())),
        format!("Bearer xyz_{}", &unknown_token()[PREFIX.len()..]),
        "Bearer ".to_owned(),
        "Basic dXNlcjpwYXNz".to_owned(),
    ];
    for authorization in &malformed {
        for req in [
            status_request(),
            list_request("1"),
            create_request("1").set_json(json!({"identifier": "x", "permissions": []})),
            delete_request("1", &unknown_token()),
        ] {
            let before = h.repository.lookups();
            let reply = h.send(req.with_authorization(authorization)).await;
            let after = h.repository.lookups();

            assert_problem(&reply, StatusCode::UNAUTHORIZED, authorization);
            assert_eq!(after, before, "{authorization}: the store was consulted");
        }
    }
}

#[actix_web::test]
async fn well_formed_unknown_bearer_token_is_looked_up_and_refused() {
    // The counterpart of the test above: proves `lookups()` does count.
    let h = harness().await;
    let before = h.repository.lookups();

    let reply = h.send(status_request().with_bearer(&unknown_token())).await;

    assert_problem(&reply, StatusCode::UNAUTHORIZED, "unknown token");
    assert!(
        h.repository.lookups() > before,
        "a well-formed token is looked up"
    );
}
