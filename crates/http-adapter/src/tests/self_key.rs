//! The Self-Key token endpoints: the status table.

use super::harness::*;

/// The three Self-Key token endpoints.
#[derive(Debug, Clone, Copy)]
pub(super) enum Endpoint {
    List,
    Create,
    Delete,
}

impl Endpoint {
    pub(super) const ALL: [Self; 3] = [Self::List, Self::Create, Self::Delete];

    /// A request that succeeds given user 1's session; `Delete` targets a
    /// freshly seeded token of user 1.
    pub(super) fn request(self, h: &Harness, user: &str) -> TestRequest {
        match self {
            Self::List => list_request(user),
            Self::Create => create_request(user)
                .set_json(json!({"identifier": "New", "permissions": ["submit_score"]})),
            Self::Delete => delete_request(user, &h.seed(1, "Doomed", &["submit_score"], None)),
        }
    }

    pub(super) fn assert_proceeded(self, reply: &Reply, context: &str) {
        assert_json_ok(reply, context);
        match self {
            Self::List => assert!(reply.json.is_array(), "{context}: {}", reply.json),
            Self::Create => assert_eq!(reply.json["identifier"], "New", "{context}"),
            Self::Delete => assert_eq!(reply.json, json!({}), "{context}"),
        }
    }
}

/// Sends `endpoint`'s request for user 1 as shaped by `credentials` and
/// asserts it is refused with `status` and leaves the store as it was.
async fn assert_refused(
    endpoint: Endpoint,
    credentials: impl FnOnce(TestRequest, &Harness) -> TestRequest,
    status: StatusCode,
    case: &str,
) {
    let h = harness().await;
    let req = credentials(endpoint.request(&h, "1"), &h);
    let before = h.repository.snapshot();
    let reply = h.send(req).await;
    let context = format!("{endpoint:?} with {case}");
    assert_problem(&reply, status, &context);
    assert_eq!(
        h.repository.snapshot(),
        before,
        "{context}: a refused request changes nothing"
    );
}

#[actix_web::test]
async fn self_key_endpoint_without_credentials_is_401() {
    for endpoint in Endpoint::ALL {
        assert_refused(endpoint, |req, _| req, StatusCode::UNAUTHORIZED, "nothing").await;
    }
}

#[actix_web::test]
async fn malformed_tampered_expired_or_foreign_session_cookie_is_401() {
    // Minted at (about) the same system time as each harness's clock.
    let cases = invalid_sessions(&harness().await);
    for endpoint in Endpoint::ALL {
        for (case, cookie) in &cases {
            assert_refused(
                endpoint,
                |req, _| req.with_session(cookie),
                StatusCode::UNAUTHORIZED,
                &format!("a {case} session"),
            )
            .await;
        }
    }
}

#[actix_web::test]
async fn bearer_token_on_a_self_key_endpoint_is_403() {
    for endpoint in Endpoint::ALL {
        assert_refused(
            endpoint,
            |req, h| req.with_bearer(&h.seed(1, "Mine", &DEFAULT_PERMISSIONS, None)),
            StatusCode::FORBIDDEN,
            "user 1's own valid Bearer token",
        )
        .await;
    }
}

#[actix_web::test]
async fn invalid_bearer_on_a_self_key_endpoint_is_401() {
    for endpoint in Endpoint::ALL {
        for (case, authorization) in invalid_authorizations() {
            assert_refused(
                endpoint,
                |req, _| req.with_authorization(&authorization),
                StatusCode::UNAUTHORIZED,
                &format!("Authorization: {case}"),
            )
            .await;
        }
    }
}

#[actix_web::test]
async fn expired_or_deleted_bearer_on_a_self_key_endpoint_is_401() {
    for endpoint in Endpoint::ALL {
        assert_refused(
            endpoint,
            |req, h| {
                let token = h.seed(1, "Short-lived", &["submit_score"], Some(h.now() + 1));
                h.clock.advance(Duration::from_millis(1));
                req.with_bearer(&token)
            },
            StatusCode::UNAUTHORIZED,
            "user 1's expired Bearer token",
        )
        .await;
        assert_refused(
            endpoint,
            |req, h| {
                let token = h.seed(1, "Deleted", &["submit_score"], None);
                h.service
                    .delete(user(1), &token)
                    .expect("deleting the seed");
                req.with_bearer(&token)
            },
            StatusCode::UNAUTHORIZED,
            "user 1's deleted Bearer token",
        )
        .await;
    }
}

