//! A token's public id and lifecycle
//! members, deletion by id, `PATCH` (rename, disable, shorten, restrict to
//! addresses), and how every instance and introspection see the change.

use std::time::Duration;

use actix_web::http::Method;
use serde_json::{Value, json};
use tessera_persistence::Backend;
use tessera_persistence::testing::TestDatabase;

use crate::helpers::{
    RESOURCE_SERVER_SECRET, TestApp, assert_problem, basic, refused_within_deadline, send,
    send_json, send_raw, settings_for, spawn_app, spawn_app_on, spawn_app_with, token_of,
};

crate::both_backends!(lifecycle:
    documents_carry_an_id_and_the_lifecycle_members,
    a_token_is_deleted_by_its_id_and_only_by_its_owner,
    a_patch_changes_only_what_it_names_and_validates_everything,
    an_expiry_only_moves_earlier,
    patch_needs_the_owners_session,
    a_disabled_token_is_refused_everywhere_and_enabling_restores_it,
    an_address_restriction_holds_on_status_and_introspection,
    forwarded_addresses_count_only_from_trusted_proxies,
    uses_show_where_and_from_which_addresses_and_are_written,
);

fn id_of(document: &Value) -> String {
    document["id"].as_str().expect("id is a string").to_owned()
}

async fn patch(app: &TestApp, user: i64, id: &str, body: Value) -> crate::helpers::Reply {
    send_json(
        app.with_session(
            Method::PATCH,
            &format!("/api/v1/users/{user}/api-tokens/{id}"),
            user,
        ),
        &body,
    )
    .await
}

async fn introspect(app: &TestApp, token: &str, client_ip: Option<&str>) -> Value {
    let mut form = format!("token={token}");
    if let Some(ip) = client_ip {
        form.push_str(&format!("&client_ip={ip}"));
    }
    let reply = send_raw(
        app.request(Method::POST, "/api/v1/oauth/introspect")
            .insert_header(("Authorization", basic("CXResource", RESOURCE_SERVER_SECRET))),
        "application/x-www-form-urlencoded",
        form,
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.raw);
    reply.body
}

pub async fn documents_carry_an_id_and_the_lifecycle_members(backend: Backend) {
    let app = spawn_app(backend).await;
    let first = app.create_token(1, "First", &["submit_score"]).await;
    let second = app.create_token(1, "Second", &[]).await;
    for document in [&first, &second] {
        let id = id_of(document);
        assert!(tessera_domain::TokenId::parse(&id).is_some(), "{id}");
        assert_eq!(id, id.to_lowercase());
        assert!(!token_of(document).contains(&id));
        assert_eq!(document["disabled"], false);
        assert_eq!(document["allowedIps"], Value::Null);
        assert_eq!(document["canary"], false);
        assert_eq!(document["supersededBy"], Value::Null);
        assert_eq!(document["lastUsedBy"], Value::Null);
        assert_eq!(document["lastUsedIps"], json!([]));
    }
    assert_ne!(id_of(&first), id_of(&second));
    let listed = app.list(1).await;
    let ids: Vec<_> = listed.iter().map(id_of).collect();
    assert_eq!(
        ids,
        [id_of(&first), id_of(&second)],
        "stable, in list order"
    );
}

pub async fn a_token_is_deleted_by_its_id_and_only_by_its_owner(backend: Backend) {
    let app = spawn_app(backend).await;
    let mine = app.create_token(1, "Mine", &[]).await;
    let other = app.create_token(1, "Other spelling", &[]).await;
    let id = id_of(&mine);

    let by_stranger = send(app.with_session(
        Method::DELETE,
        &format!("/api/v1/users/2/api-tokens/{id}"),
        2,
    ))
    .await;
    assert_problem(&by_stranger, 404);
    assert_eq!(app.status_with(&token_of(&mine)).await.status, 200);

    let deleted = send(app.with_session(
        Method::DELETE,
        &format!("/api/v1/users/1/api-tokens/{id}"),
        1,
    ))
    .await;
    assert_eq!(deleted.status, 200, "{}", deleted.raw);
    assert_eq!(deleted.body, json!({}));
    assert_eq!(app.status_with(&token_of(&mine)).await.status, 401);
    let again = send(app.with_session(
        Method::DELETE,
        &format!("/api/v1/users/1/api-tokens/{id}"),
        1,
    ))
    .await;
    assert_problem(&again, 404);

    // The seed's singular spelling takes an id too.
    let singular = send(app.with_session(
        Method::DELETE,
        &format!("/api/v1/users/me/api-token/{}", id_of(&other)),
        1,
    ))
    .await;
    assert_eq!(singular.status, 200, "{}", singular.raw);
    assert!(app.list(1).await.is_empty());
}

