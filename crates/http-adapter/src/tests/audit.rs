//! The audit trail's endpoint over the in-memory store: paging, the
//! event's members, refusals.

use super::harness::*;

fn audit_request(user: &str, query: &str) -> TestRequest {
    TestRequest::get().uri(&format!("/api/v1/users/{user}/audit{query}"))
}

#[actix_web::test]
async fn events_page_oldest_first_with_next_until_the_end() {
    let h = harness().await;
    for name in ["a", "b", "c"] {
        assert_json_ok(
            &h.create(json!({"identifier": name, "permissions": []}))
                .await,
            name,
        );
    }

    let first = h
        .send(audit_request("1", "?limit=2").with_session(&h.session(1)))
        .await;
    let rest = h
        .send(audit_request("me", "?limit=2&after=2").with_session(&h.session(1)))
        .await;

    assert_json_ok(&first, "first page");
    assert_eq!(keys(&first.json), BTreeSet::from(["events", "next"]));
    let events = first.json["events"].as_array().expect("events");
    assert_eq!(events.len(), 2);
    assert_eq!(first.json["next"], 2);
    assert_eq!(
        keys(&events[0]),
        BTreeSet::from([
            "actor", "at", "clientID", "details", "hash", "prevHash", "seq", "tokenID", "type",
        ])
    );
    assert_eq!(events[0]["seq"], 1);
    assert_eq!(events[0]["type"], "token.created");
    assert_eq!(events[0]["actor"], json!({"kind": "session", "id": "1"}));
    assert_eq!(events[0]["details"], json!({"identifier": "a"}));
    assert_eq!(events[0]["prevHash"], "0".repeat(64));
    assert_eq!(events[1]["prevHash"], events[0]["hash"]);
    assert_json_ok(&rest, "last page");
    assert_eq!(rest.json["events"][0]["seq"], 3);
    assert_eq!(rest.json["next"], Value::Null);
}

#[actix_web::test]
async fn paging_out_of_range_is_400_and_changes_nothing() {
    let h = harness().await;
    for query in [
        "?limit=0",
        "?limit=501",
        "?after=-1",
        "?limit=x",
        "?after=%00",
    ] {
        let reply = h
            .send(audit_request("1", query).with_session(&h.session(1)))
            .await;
        assert_problem(&reply, StatusCode::BAD_REQUEST, query);
    }
    let empty = h
        .send(audit_request("1", "?limit=500").with_session(&h.session(1)))
        .await;
    assert_json_ok(&empty, "no events yet");
    assert_eq!(empty.json, json!({"events": [], "next": null}));
}

#[actix_web::test]
async fn another_users_trail_and_a_token_are_refused() {
    let h = harness().await;
    let token = h.seed(2, "mine", &[], None);

    let other = h
        .send(audit_request("2", "").with_session(&h.session(1)))
        .await;
    let bearer = h.send(audit_request("2", "").with_bearer(&token)).await;
    let nobody = h.send(audit_request("2", "")).await;

    assert_problem(&other, StatusCode::FORBIDDEN, "another user");
    assert_problem(
        &bearer,
        StatusCode::FORBIDDEN,
        "a token on a Self-Key endpoint",
    );
    assert_problem(&nobody, StatusCode::UNAUTHORIZED, "no credentials");
}