#[actix_web::test]
async fn session_of_another_user_on_a_self_key_endpoint_is_403() {
    for endpoint in Endpoint::ALL {
        assert_refused(
            endpoint,
            |req, h| req.with_session(&h.session(2)),
            StatusCode::FORBIDDEN,
            "user 2's session",
        )
        .await;
    }
}

#[actix_web::test]
async fn own_session_proceeds_by_user_id_and_by_me() {
    for endpoint in Endpoint::ALL {
        for path_user in ["1", "me"] {
            let h = harness().await;
            let req = endpoint.request(&h, path_user).with_session(&h.session(1));
            let reply = h.send(req).await;
            endpoint.assert_proceeded(&reply, &format!("{endpoint:?} as /users/{path_user}"));
        }
    }
}

#[actix_web::test]
async fn valid_session_wins_over_an_invalid_bearer() {
    for endpoint in Endpoint::ALL {
        for (case, authorization) in invalid_authorizations() {
            let h = harness().await;
            let req = endpoint
                .request(&h, "1")
                .with_session(&h.session(1))
                .with_authorization(&authorization);
            let reply = h.send(req).await;
            endpoint.assert_proceeded(&reply, &format!("{endpoint:?} with session + {case}"));
        }
    }
}

#[actix_web::test]
async fn invalid_session_with_a_valid_bearer_is_401() {
    for endpoint in Endpoint::ALL {
        assert_refused(
            endpoint,
            |req, h| {
                req.with_session("not-a-jwt").with_bearer(&h.seed(
                    1,
                    "Mine",
                    &DEFAULT_PERMISSIONS,
                    None,
                ))
            },
            StatusCode::UNAUTHORIZED,
            "an invalid session and a valid Bearer",
        )
        .await;
    }
}

#[actix_web::test]
async fn largest_canonical_user_id_is_a_user() {
    let h = harness().await;
    let max = i64::MAX;
    let req = list_request(&max.to_string()).with_session(&h.session(max));

    let reply = h.send(req).await;

    assert_json_ok(&reply, "list of user i64::MAX");
    assert_eq!(reply.json, json!([]));
}

#[actix_web::test]
async fn undecodable_session_cookie_is_401_not_ignored() {
    let h = harness().await;
    let token = h.seed(2, "Theirs", &["submit_score"], None);
    let garbage = (header::COOKIE, format!("{COOKIE}=%FF"));

    let alone = h
        .send(status_request().insert_header(garbage.clone()))
        .await;
    let with_bearer = h
        .send(
            status_request()
                .insert_header(garbage.clone())
                .with_bearer(&token),
        )
        .await;
    let self_key = h
        .send(list_request("2").insert_header(garbage).with_bearer(&token))
        .await;

    assert_problem(&alone, StatusCode::UNAUTHORIZED, "undecodable cookie alone");
    assert_problem(
        &with_bearer,
        StatusCode::UNAUTHORIZED,
        "undecodable cookie + Bearer",
    );
    assert_problem(
        &self_key,
        StatusCode::UNAUTHORIZED,
        "undecodable cookie + Bearer, list",
    );
}

#[actix_web::test]
async fn session_expiry_follows_the_service_clock() {
    let h = harness().await;
    let cookie = h.session_at(1, 60, h.now());
    let before = h.send(list_request("1").with_session(&cookie)).await;

    // 60 s of life plus 60 s of leeway, and then some.
    h.clock.advance(Duration::from_millis(121_000));
    let after = h.send(list_request("1").with_session(&cookie)).await;

    assert_json_ok(&before, "session within its life");
    assert_problem(
        &after,
        StatusCode::UNAUTHORIZED,
        "session past exp + leeway",
    );
}
