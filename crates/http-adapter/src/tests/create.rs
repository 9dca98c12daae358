//! Creating tokens: the body rules.

use super::harness::*;

#[actix_web::test]
async fn create_with_both_permissions_and_client_id_is_400() {
    let h = harness().await;

    let reply = h
        .create(json!({"identifier": "x", "permissions": [], "clientID": "CXFervidex"}))
        .await;

    assert_problem(&reply, StatusCode::BAD_REQUEST, "both");
    assert_eq!(h.stored(), 0);
}

#[actix_web::test]
async fn create_with_neither_permissions_nor_client_id_is_400() {
    let h = harness().await;
    for body in [json!({"identifier": "x"}), json!({})] {
        let reply = h.create(body.clone()).await;

        assert_problem(&reply, StatusCode::BAD_REQUEST, &body.to_string());
    }
    assert_eq!(h.stored(), 0);
}

#[actix_web::test]
async fn create_with_an_unknown_member_is_400() {
    let h = harness().await;
    for body in [
        json!({"identifier": "x", "permissions": [], "scope": "all"}),
        json!({"clientID": "CXFervidex", "permision": []}),
    ] {
        let reply = h.create(body.clone()).await;

        assert_problem(&reply, StatusCode::BAD_REQUEST, &body.to_string());
    }
    assert_eq!(h.stored(), 0);
}

#[actix_web::test]
async fn create_with_a_wrong_json_type_is_400_even_for_an_ignored_member() {
    let h = harness().await;
    for body in [
        json!({"clientID": "CXFervidex", "identifier": 5}),
        json!({"clientID": "CXFervidex", "expiresAt": "tomorrow"}),
        json!({"clientID": 5}),
        json!({"identifier": "x", "permissions": "submit_score"}),
        json!({"identifier": "x", "permissions": [1]}),
        json!({"identifier": 5, "permissions": []}),
        json!({"identifier": "x", "permissions": [], "expiresAt": 1.5}),
        json!([]),
        json!("permissions"),
        json!(null),
    ] {
        let reply = h.create(body.clone()).await;

        assert_problem(&reply, StatusCode::BAD_REQUEST, &body.to_string());
    }
    assert_eq!(h.stored(), 0);
}

#[actix_web::test]
async fn create_with_malformed_json_is_400() {
    let h = harness().await;
    for body in ["{\"identifier\": ", "{identifier: 'x'}", "", "{} {}"] {
        let req = create_request("1")
            .insert_header((header::CONTENT_TYPE, "application/json"))
            .set_payload(body)
            .with_session(&h.session(1));

        let reply = h.send(req).await;

        assert_problem(&reply, StatusCode::BAD_REQUEST, &format!("body {body:?}"));
    }
    assert_eq!(h.stored(), 0);
}

#[actix_web::test]
async fn create_without_a_json_content_type_is_415() {
    let h = harness().await;
    let body = r#"{"identifier":"x","permissions":[]}"#;
    for content_type in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some("text/json"),
        Some("application/jsonx"),
    ] {
        let mut req = create_request("1").set_payload(body);
        if let Some(value) = content_type {
            req = req.insert_header((header::CONTENT_TYPE, value));
        }

        let reply = h.send(req.with_session(&h.session(1))).await;

        assert_problem(
            &reply,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            &format!("Content-Type {content_type:?}"),
        );
    }
    assert_eq!(h.stored(), 0);
}

