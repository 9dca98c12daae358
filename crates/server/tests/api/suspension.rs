//! Suspension: `tessera users suspend|resume`, run as the operator runs
//! it (the real binary, against the database two running instances use).

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use actix_web::http::Method;
use serde_json::{Value, json};
use tessera_persistence::Backend;

use crate::helpers::{
    PROPAGATION_DEADLINE, RESOURCE_SERVER_SECRET, TestApp, assert_problem, basic,
    refused_within_deadline, send, send_json, send_raw, spawn_app, token_of, workspace_root,
};

crate::both_backends!(suspension:
    a_suspended_users_tokens_are_refused_everywhere_and_kept,
    nothing_new_for_a_suspended_user_until_resumed,
);

/// `tessera users …` against the app's database.
fn users(app: &TestApp, args: &[&str]) -> Output {
    let url = app.db.as_ref().expect("the app owns its database").url();
    let output = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .current_dir(workspace_root())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("NO_COLOR", "1")
        .env("TESSERA__DATABASE__URL", url)
        .arg("users")
        .args(args)
        .output()
        .expect("tessera runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

async fn introspect(app: &TestApp, token: &str) -> Value {
    let reply = send_raw(
        app.request(Method::POST, "/api/v1/oauth/introspect")
            .insert_header(("Authorization", basic("CXResource", RESOURCE_SERVER_SECRET))),
        "application/x-www-form-urlencoded",
        format!("token={token}"),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.raw);
    reply.body
}

/// Polls `app` until it accepts `token` again, failing past the deadline.
async fn accepted_within_deadline(app: &TestApp, token: &str) {
    let started = Instant::now();
    while app.status_with(token).await.status != 200 {
        assert!(
            started.elapsed() < PROPAGATION_DEADLINE,
            "still refused after {:?}",
            started.elapsed()
        );
        actix_web::rt::time::sleep(Duration::from_millis(5)).await;
    }
}

pub async fn a_suspended_users_tokens_are_refused_everywhere_and_kept(backend: Backend) {
    let app = spawn_app(backend).await;
    let peer = app.spawn_peer();
    let first = app.create_token(1, "First", &["submit_score"]).await;
    let second = app.create_token(1, "Second", &[]).await;
    let other = app.create_token(2, "Someone else's", &[]).await;
    for token in [&first, &second] {
        assert_eq!(
            peer.status_with(&token_of(token)).await.status,
            200,
            "cached"
        );
        assert_eq!(
            app.status_with(&token_of(token)).await.status,
            200,
            "cached"
        );
    }

    let suspended = users(&app, &["suspend", "--user", "1", "--reason", "chargeback"]);
    assert!(
        stdout(&suspended).starts_with("suspended user 1: 2 token(s) refused"),
        "{}",
        stdout(&suspended)
    );
    for token in [&first, &second] {
        refused_within_deadline(&app, &token_of(token)).await;
        refused_within_deadline(&peer, &token_of(token)).await;
        assert_eq!(
            introspect(&peer, &token_of(token)).await,
            json!({"active": false})
        );
    }
    assert_eq!(app.status_with(&token_of(&other)).await.status, 200);

    // The session still lists them (kept, not deleted) and may delete one.
    let listed = app.list(1).await;
    assert_eq!(listed.len(), 2);
    let deleted = send(app.with_session(
        Method::DELETE,
        &format!(
            "/api/v1/users/1/api-tokens/{}",
            first["id"].as_str().expect("id")
        ),
        1,
    ))
    .await;
    assert_eq!(deleted.status, 200, "{}", deleted.raw);

    let resumed = users(&app, &["resume", "--user", "1"]);
    assert_eq!(stdout(&resumed), "resumed user 1: 1 token(s) work again\n");
    accepted_within_deadline(&app, &token_of(&second)).await;
    accepted_within_deadline(&peer, &token_of(&second)).await;
    assert_eq!(introspect(&peer, &token_of(&second)).await["active"], true);
    assert_eq!(
        peer.status_with(&token_of(&first)).await.status,
        401,
        "deleted"
    );

    let again = users(&app, &["resume", "--user", "1"]);
    assert_eq!(stdout(&again), "user 1 was not suspended: nothing to do\n");
}

pub async fn nothing_new_for_a_suspended_user_until_resumed(backend: Backend) {
    let app = spawn_app(backend).await;
    let existing = app.create_token(1, "Existing", &[]).await;
    let id = existing["id"].as_str().expect("id").to_owned();
    users(&app, &["suspend", "--user", "1"]);

    let create = send_json(
        app.with_session(Method::POST, "/api/v1/users/1/api-tokens/create", 1),
        &json!({"identifier": "New", "permissions": []}),
    )
    .await;
    assert_problem(&create, 403);
    let by_client = send_json(
        app.with_session(Method::POST, "/api/v1/users/1/api-tokens/create", 1),
        &json!({"clientID": "CXFervidex"}),
    )
    .await;
    assert_problem(&by_client, 403);
    let rotate = send_json(
        app.with_session(
            Method::POST,
            &format!("/api/v1/users/1/api-tokens/{id}/rotate"),
            1,
        ),
        &json!({}),
    )
    .await;
    assert_problem(&rotate, 403);
    let rotate_self = send_json(
        app.with_bearer(Method::POST, "/api/v1/tokens/rotate", &token_of(&existing)),
        &json!({}),
    )
    .await;
    assert_problem(&rotate_self, 401);
    let grant = send_json(
        app.with_session(Method::POST, "/api/v1/oauth/create-code", 1),
        &json!({"clientID": "CXBuiltIn"}),
    )
    .await;
    assert_problem(&grant, 403);
    assert_eq!(app.list(1).await.len(), 1, "nothing was created");
    // Another user is not affected.
    app.create_token(2, "Unaffected", &[]).await;

    users(&app, &["resume", "--user", "1"]);
    let created = send_json(
        app.with_session(Method::POST, "/api/v1/users/1/api-tokens/create", 1),
        &json!({"identifier": "New", "permissions": []}),
    )
    .await;
    assert_eq!(created.status, 200, "{}", created.raw);
}
