//! Canary tokens in the token service: refused like unknown tokens on every
//! path, found without asking the store anything an unknown token does not
//! ask, and each use queued, then appended to the owner's trail.

use super::tests::{NOW, by_permissions, fixture, user};
use super::*;
use crate::audit::{ActorKind, AuditLog};
use crate::canary::CanaryUse;
use crate::ids::ClientId;
use crate::ports::ClientRevocation;

fn canary(identifier: &str) -> CreateTokenRequest {
    let mut request = by_permissions(identifier, &["submit_score"]);
    if let TokenSource::Permissions { canary, .. } = &mut request.source {
        *canary = true;
    }
    request
}

fn use_of(canary: crate::canary::Canary, route: &str) -> CanaryUse {
    CanaryUse {
        canary,
        at: NOW,
        ip: Some("192.0.2.7".parse().expect("address")),
        user_agent: Some("curl/8.5".to_owned()),
        route: route.to_owned(),
        resource_server: None,
        uses: 1,
    }
}

#[test]
fn a_canary_is_listed_as_one_and_verifies_as_nothing_from_the_store_or_the_cache() {
    let f = fixture();
    let created = f
        .service
        .create(user(1), canary("deploy key"))
        .expect("created");
    assert!(created.canary);
    let listed = f.service.list(user(1)).expect("list");
    assert!(listed[0].canary);

    for round in ["store", "cache"] {
        match f.service.verify(created.token.expose()) {
            Err(VerifyError::Canary(found)) => {
                assert_eq!((found.user, found.id), (user(1), created.id), "{round}");
            }
            other => panic!("{round}: {other:?}"),
        }
    }
    // An ordinary token of the same user still works.
    let plain = f
        .service
        .create(user(1), by_permissions("plain", &[]))
        .expect("created");
    assert!(f.service.verify(plain.token.expose()).is_ok());
}

#[test]
fn a_canary_cannot_rotate_itself_and_a_client_revocation_leaves_it_alone() {
    let f = fixture();
    let created = f.service.create(user(1), canary("ci")).expect("created");
    let rotation = f.service.rotation_credential(created.token.expose(), None);
    assert!(
        matches!(rotation, Err(RotateTokenError::Canary(c)) if c.id == created.id),
        "{rotation:?}"
    );
    let revoked = f
        .service
        .revoke_for_client(created.token.expose(), &ClientId::new("CXFervidex"))
        .expect("revoke");
    assert!(
        matches!(revoked, ClientRevocation::Canary(c) if c.id == created.id),
        "{revoked:?}"
    );
    assert_eq!(f.service.list(user(1)).expect("list").len(), 1);
}

#[test]
fn reported_uses_reach_the_owners_trail_at_the_flush_with_their_details() {
    let f = fixture();
    let created = f.service.create(user(1), canary("ci")).expect("created");
    let Err(VerifyError::Canary(found)) = f.service.verify(created.token.expose()) else {
        panic!("not a canary");
    };
    assert!(f.service.report_canary(use_of(found, "GET /api/v1/status")));
    let before = f.repository.events(user(1), 0, 100).expect("events");
    assert_eq!(before.len(), 1, "only token.created until the flush");

    assert_eq!(f.service.flush_canary_uses(|_| {}).expect("flush"), 1);
    let events = f.repository.events(user(1), 0, 100).expect("events");
    let used = &events[1];
    assert_eq!(used.kind, "token.canary_used");
    assert_eq!(used.actor.kind, ActorKind::Token);
    assert_eq!(
        used.token_id.as_deref(),
        Some(created.id.to_string().as_str())
    );
    assert_eq!(used.details["ip"], "192.0.2.7");
    assert_eq!(used.details["userAgent"], "curl/8.5");
    assert_eq!(used.details["route"], "GET /api/v1/status");
    assert!(used.details["resourceServer"].is_null());
    assert_eq!(events[0].details["canary"], true);
    assert_eq!(f.service.flush_canary_uses(|_| {}).expect("flush"), 0);
}

#[test]
fn uses_past_the_bound_are_dropped_and_counted_not_queued() {
    let f = fixture();
    let created = f.service.create(user(1), canary("ci")).expect("created");
    let Err(VerifyError::Canary(found)) = f.service.verify(created.token.expose()) else {
        panic!("not a canary");
    };
    // Each from another route: nothing to merge.
    for i in 0..crate::canary::MAX_PENDING_CANARY_USES {
        assert!(f.service.report_canary(use_of(found, &format!("GET /{i}"))));
    }
    assert!(!f.service.report_canary(use_of(found, "GET /new")));
    assert_eq!(f.service.dropped_canary_uses(), 1);
    // One alike a waiting one still counts.
    assert!(f.service.report_canary(use_of(found, "GET /0")));
    assert_eq!(
        f.service.flush_canary_uses(|_| {}).expect("flush"),
        crate::canary::MAX_PENDING_CANARY_USES
    );
}

#[test]
fn a_canary_is_made_from_permissions_only_and_says_so_when_created() {
    let f = fixture();
    let created = f.service.create(user(1), canary("ci")).expect("created");
    let events = f.repository.events(user(1), 0, 10).expect("events");
    assert_eq!(events[0].kind, "token.created");
    assert_eq!(events[0].details["canary"], true);
    assert_eq!(
        created.permissions.iter().collect::<Vec<_>>(),
        ["submit_score"]
    );
}

#[test]
fn a_canary_asks_the_store_exactly_what_an_unknown_token_asks() {
    let f = fixture();
    let planted = f.service.create(user(1), canary("ci")).expect("created");
    let gone = f
        .service
        .create(user(1), by_permissions("gone", &[]))
        .expect("created");
    f.service
        .delete(user(1), gone.token.expose())
        .expect("deleted");
    let mut asked = Vec::new();
    for token in [planted.token.expose(), gone.token.expose()] {
        let before = f.repository.lookups();
        let first = f.service.verify(token);
        let second = f.service.verify(token);
        assert!(first.is_err() && second.is_err());
        asked.push(f.repository.lookups() - before);
    }
    assert_eq!(asked, [1, 1], "one store call, then the cache, for either");
}

#[test]
fn uses_alike_while_waiting_become_one_event_that_counts_them() {
    let f = fixture();
    let created = f.service.create(user(1), canary("ci")).expect("created");
    let Err(VerifyError::Canary(found)) = f.service.verify(created.token.expose()) else {
        panic!("not a canary");
    };
    for _ in 0..5 {
        assert!(f.service.report_canary(use_of(found, "GET /api/v1/status")));
    }
    let mut elsewhere = use_of(found, "GET /api/v1/status");
    elsewhere.ip = Some("198.51.100.1".parse().expect("address"));
    assert!(f.service.report_canary(elsewhere));
    let mut logged = Vec::new();
    let written = f
        .service
        .flush_canary_uses(|used| logged.push(used.uses))
        .expect("flush");
    assert_eq!((written, logged), (2, vec![5, 1]));
    let events = f.repository.events(user(1), 0, 100).expect("events");
    let counts: Vec<&serde_json::Value> = events[1..].iter().map(|e| &e.details["uses"]).collect();
    assert_eq!(counts, [5, 1]);
}
