//! The token documents: members, order, formats.

use super::harness::*;

#[actix_web::test]
async fn created_document_has_exactly_the_contract_keys() {
    let h = harness().await;

    let reply = h
        .create(json!({"identifier": "Mine", "permissions": ["submit_score", "manage_rivals"]}))
        .await;

    assert_json_ok(&reply, "create");
    let doc = &reply.json;
    assert_eq!(
        keys(doc),
        BTreeSet::from([
            "allowedIps",
            "canary",
            "createdAt",
            "disabled",
            "expiresAt",
            "fromAPIClient",
            "id",
            "identifier",
            "lastUsedAt",
            "lastUsedBy",
            "lastUsedIps",
            "permissions",
            "supersededBy",
            "token",
            "userID",
        ])
    );
    assert_eq!(doc["identifier"], "Mine");
    assert_eq!(
        doc["permissions"],
        json!({"manage_rivals": true, "submit_score": true})
    );
    assert_eq!(doc["userID"], 1);
    assert_eq!(doc["fromAPIClient"], Value::Null);
    assert_eq!(doc["createdAt"], json!(h.now()));
    assert_eq!(doc["expiresAt"], Value::Null);
    assert_eq!(doc["lastUsedAt"], Value::Null);
    assert_eq!(doc["disabled"], false);
    assert_eq!(doc["allowedIps"], Value::Null);
    assert_eq!(doc["canary"], false);
    assert_eq!(doc["supersededBy"], Value::Null);
    assert_eq!(doc["lastUsedBy"], Value::Null);
    assert_eq!(doc["lastUsedIps"], json!([]));
    let id = doc["id"].as_str().expect("id is a string");
    assert!(tessera_domain::TokenId::parse(id).is_some(), "a UUID: {id}");
    let token = doc["token"].as_str().expect("token is a string");
    assert!(token.starts_with(PREFIX), "{token}");
    assert!(
        TokenFormat::new(PREFIX)
            .expect("prefix")
            .check(token)
            .is_ok(),
        "{token} has a valid checksum"
    );
}

#[actix_web::test]
async fn created_token_authenticates_as_its_user_with_its_permissions() {
    let h = harness().await;
    let created = h
        .create(json!({"identifier": "Mine", "permissions": ["submit_score", "manage_rivals"]}))
        .await;
    let token = created.json["token"].as_str().expect("token").to_owned();

    let reply = h.send(status_request().with_bearer(&token)).await;

    assert_json_ok(&reply, "status with the new token");
    assert_eq!(reply.json["whoami"], 1);
    assert_eq!(
        reply.json["permissions"],
        json!(["manage_rivals", "submit_score"])
    );
}

#[actix_web::test]
async fn successful_responses_are_json_in_utf8() {
    let h = harness().await;
    let token = h.seed(1, "Doomed", &[], None);
    let session = h.session(1);
    for (case, req) in [
        ("list", list_request("1").with_session(&session)),
        (
            "create",
            create_request("1")
                .set_json(json!({"identifier": "x", "permissions": []}))
                .with_session(&session),
        ),
        ("delete", delete_request("1", &token).with_session(&session)),
        ("status", status_request()),
        (
            "status POST",
            TestRequest::post()
                .uri("/api/v1/status")
                .set_json(json!({})),
        ),
        ("healthz", TestRequest::get().uri("/healthz")),
        ("readyz", TestRequest::get().uri("/readyz")),
    ] {
        let reply = h.send(req).await;

        assert_json_ok(&reply, case);
    }
}

#[actix_web::test]
async fn list_is_oldest_first_and_shows_only_the_users_tokens() {
    let h = harness().await;
    h.seed(1, "first", &[], None);
    h.clock.advance(Duration::from_millis(1000));
    h.seed(2, "someone else's", &[], None);
    h.seed(1, "second", &[], None);
    // Same millisecond: creation order breaks the tie.
    h.seed(1, "third", &[], None);
    h.clock.advance(Duration::from_millis(1000));
    h.seed(1, "fourth", &[], None);

    let reply = h.send(list_request("1").with_session(&h.session(1))).await;

    assert_json_ok(&reply, "list");
    assert_eq!(
        identifiers(&reply.json),
        ["first", "second", "third", "fourth"]
    );
    let created: Vec<i64> = reply
        .json
        .as_array()
        .expect("an array")
        .iter()
        .map(|d| d["createdAt"].as_i64().expect("createdAt is an integer"))
        .collect();
    assert!(created.windows(2).all(|w| w[0] <= w[1]), "{created:?}");
    assert!(
        reply
            .json
            .as_array()
            .expect("an array")
            .iter()
            .all(|d| d["userID"] == 1)
    );
}

