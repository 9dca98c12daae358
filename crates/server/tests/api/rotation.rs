//! Rotation by the owner's session and by the token
//! itself, the overlap window, reuse detection, clients' tokens, the
//! lifetime policy, other instances, and concurrent rotations.

use std::time::Duration;

use actix_web::http::Method;
use serde_json::{Value, json};
use tessera_persistence::Backend;

use crate::helpers::{
    TestApp, assert_problem, refused_within_deadline, send_json, send_raw, spawn_app, token_of,
};
use crate::lifetime::{DAY_MS, with_policy};

crate::both_backends!(rotation:
    a_rotation_without_overlap_replaces_the_token_at_once,
    during_the_overlap_both_work_then_the_old_one_is_gone,
    a_token_rotates_itself,
    a_superseded_token_presented_again_revokes_its_lineage,
    what_cannot_rotate_is_refused_with_the_right_status,
    rotation_endpoints_check_credentials_first,
    a_clients_token_rotates_and_its_successor_is_the_clients_one_token,
    the_successor_keeps_or_takes_an_expiry_within_the_policy,
    another_instance_refuses_the_replaced_token_within_the_deadline,
    concurrent_rotations_of_one_token_yield_exactly_one_successor,
);

fn id_of(document: &Value) -> String {
    document["id"].as_str().expect("id is a string").to_owned()
}

async fn rotate(app: &TestApp, user: i64, id: &str, body: Value) -> crate::helpers::Reply {
    send_json(
        app.with_session(
            Method::POST,
            &format!("/api/v1/users/{user}/api-tokens/{id}/rotate"),
            user,
        ),
        &body,
    )
    .await
}

async fn rotate_self(app: &TestApp, token: &str, body: Value) -> crate::helpers::Reply {
    send_json(
        app.with_bearer(Method::POST, "/api/v1/tokens/rotate", token),
        &body,
    )
    .await
}

/// The members a successor takes from the token it replaces.
fn assert_same_rights(successor: &Value, old: &Value) {
    for member in [
        "identifier",
        "permissions",
        "fromAPIClient",
        "allowedIps",
        "userID",
    ] {
        assert_eq!(successor[member], old[member], "{member}");
    }
    assert_ne!(successor["token"], old["token"]);
    assert_ne!(successor["id"], old["id"]);
    assert_eq!(successor["supersededBy"], Value::Null);
    assert_eq!(successor["disabled"], false);
}

pub async fn a_rotation_without_overlap_replaces_the_token_at_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let old = app.create_token(1, "Deploy key", &["submit_score"]).await;
    let restricted = send_json(
        app.with_session(
            Method::PATCH,
            &format!("/api/v1/users/1/api-tokens/{}", id_of(&old)),
            1,
        ),
        &json!({"allowedIps": ["127.0.0.1"]}),
    )
    .await;
    assert_eq!(restricted.status, 200, "{}", restricted.raw);
    let old = restricted.body;

    let reply = rotate(&app, 1, &id_of(&old), json!({})).await;
    assert_eq!(reply.status, 200, "{}", reply.raw);
    let successor = reply.body;
    assert_same_rights(&successor, &old);
    assert_eq!(successor["allowedIps"], json!(["127.0.0.1/32"]));
    assert_eq!(successor["createdAt"], json!(app.now()));

    assert_eq!(app.status_with(&token_of(&old)).await.status, 401);
    assert_eq!(app.status_with(&token_of(&successor)).await.status, 200);
    let listed = app.list(1).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["id"], successor["id"]);
}