pub async fn a_patch_changes_only_what_it_names_and_validates_everything(backend: Backend) {
    let app = spawn_app(backend).await;
    let created = app.create_token(1, "Original", &["submit_score"]).await;
    let id = id_of(&created);

    let renamed = patch(&app, 1, &id, json!({"identifier": "  Renamed ✓  "})).await;
    assert_eq!(renamed.status, 200, "{}", renamed.raw);
    assert_eq!(renamed.body["identifier"], "Renamed ✓", "trimmed");
    assert_eq!(renamed.body["token"], created["token"]);
    assert_eq!(renamed.body["id"], created["id"]);
    assert_eq!(renamed.body["permissions"], created["permissions"]);

    let unchanged = patch(&app, 1, &id, json!({})).await;
    assert_eq!(unchanged.status, 200, "{}", unchanged.raw);
    assert_eq!(unchanged.body, renamed.body, "{{}} changes nothing");

    let restricted = patch(
        &app,
        1,
        &id,
        json!({"allowedIps": ["10.1.2.3/8", "192.0.2.7", "2001:db8::/32"]}),
    )
    .await;
    assert_eq!(restricted.status, 200, "{}", restricted.raw);
    assert_eq!(
        restricted.body["allowedIps"],
        json!(["10.0.0.0/8", "192.0.2.7/32", "2001:db8::/32"])
    );
    let lifted = patch(&app, 1, &id, json!({"allowedIps": null})).await;
    assert_eq!(lifted.body["allowedIps"], Value::Null, "{}", lifted.raw);

    let seventeen: Vec<String> = (0..17).map(|i| format!("10.0.0.{i}")).collect();
    for bad in [
        json!({"identifier": "   "}),
        json!({"identifier": "x".repeat(121)}),
        json!({"identifier": 5}),
        json!({"disabled": "yes"}),
        json!({"allowedIps": []}),
        json!({"allowedIps": seventeen}),
        json!({"allowedIps": ["10.0.0.0/33"]}),
        json!({"allowedIps": ["example.com"]}),
        json!({"allowedIps": "10.0.0.1"}),
        json!({"expiresAt": app.now() - 1}),
        json!({"expiresAt": "soon"}),
        json!({"permissions": ["delete_score"]}),
        json!({"identifier": "Fine", "allowedIps": ["nonsense"]}),
        json!([]),
    ] {
        let reply = patch(&app, 1, &id, bad.clone()).await;
        assert_problem(&reply, 400);
        assert_eq!(app.list(1).await[0], lifted.body, "{bad} changed nothing");
    }

    let unknown =
        tessera_domain::TokenId::generate(tessera_domain::Timestamp::from_millis(app.now()))
            .to_string();
    for missing in [unknown.as_str(), "not-a-uuid", token_of(&created).as_str()] {
        assert_problem(
            &patch(&app, 1, missing, json!({"disabled": true})).await,
            404,
        );
    }
    assert_problem(&patch(&app, 2, &id, json!({"disabled": true})).await, 404);
    assert_eq!(app.list(1).await[0]["disabled"], false);
}

pub async fn an_expiry_only_moves_earlier(backend: Backend) {
    let app = spawn_app(backend).await;
    let never = app.create_token(1, "Never expires", &[]).await;
    let id = id_of(&never);
    let later = app.now() + 3_600_000;

    // A document sent back as read: `expiresAt: null` on a token without one.
    let same = patch(&app, 1, &id, json!({"expiresAt": null, "disabled": false})).await;
    assert_eq!(same.status, 200, "{}", same.raw);

    let set = patch(&app, 1, &id, json!({"expiresAt": later})).await;
    assert_eq!(set.status, 200, "{}", set.raw);
    assert_eq!(set.body["expiresAt"], later, "set where there was none");

    assert_problem(
        &patch(&app, 1, &id, json!({"expiresAt": later + 1})).await,
        400,
    );
    assert_problem(&patch(&app, 1, &id, json!({"expiresAt": null})).await, 400);
    assert_eq!(app.list(1).await[0]["expiresAt"], later, "unchanged");

    let earlier = patch(&app, 1, &id, json!({"expiresAt": later - 1000})).await;
    assert_eq!(earlier.status, 200, "{}", earlier.raw);
    assert_eq!(earlier.body["expiresAt"], later - 1000);

    // Past its new expiry the token authenticates nowhere.
    let token = token_of(&never);
    assert_eq!(app.status_with(&token).await.status, 200);
    let soon = app.now() + 10;
    assert_eq!(
        patch(&app, 1, &id, json!({"expiresAt": soon})).await.status,
        200
    );
    app.clock.advance(Duration::from_millis(11));
    assert_eq!(app.status_with(&token).await.status, 401);
}