#[actix_web::test]
async fn list_shows_each_token_back_in_full() {
    let h = harness().await;
    let token = h.seed(1, "Mine", &["submit_score"], None);

    let reply = h.send(list_request("me").with_session(&h.session(1))).await;

    assert_json_ok(&reply, "list");
    let docs = reply.json.as_array().expect("an array");
    assert_eq!(docs.len(), 1);
    assert_eq!(docs[0]["token"], json!(token));
    assert_eq!(docs[0]["permissions"], json!({"submit_score": true}));
    assert_eq!(keys(&docs[0]).len(), 15, "{}", docs[0]);
}

#[actix_web::test]
async fn expired_token_stays_in_the_list() {
    let h = harness().await;
    let expires_at = h.now() + 1000;
    h.seed(1, "Short-lived", &[], Some(expires_at));
    h.clock.advance(Duration::from_millis(5000));

    let reply = h.send(list_request("1").with_session(&h.session(1))).await;

    assert_json_ok(&reply, "list");
    assert_eq!(identifiers(&reply.json), ["Short-lived"]);
    assert_eq!(reply.json[0]["expiresAt"], json!(expires_at));
}

#[actix_web::test]
async fn delete_answers_an_empty_object_on_both_paths_and_the_token_stops_working() {
    for path in ["api-token", "api-tokens"] {
        let h = harness().await;
        let token = h.seed(1, "Doomed", &["submit_score"], None);
        let kept = h.seed(1, "Kept", &["submit_score"], None);
        let working = h.send(status_request().with_bearer(&token)).await;
        assert_json_ok(&working, "before delete");

        let reply = h
            .send(
                TestRequest::delete()
                    .uri(&format!("/api/v1/users/1/{path}/{token}"))
                    .with_session(&h.session(1)),
            )
            .await;

        assert_json_ok(&reply, path);
        assert_eq!(reply.json, json!({}));
        let after = h.send(status_request().with_bearer(&token)).await;
        assert_problem(&after, StatusCode::UNAUTHORIZED, "deleted token");
        let list = h.send(list_request("1").with_session(&h.session(1))).await;
        assert_eq!(identifiers(&list.json), ["Kept"], "{path}");
        let other = h.send(status_request().with_bearer(&kept)).await;
        assert_json_ok(&other, "the other token still works");
    }
}

#[actix_web::test]
async fn deleting_another_users_token_is_404_and_it_keeps_working() {
    let h = harness().await;
    let theirs = h.seed(2, "Theirs", &["submit_score"], None);
    for path_user in ["1", "me"] {
        let reply = h
            .send(delete_request(path_user, &theirs).with_session(&h.session(1)))
            .await;

        assert_problem(&reply, StatusCode::NOT_FOUND, path_user);
    }
    let status = h.send(status_request().with_bearer(&theirs)).await;
    assert_json_ok(&status, "user 2's token after the attempts");
    assert_eq!(status.json["whoami"], 2);
}

#[actix_web::test]
async fn deleting_an_unknown_or_malformed_or_already_deleted_token_is_404() {
    let h = harness().await;
    let token = h.seed(1, "Once", &[], None);
    let first = h
        .send(delete_request("1", &token).with_session(&h.session(1)))
        .await;
    assert_json_ok(&first, "first delete");
    for (case, candidate) in [
        ("already deleted", token),
        ("unknown", unknown_token()),
        ("malformed", "tsr_nope".to_owned()),
    ] {
        let reply = h
            .send(delete_request("1", &candidate).with_session(&h.session(1)))
            .await;

        assert_problem(&reply, StatusCode::NOT_FOUND, case);
    }
}