pub async fn during_the_overlap_both_work_then_the_old_one_is_gone(backend: Backend) {
    let app = spawn_app(backend).await;
    let old = app.create_token(1, "CI", &["submit_score"]).await;
    let reply = rotate(&app, 1, &id_of(&old), json!({"overlapSecs": 60})).await;
    assert_eq!(reply.status, 200, "{}", reply.raw);
    let successor = reply.body;

    assert_eq!(app.status_with(&token_of(&old)).await.status, 200);
    assert_eq!(app.status_with(&token_of(&successor)).await.status, 200);
    let listed = app.list(1).await;
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0]["id"], old["id"]);
    assert_eq!(listed[0]["supersededBy"], successor["id"]);
    assert_eq!(listed[1]["supersededBy"], Value::Null);

    // Rotating the superseded token again is a conflict; nothing changes.
    assert_problem(&rotate(&app, 1, &id_of(&old), json!({})).await, 409);
    assert_eq!(app.list(1).await.len(), 2);

    app.clock.advance(Duration::from_millis(59_999));
    assert_eq!(app.status_with(&token_of(&old)).await.status, 200);
    app.clock.advance(Duration::from_millis(1));
    assert_eq!(app.status_with(&token_of(&old)).await.status, 401);
    let listed = app.list(1).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["id"], successor["id"]);
    assert_eq!(app.status_with(&token_of(&successor)).await.status, 200);
}

pub async fn a_token_rotates_itself(backend: Backend) {
    let app = spawn_app(backend).await;
    let old = app.create_token(3, "Unattended", &["manage_rivals"]).await;
    let reply = rotate_self(&app, &token_of(&old), json!({})).await;
    assert_eq!(reply.status, 200, "{}", reply.raw);
    let successor = reply.body;
    assert_same_rights(&successor, &old);
    assert_eq!(app.status_with(&token_of(&old)).await.status, 401);

    // And again, with an overlap, from the successor.
    let next = rotate_self(&app, &token_of(&successor), json!({"overlapSecs": 5})).await;
    assert_eq!(next.status, 200, "{}", next.raw);
    assert_eq!(app.status_with(&token_of(&successor)).await.status, 200);
    assert_eq!(app.status_with(&token_of(&next.body)).await.status, 200);
    let ids: Vec<_> = app.list(3).await.iter().map(id_of).collect();
    assert_eq!(ids, [id_of(&successor), id_of(&next.body)]);
}

pub async fn a_superseded_token_presented_again_revokes_its_lineage(backend: Backend) {
    let app = spawn_app(backend).await;
    let bystander = app.create_token(1, "Unrelated", &[]).await;
    let first = app.create_token(1, "Leaked", &[]).await;
    let second = rotate_self(&app, &token_of(&first), json!({"overlapSecs": 3600})).await;
    assert_eq!(second.status, 200, "{}", second.raw);
    let third = rotate_self(&app, &token_of(&second.body), json!({"overlapSecs": 3600})).await;
    assert_eq!(third.status, 200, "{}", third.raw);
    assert_eq!(
        app.status_with(&token_of(&first)).await.status,
        200,
        "in its overlap"
    );

    // The first token is presented again: someone else holds it.
    let reused = rotate_self(&app, &token_of(&first), json!({})).await;
    assert_problem(&reused, 401);
    for revoked in [&first, &second.body, &third.body] {
        assert_eq!(app.status_with(&token_of(revoked)).await.status, 401);
    }
    let ids: Vec<_> = app.list(1).await.iter().map(id_of).collect();
    assert_eq!(ids, [id_of(&bystander)], "only the unrelated token is left");
    assert_eq!(app.status_with(&token_of(&bystander)).await.status, 200);
}