#[actix_web::test]
async fn create_accepts_json_with_a_charset_and_json_suffixed_types() {
    let h = harness().await;
    let content_types = [
        "application/json",
        "application/json; charset=utf-8",
        "application/vnd.api+json",
    ];
    for (n, content_type) in content_types.iter().enumerate() {
        let req = create_request("1")
            .insert_header((header::CONTENT_TYPE, *content_type))
            .set_payload(format!(r#"{{"identifier":"t{n}","permissions":[]}}"#))
            .with_session(&h.session(1));

        let reply = h.send(req).await;

        assert_json_ok(&reply, content_type);
    }
    assert_eq!(h.stored(), content_types.len());
}

#[actix_web::test]
async fn create_body_of_exactly_16_kib_is_accepted() {
    let h = harness().await;
    let body = padded_create_body(BODY_LIMIT);
    assert_eq!(body.len(), 16 * 1024);
    let req = create_request("1")
        .insert_header((header::CONTENT_TYPE, "application/json"))
        .set_payload(body)
        .with_session(&h.session(1));

    let reply = h.send(req).await;

    assert_json_ok(&reply, "16 KiB body");
    assert_eq!(reply.json["identifier"], "Padded");
}

#[actix_web::test]
async fn create_body_over_16_kib_is_413() {
    let h = harness().await;
    let req = create_request("1")
        .insert_header((header::CONTENT_TYPE, "application/json"))
        .set_payload(padded_create_body(BODY_LIMIT + 1))
        .with_session(&h.session(1));

    let reply = h.send(req).await;

    assert_problem(&reply, StatusCode::PAYLOAD_TOO_LARGE, "16 KiB + 1");
    assert_eq!(h.stored(), 0);
}

#[actix_web::test]
async fn create_body_streaming_past_16_kib_beyond_its_declared_length_is_413() {
    let h = harness().await;
    let req = create_request("1")
        .insert_header((header::CONTENT_TYPE, "application/json"))
        .set_payload(padded_create_body(BODY_LIMIT * 2))
        // A lying Content-Length: the limit must hold on the bytes read.
        .insert_header((header::CONTENT_LENGTH, "40"))
        .with_session(&h.session(1));

    let reply = h.send(req).await;

    assert_problem(
        &reply,
        StatusCode::PAYLOAD_TOO_LARGE,
        "32 KiB declared as 40",
    );
    assert_eq!(h.stored(), 0);
}

#[actix_web::test]
async fn create_with_an_unknown_permission_is_400_naming_it_and_stores_nothing() {
    let h = harness().await;

    let reply = h
        .create(json!({"identifier": "x", "permissions": ["submit_score", "fly_to_the_moon"]}))
        .await;

    assert_problem(&reply, StatusCode::BAD_REQUEST, "unknown permission");
    let detail = reply.json["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("fly_to_the_moon"), "detail: {detail}");
    assert_eq!(h.stored(), 0);
}

#[actix_web::test]
async fn create_with_permissions_requires_a_non_blank_identifier_of_at_most_120_chars() {
    let h = harness().await;
    for (case, body) in [
        ("missing", json!({"permissions": []})),
        ("null", json!({"permissions": [], "identifier": null})),
        ("empty", json!({"permissions": [], "identifier": ""})),
        ("blank", json!({"permissions": [], "identifier": " \t\n "})),
        (
            "121 chars",
            json!({"permissions": [], "identifier": "x".repeat(121)}),
        ),
        (
            "121 multibyte chars",
            json!({"permissions": [], "identifier": "🦀".repeat(121)}),
        ),
    ] {
        let reply = h.create(body).await;

        assert_problem(&reply, StatusCode::BAD_REQUEST, case);
    }
    assert_eq!(h.stored(), 0);
}

#[actix_web::test]
async fn identifier_of_120_multibyte_chars_is_accepted() {
    let h = harness().await;
    let identifier = "🦀".repeat(120);
    assert_eq!(identifier.len(), 480, "4 bytes per crab");

    let reply = h
        .create(json!({"permissions": [], "identifier": format!("  {identifier}  ")}))
        .await;

    assert_json_ok(&reply, "120 crabs");
    assert_eq!(reply.json["identifier"], json!(identifier));
}

#[actix_web::test]
async fn identifier_is_stored_trimmed() {
    let h = harness().await;

    let reply = h
        .create(json!({"permissions": [], "identifier": "  My Token \u{3000}"}))
        .await;

    assert_json_ok(&reply, "padded identifier");
    assert_eq!(reply.json["identifier"], "My Token");
    let stored = h.repository.snapshot();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].identifier, "My Token");
}

#[actix_web::test]
async fn permissions_may_be_empty_and_duplicates_collapse() {
    let h = harness().await;

    let empty = h
        .create(json!({"permissions": [], "identifier": "none"}))
        .await;
    let doubled = h
        .create(json!({"permissions": ["submit_score", "delete_score", "submit_score"], "identifier": "two"}))
        .await;

    assert_json_ok(&empty, "empty permissions");
    assert_eq!(empty.json["permissions"], json!({}));
    assert_json_ok(&doubled, "duplicate permissions");
    assert_eq!(
        doubled.json["permissions"],
        json!({"delete_score": true, "submit_score": true})
    );
}

#[actix_web::test]
async fn expires_at_must_be_in_the_future() {
    let h = harness().await;
    let now = h.now();
    for (case, body) in [
        (
            "now",
            json!({"permissions": [], "identifier": "x", "expiresAt": now}),
        ),
        (
            "a second ago",
            json!({"permissions": [], "identifier": "x", "expiresAt": now - 1000}),
        ),
        (
            "zero",
            json!({"permissions": [], "identifier": "x", "expiresAt": 0}),
        ),
        (
            "negative",
            json!({"permissions": [], "identifier": "x", "expiresAt": -1}),
        ),
        (
            "now, with clientID",
            json!({"clientID": "CXFervidex", "expiresAt": now}),
        ),
    ] {
        let reply = h.create(body).await;

        assert_problem(&reply, StatusCode::BAD_REQUEST, case);
    }
    assert_eq!(h.stored(), 0);

    let future = h
        .create(json!({"permissions": [], "identifier": "x", "expiresAt": now + 1}))
        .await;

    assert_json_ok(&future, "one millisecond ahead");
    assert_eq!(future.json["expiresAt"], json!(now + 1));
}

#[actix_web::test]
async fn create_from_a_client_takes_its_name_and_permissions_and_ignores_identifier() {
    let h = harness().await;

    let reply = h
        .create(json!({"clientID": "CXFervidex", "identifier": "ignored"}))
        .await;

    assert_json_ok(&reply, "clientID");
    assert_eq!(reply.json["identifier"], "Fervidex Token");
    assert_eq!(reply.json["fromAPIClient"], "CXFervidex");
    assert_eq!(reply.json["permissions"], json!({"submit_score": true}));
    assert_eq!(reply.json["userID"], 1);
}

#[actix_web::test]
async fn second_token_from_the_same_client_is_409_and_changes_nothing() {
    let h = harness().await;
    let first = h.create(json!({"clientID": "CXFervidex"})).await;
    let before = h.repository.snapshot();

    let second = h.create(json!({"clientID": "CXFervidex"})).await;

    assert_json_ok(&first, "first client token");
    assert_problem(&second, StatusCode::CONFLICT, "second client token");
    assert_eq!(h.repository.snapshot(), before);
}

#[actix_web::test]
async fn expired_client_token_is_replaced_by_a_new_one() {
    let h = harness().await;
    let first = h
        .create(json!({"clientID": "CXFervidex", "expiresAt": h.now() + 1000}))
        .await;
    assert_json_ok(&first, "first client token");
    assert_eq!(
        first.json["expiresAt"],
        json!(h.now() + 1000),
        "expiresAt honoured"
    );
    h.clock.advance(Duration::from_millis(1000));

    let second = h.create(json!({"clientID": "CXFervidex"})).await;

    assert_json_ok(&second, "after the first expired");
    let list = h.send(list_request("1").with_session(&h.session(1))).await;
    let tokens: Vec<&Value> = list.json.as_array().expect("an array").iter().collect();
    assert_eq!(tokens.len(), 1, "the expired one is gone: {}", list.json);
    assert_eq!(tokens[0]["token"], second.json["token"]);
}

#[actix_web::test]
async fn client_token_for_another_user_is_no_conflict() {
    let h = harness().await;
    let first = h.create(json!({"clientID": "CXFervidex"})).await;
    assert_json_ok(&first, "user 1's client token");
    let req = create_request("2")
        .set_json(json!({"clientID": "CXFervidex"}))
        .with_session(&h.session(2));

    let reply = h.send(req).await;

    assert_json_ok(&reply, "user 2's client token");
    assert_eq!(reply.json["userID"], 2);
}

#[actix_web::test]
async fn create_from_an_unknown_client_is_404() {
    let h = harness().await;

    let reply = h.create(json!({"clientID": "CXNobody"})).await;

    assert_problem(&reply, StatusCode::NOT_FOUND, "unknown client");
    assert_eq!(h.stored(), 0);
}