pub async fn patch_needs_the_owners_session(backend: Backend) {
    let app = spawn_app(backend).await;
    let created = app.create_token(1, "Mine", &[]).await;
    let path = format!("/api/v1/users/1/api-tokens/{}", id_of(&created));
    let body = json!({"disabled": true});

    let anonymous = send_json(app.request(Method::PATCH, &path), &body).await;
    assert_problem(&anonymous, 401);
    let by_token = send_json(
        app.with_bearer(Method::PATCH, &path, &token_of(&created)),
        &body,
    )
    .await;
    assert_problem(&by_token, 403);
    let by_other = send_json(app.with_session(Method::PATCH, &path, 2), &body).await;
    assert_problem(&by_other, 403);
    let bad_user = send_json(
        app.with_session(
            Method::PATCH,
            &format!("/api/v1/users/01/api-tokens/{}", id_of(&created)),
            1,
        ),
        &body,
    )
    .await;
    assert_problem(&bad_user, 400);
    let no_json = send_raw(
        app.with_session(Method::PATCH, &path, 1),
        "text/plain",
        "{}".into(),
    )
    .await;
    assert_problem(&no_json, 415);
    assert_eq!(app.list(1).await[0]["disabled"], false);
}

pub async fn a_disabled_token_is_refused_everywhere_and_enabling_restores_it(backend: Backend) {
    let app = spawn_app(backend).await;
    let peer = app.spawn_peer();
    let created = app.create_token(1, "Switchable", &["submit_score"]).await;
    let token = token_of(&created);
    let id = id_of(&created);
    // The peer has the token in its cache.
    assert_eq!(peer.status_with(&token).await.status, 200);
    assert_eq!(introspect(&peer, &token, None).await["active"], true);

    let disabled = patch(&app, 1, &id, json!({"disabled": true})).await;
    assert_eq!(disabled.status, 200, "{}", disabled.raw);
    assert_eq!(disabled.body["disabled"], true);
    assert_eq!(
        disabled.body["token"], created["token"],
        "kept, not deleted"
    );
    assert_eq!(app.status_with(&token).await.status, 401, "at once here");
    refused_within_deadline(&peer, &token).await;
    assert_eq!(
        introspect(&peer, &token, None).await,
        json!({"active": false})
    );
    // A disabled token cannot reach a Self-Key endpoint either.
    let listed = send(app.with_bearer(Method::GET, "/api/v1/users/1/api-tokens", &token)).await;
    assert_problem(&listed, 401);
    assert_eq!(app.list(1).await[0]["disabled"], true, "still listed");

    let enabled = patch(&app, 1, &id, json!({"disabled": false})).await;
    assert_eq!(enabled.status, 200, "{}", enabled.raw);
    assert_eq!(
        app.status_with(&token).await.status,
        200,
        "the same token again"
    );
    let started = std::time::Instant::now();
    while peer.status_with(&token).await.status != 200 {
        assert!(
            started.elapsed() < crate::helpers::PROPAGATION_DEADLINE,
            "the peer still refuses the enabled token"
        );
        actix_web::rt::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(introspect(&peer, &token, None).await["active"], true);
}

pub async fn an_address_restriction_holds_on_status_and_introspection(backend: Backend) {
    let app = spawn_app(backend).await;
    let peer = app.spawn_peer();
    let created = app.create_token(1, "Office only", &["submit_score"]).await;
    let token = token_of(&created);
    let id = id_of(&created);
    assert_eq!(peer.status_with(&token).await.status, 200, "cached");

    // The tests connect from 127.0.0.1.
    let elsewhere = patch(&app, 1, &id, json!({"allowedIps": ["10.0.0.0/8"]})).await;
    assert_eq!(elsewhere.status, 200, "{}", elsewhere.raw);
    assert_eq!(app.status_with(&token).await.status, 401);
    refused_within_deadline(&peer, &token).await;

    // Introspection judges the end client's address, and fails closed.
    assert_eq!(
        introspect(&app, &token, None).await,
        json!({"active": false})
    );
    assert_eq!(
        introspect(&app, &token, Some("192.0.2.1")).await,
        json!({"active": false})
    );
    let inside = introspect(&app, &token, Some("10.20.30.40")).await;
    assert_eq!(inside["active"], true, "{inside}");
    assert_eq!(
        introspect(&app, &token, Some("not-an-address")).await,
        json!({"active": false}),
        "an address that does not parse is an unknown one"
    );

    let here = patch(&app, 1, &id, json!({"allowedIps": ["127.0.0.1", "::1"]})).await;
    assert_eq!(here.status, 200, "{}", here.raw);
    assert_eq!(app.status_with(&token).await.status, 200);
    // An unrestricted token needs no client_ip, and ignores a bad one.
    let lifted = patch(&app, 1, &id, json!({"allowedIps": null})).await;
    assert_eq!(lifted.status, 200, "{}", lifted.raw);
    assert_eq!(introspect(&app, &token, None).await["active"], true);
    assert_eq!(introspect(&app, &token, Some("x")).await["active"], true);
}

pub async fn forwarded_addresses_count_only_from_trusted_proxies(backend: Backend) {
    let db = TestDatabase::new(backend);
    let mut settings = settings_for(&db);
    settings.server.trusted_proxies = vec!["127.0.0.1".to_owned()];
    let proxied = spawn_app_with(db, settings.clone());
    let mut direct_settings = settings;
    direct_settings.server.trusted_proxies = Vec::new();
    let direct = proxied.spawn_peer_with(direct_settings);

    let created = proxied.create_token(1, "Behind a proxy", &[]).await;
    let token = token_of(&created);
    let reply = patch(
        &proxied,
        1,
        &id_of(&created),
        json!({"allowedIps": ["203.0.113.0/24"]}),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.raw);

    let status = async |app: &TestApp, forwarded: Option<&str>| {
        let mut request = app.with_bearer(Method::GET, "/api/v1/status", &token);
        if let Some(forwarded) = forwarded {
            request = request.insert_header(("X-Forwarded-For", forwarded));
        }
        send(request).await.status
    };
    // The right-most entry that is not a trusted proxy is the client.
    assert_eq!(status(&proxied, Some("203.0.113.9")).await, 200);
    assert_eq!(
        status(&proxied, Some("198.51.100.1, 203.0.113.9, 127.0.0.1")).await,
        200
    );
    assert_eq!(
        status(&proxied, Some("203.0.113.9, 198.51.100.1")).await,
        401,
        "a client cannot prepend its way in"
    );
    assert_eq!(status(&proxied, Some("garbage")).await, 401, "fail closed");
    assert_eq!(
        status(&proxied, None).await,
        401,
        "the proxy itself is not allowed"
    );
    // Without trusted proxies the header is ignored.
    assert_eq!(status(&direct, Some("203.0.113.9")).await, 401);
}

pub async fn uses_show_where_and_from_which_addresses_and_are_written(backend: Backend) {
    let db = TestDatabase::new(backend);
    let mut settings = settings_for(&db);
    settings.server.trusted_proxies = vec!["127.0.0.1".to_owned()];
    let app = spawn_app_with(db, settings);
    let token = token_of(&app.create_token(1, "Busy", &[]).await);
    let status_from = async |app: &TestApp, client: &str| {
        let reply = send(
            app.with_bearer(Method::GET, "/api/v1/status", &token)
                .insert_header(("X-Forwarded-For", client)),
        )
        .await;
        assert_eq!(reply.status, 200, "{}", reply.raw);
    };

    status_from(&app, "192.0.2.1").await;
    let shown = first_listed(&app).await;
    assert_eq!(shown["lastUsedBy"], "status");
    assert_eq!(shown["lastUsedIps"], json!(["192.0.2.1"]));

    // A new address is noted at once, not a minute later; a known one
    // moves to the front.
    status_from(&app, "192.0.2.2").await;
    status_from(&app, "192.0.2.1").await;
    assert_eq!(
        first_listed(&app).await["lastUsedIps"],
        json!(["192.0.2.1", "192.0.2.2"])
    );

    // A resource server's introspection names it, with the end client's
    // address it passed.
    assert_eq!(
        introspect(&app, &token, Some("198.51.100.7")).await["active"],
        true
    );
    let shown = first_listed(&app).await;
    assert_eq!(shown["lastUsedBy"], "CXResource");
    assert_eq!(
        shown["lastUsedIps"],
        json!(["198.51.100.7", "192.0.2.1", "192.0.2.2"])
    );

    // Five distinct addresses at most, the oldest dropped.
    for client in ["203.0.113.1", "203.0.113.2", "203.0.113.3"] {
        status_from(&app, client).await;
    }
    let expected = json!([
        "203.0.113.3",
        "203.0.113.2",
        "203.0.113.1",
        "198.51.100.7",
        "192.0.2.1"
    ]);
    assert_eq!(first_listed(&app).await["lastUsedIps"], expected);

    // Written at shutdown; another instance reads them back.
    let app = spawn_app_on(app.stop().await).await;
    let shown = first_listed(&app).await;
    assert_eq!(shown["lastUsedBy"], "status");
    assert_eq!(shown["lastUsedIps"], expected);
    assert!(shown["lastUsedAt"].is_i64());
}

async fn first_listed(app: &TestApp) -> Value {
    app.list(1).await.remove(0)
}