pub async fn what_cannot_rotate_is_refused_with_the_right_status(backend: Backend) {
    let app = spawn_app(backend).await;
    let disabled = app.create_token(1, "Disabled", &[]).await;
    let path = format!("/api/v1/users/1/api-tokens/{}", id_of(&disabled));
    let off = send_json(
        app.with_session(Method::PATCH, &path, 1),
        &json!({"disabled": true}),
    )
    .await;
    assert_eq!(off.status, 200, "{}", off.raw);
    assert_problem(&rotate(&app, 1, &id_of(&disabled), json!({})).await, 409);
    assert_problem(
        &rotate_self(&app, &token_of(&disabled), json!({})).await,
        401,
    );

    let expiring = send_json(
        app.with_session(Method::POST, "/api/v1/users/1/api-tokens/create", 1),
        &json!({"identifier": "Short", "permissions": [], "expiresAt": app.now() + 1000}),
    )
    .await;
    assert_eq!(expiring.status, 200, "{}", expiring.raw);
    app.clock.advance(Duration::from_millis(1000));
    assert_problem(
        &rotate(&app, 1, &id_of(&expiring.body), json!({})).await,
        409,
    );
    assert_problem(
        &rotate_self(&app, &token_of(&expiring.body), json!({})).await,
        401,
    );

    let fine = app.create_token(1, "Fine", &[]).await;
    let unknown =
        tessera_domain::TokenId::generate(tessera_domain::Timestamp::from_millis(app.now()))
            .to_string();
    assert_problem(&rotate(&app, 1, &unknown, json!({})).await, 404);
    assert_problem(&rotate(&app, 1, "not-an-id", json!({})).await, 404);
    assert_problem(&rotate(&app, 2, &id_of(&fine), json!({})).await, 404);
    for bad in [
        json!({"overlapSecs": -1}),
        json!({"overlapSecs": 604_801}),
        json!({"overlapSecs": "60"}),
        json!({"overlapSecs": 1.5}),
        json!({"expiresAt": app.now()}),
        json!({"identifier": "not a member"}),
        json!([]),
    ] {
        assert_problem(&rotate(&app, 1, &id_of(&fine), bad.clone()).await, 400);
        assert_problem(&rotate_self(&app, &token_of(&fine), bad).await, 400);
    }
    assert_eq!(
        rotate(&app, 1, &id_of(&fine), json!({"overlapSecs": 604_800}))
            .await
            .status,
        200,
        "a week is the longest overlap"
    );
    assert_eq!(app.list(1).await.len(), 4, "refusals stored nothing");
}

pub async fn rotation_endpoints_check_credentials_first(backend: Backend) {
    let app = spawn_app(backend).await;
    let mine = app.create_token(1, "Mine", &[]).await;
    let path = format!("/api/v1/users/1/api-tokens/{}/rotate", id_of(&mine));

    let anonymous = send_json(app.request(Method::POST, &path), &json!({})).await;
    assert_problem(&anonymous, 401);
    let by_token = send_json(
        app.with_bearer(Method::POST, &path, &token_of(&mine)),
        &json!({}),
    )
    .await;
    assert_problem(&by_token, 403);
    let by_other = send_json(app.with_session(Method::POST, &path, 2), &json!({})).await;
    assert_problem(&by_other, 403);
    // Credentials before the body.
    let bad_body_anonymous =
        send_raw(app.request(Method::POST, &path), "text/plain", "x".into()).await;
    assert_problem(&bad_body_anonymous, 401);
    let no_json = send_raw(
        app.with_session(Method::POST, &path, 1),
        "text/plain",
        "{}".into(),
    )
    .await;
    assert_problem(&no_json, 415);

    let nobody = send_json(
        app.request(Method::POST, "/api/v1/tokens/rotate"),
        &json!({}),
    )
    .await;
    assert_problem(&nobody, 401);
    let garbage = rotate_self(&app, "tsr_not-a-token", json!({})).await;
    assert_problem(&garbage, 401);
    let session = send_json(
        app.with_session(Method::POST, "/api/v1/tokens/rotate", 1),
        &json!({}),
    )
    .await;
    assert_problem(&session, 403);
    let not_bearer = send_json(
        app.request(Method::POST, "/api/v1/tokens/rotate")
            .insert_header(("Authorization", "Basic dTpw")),
        &json!({}),
    )
    .await;
    assert_problem(&not_bearer, 401);
    let unknown_with_bad_body = send_raw(
        app.with_bearer(Method::POST, "/api/v1/tokens/rotate", "tsr_x"),
        "text/plain",
        "x".into(),
    )
    .await;
    assert_problem(&unknown_with_bad_body, 401);
    assert_eq!(app.list(1).await[0]["id"], mine["id"], "nothing rotated");
}

