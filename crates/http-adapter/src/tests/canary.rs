//! Canary tokens over HTTP: made by the create body, refused exactly like
//! an unknown token, and each use recorded with where it came from.

use tessera_domain::AuditLog;

use super::harness::*;

#[actix_web::test]
async fn a_canary_is_made_from_permissions_and_listed_as_one() {
    let h = harness().await;

    let reply = h
        .create(json!({"identifier": "in .env", "permissions": ["submit_score"], "canary": true}))
        .await;

    assert_json_ok(&reply, "canary created");
    assert_eq!(reply.json["canary"], true);
    let listed = h.send(list_request("me").with_session(&h.session(1))).await;
    assert_eq!(listed.json[0]["canary"], true);
}

#[actix_web::test]
async fn canary_with_a_client_or_not_a_boolean_is_400_and_stores_nothing() {
    let h = harness().await;
    for body in [
        json!({"clientID": "CXFervidex", "canary": true}),
        json!({"identifier": "x", "permissions": [], "canary": "yes"}),
        json!({"identifier": "x", "permissions": [], "canary": 1}),
    ] {
        let reply = h.create(body.clone()).await;

        assert_problem(&reply, StatusCode::BAD_REQUEST, &body.to_string());
    }
    assert_eq!(h.stored(), 0);
    // `false` (or `null`) with a client is an ordinary client token.
    let reply = h
        .create(json!({"clientID": "CXFervidex", "canary": false}))
        .await;
    assert_json_ok(&reply, "canary false");
}

#[actix_web::test]
async fn a_canary_is_refused_exactly_like_an_unknown_token_and_its_use_recorded() {
    let h = harness().await;
    let created = h
        .create(json!({"identifier": "ci", "permissions": [], "canary": true}))
        .await;
    let canary = created.json["token"].as_str().expect("token").to_owned();

    // Twice each: from the store, then from the cache.
    for _ in 0..2 {
        let used = h
            .send(
                status_request()
                    .with_bearer(&canary)
                    .insert_header(("user-agent", "leaked-script/1.0"))
                    .peer_addr("192.0.2.9:40000".parse().expect("address")),
            )
            .await;
        let unknown = h.send(status_request().with_bearer(&unknown_token())).await;
        assert_eq!(used.status, unknown.status);
        assert_eq!(used.status, StatusCode::UNAUTHORIZED);
        assert_eq!(used.json, unknown.json);
        assert_eq!(used.content_type(), unknown.content_type());
        let headers = |reply: &Reply| {
            let mut names: Vec<String> = reply
                .headers
                .iter()
                .filter(|(name, _)| *name != "x-request-id")
                .map(|(name, value)| format!("{name}: {value:?}"))
                .collect();
            names.sort();
            names
        };
        assert_eq!(headers(&used), headers(&unknown));
    }

    // The two uses alike wait together: one event that counts them.
    assert_eq!(h.service.flush_canary_uses(|_| {}).expect("flush"), 1);
    let events = h.repository.events(user(1), 0, 100).expect("events");
    let used: Vec<_> = events
        .iter()
        .filter(|e| e.kind == "token.canary_used")
        .collect();
    assert_eq!(used.len(), 1);
    assert_eq!(used[0].details["uses"], 2);
    assert_eq!(
        used[0].token_id,
        created.json["id"].as_str().map(str::to_owned)
    );
    assert_eq!(used[0].details["route"], "GET /api/v1/status");
    assert_eq!(used[0].details["userAgent"], "leaked-script/1.0");
    assert_eq!(used[0].details["ip"], "192.0.2.9");
}
