//! The administrator's lifetime policy
//! (`tokens.max_lifetime_days`) on creation, by permissions and by client.

use actix_web::http::Method;
use serde_json::json;
use tessera_persistence::Backend;
use tessera_persistence::testing::TestDatabase;

use crate::helpers::{TestApp, assert_problem, send_json, settings_for, spawn_app_with};

crate::both_backends!(lifetime:
    a_policy_gives_tokens_its_lifetime_and_refuses_a_longer_one,
);

pub const DAY_MS: i64 = 24 * 3600 * 1000;

/// An instance whose tokens live `days` at most.
pub fn with_policy(backend: Backend, days: u32) -> TestApp {
    let db = TestDatabase::new(backend);
    let mut settings = settings_for(&db);
    settings.tokens.max_lifetime_days = days;
    spawn_app_with(db, settings)
}

pub async fn a_policy_gives_tokens_its_lifetime_and_refuses_a_longer_one(backend: Backend) {
    let app = with_policy(backend, 30);
    let limit = app.now() + 30 * DAY_MS;
    let create = async |body: serde_json::Value| {
        send_json(
            app.with_session(Method::POST, "/api/v1/users/1/api-tokens/create", 1),
            &body,
        )
        .await
    };

    let unbounded = create(json!({"identifier": "Script", "permissions": []})).await;
    assert_eq!(unbounded.status, 200, "{}", unbounded.raw);
    assert_eq!(unbounded.body["expiresAt"], limit, "the policy's lifetime");

    let shorter =
        create(json!({"identifier": "Short", "permissions": [], "expiresAt": limit - 1})).await;
    assert_eq!(
        shorter.body["expiresAt"],
        limit - 1,
        "a shorter one is kept"
    );
    let exact = create(json!({"identifier": "Edge", "permissions": [], "expiresAt": limit})).await;
    assert_eq!(exact.status, 200, "{}", exact.raw);

    let longer =
        create(json!({"identifier": "Long", "permissions": [], "expiresAt": limit + 1})).await;
    assert_problem(&longer, 400);
    assert!(
        longer.body["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("30 days"),
        "{}",
        longer.raw
    );

    // A built-in client's token, made without expiresAt, is bounded too.
    let by_client = create(json!({"clientID": "CXBuiltIn"})).await;
    assert_eq!(by_client.status, 200, "{}", by_client.raw);
    assert_eq!(by_client.body["expiresAt"], limit);

    let identifiers: Vec<_> = app
        .list(1)
        .await
        .into_iter()
        .map(|t| t["identifier"].clone())
        .collect();
    assert!(
        !identifiers.contains(&json!("Long")),
        "a refused token is not stored"
    );
    assert_eq!(identifiers.len(), 4);
}