pub async fn a_clients_token_rotates_and_its_successor_is_the_clients_one_token(backend: Backend) {
    let app = spawn_app(backend).await;
    let create = async || {
        send_json(
            app.with_session(Method::POST, "/api/v1/users/1/api-tokens/create", 1),
            &json!({"clientID": "CXFervidex"}),
        )
        .await
    };
    let old = create().await;
    assert_eq!(old.status, 200, "{}", old.raw);
    let reply = rotate(&app, 1, &id_of(&old.body), json!({"overlapSecs": 600})).await;
    assert_eq!(reply.status, 200, "{}", reply.raw);
    assert_eq!(reply.body["fromAPIClient"], "CXFervidex");
    assert_eq!(reply.body["identifier"], "Fervidex Token");
    assert_same_rights(&reply.body, &old.body);
    // The successor is the client's one token; the superseded one is not.
    assert_problem(&create().await, 409);
    assert_eq!(app.list(1).await.len(), 2);
}

pub async fn the_successor_keeps_or_takes_an_expiry_within_the_policy(backend: Backend) {
    let app = with_policy(backend, 30);
    let limit = app.now() + 30 * DAY_MS;
    let old = send_json(
        app.with_session(Method::POST, "/api/v1/users/1/api-tokens/create", 1),
        &json!({"identifier": "Bounded", "permissions": [], "expiresAt": limit - 5000}),
    )
    .await;
    assert_eq!(old.status, 200, "{}", old.raw);

    let kept = rotate(&app, 1, &id_of(&old.body), json!({})).await;
    assert_eq!(kept.status, 200, "{}", kept.raw);
    assert_eq!(
        kept.body["expiresAt"],
        limit - 5000,
        "the old token's expiry"
    );

    assert_problem(
        &rotate(&app, 1, &id_of(&kept.body), json!({"expiresAt": limit + 1})).await,
        400,
    );
    let taken = rotate(&app, 1, &id_of(&kept.body), json!({"expiresAt": limit})).await;
    assert_eq!(taken.status, 200, "{}", taken.raw);
    assert_eq!(
        taken.body["expiresAt"], limit,
        "the body's, within the policy"
    );
}

pub async fn another_instance_refuses_the_replaced_token_within_the_deadline(backend: Backend) {
    let app = spawn_app(backend).await;
    let peer = app.spawn_peer();
    let old = app.create_token(1, "Shared", &["submit_score"]).await;
    assert_eq!(
        peer.status_with(&token_of(&old)).await.status,
        200,
        "cached there"
    );
    let reply = rotate(&app, 1, &id_of(&old), json!({})).await;
    assert_eq!(reply.status, 200, "{}", reply.raw);
    refused_within_deadline(&peer, &token_of(&old)).await;
    assert_eq!(peer.status_with(&token_of(&reply.body)).await.status, 200);
}

pub async fn concurrent_rotations_of_one_token_yield_exactly_one_successor(backend: Backend) {
    let app = spawn_app(backend).await;
    let old = app.create_token(1, "Contended", &[]).await;
    let id = id_of(&old);
    let replies =
        futures_util::future::join_all((0..8).map(|_| rotate(&app, 1, &id, json!({})))).await;
    let statuses: Vec<u16> = replies.iter().map(|r| r.status).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    // A loser finds the token superseded (409) or, once the winner has
    // deleted it, gone (404).
    assert!(
        statuses.iter().all(|s| matches!(s, 200 | 404 | 409)),
        "{statuses:?}"
    );
    let listed = app.list(1).await;
    assert_eq!(listed.len(), 1);
    let winner = replies.iter().find(|r| r.status == 200).expect("one won");
    assert_eq!(listed[0]["id"], winner.body["id"]);
}
