//! Unit tests of the token lifecycle above the ports: how uses are noted,
//! what a change checks before it changes anything, rotation and reuse.

use std::net::IpAddr;
use std::time::Duration;

use super::tests::{NOW, by_permissions, fixture, user};
use super::*;
use crate::audit::AuditLog as _;

fn ip(text: &str) -> IpAddr {
    text.parse().expect("address")
}

#[test]
fn a_use_is_noted_once_a_minute_and_at_once_from_a_new_place_or_address() {
    let f = fixture();
    let created = f
        .service
        .create(user(1), by_permissions("Busy", &[]))
        .expect("create");
    let token = created.token.expose().to_owned();
    let verify = |sighting: Sighting<'_>| match f.service.lookup(&token, &sighting) {
        Lookup::Answered(answer) => answer.map(drop),
        Lookup::Miss(hash) => f.service.verify_stored(hash, &sighting).map(drop),
    };

    verify(Sighting::status(Some(ip("10.0.0.1")))).expect("valid");
    assert_eq!(f.service.flush_usage().expect("flush"), 1);
    verify(Sighting::status(Some(ip("10.0.0.1")))).expect("valid");
    assert_eq!(
        f.service.flush_usage().expect("flush"),
        0,
        "the same place and address within the minute: nothing new"
    );
    verify(Sighting::status(Some(ip("10.0.0.2")))).expect("valid");
    verify(Sighting::resource_server("CXRes", Some(ip("10.0.0.2")))).expect("valid");
    assert_eq!(
        f.service.flush_usage().expect("flush"),
        1,
        "one token, noted twice"
    );
    let listed = f.service.list(user(1)).expect("list");
    assert_eq!(listed[0].last_used_by.as_deref(), Some("CXRes"));
    assert_eq!(listed[0].last_used_ips, [ip("10.0.0.2"), ip("10.0.0.1")]);

    f.clock.advance(USAGE_RESOLUTION);
    verify(Sighting::none()).expect("valid");
    assert_eq!(f.service.flush_usage().expect("flush"), 1, "a minute later");
    let listed = f.service.list(user(1)).expect("list");
    assert_eq!(listed[0].last_used_at, Some(NOW + USAGE_RESOLUTION));
    assert_eq!(
        listed[0].last_used_by.as_deref(),
        Some("CXRes"),
        "a use that names no place keeps the last one"
    );
}

#[test]
fn a_patch_is_checked_whole_before_anything_changes() {
    let f = fixture();
    let created = f
        .service
        .create(user(1), by_permissions("Original", &[]))
        .expect("create");
    let id = created.id.to_string();
    let refused = f.service.update(
        user(1),
        &id,
        TokenPatch {
            identifier: Some("Renamed".into()),
            disabled: Some(true),
            allowed_ips: Some(Some(vec!["10.0.0.0/8".into(), "nonsense".into()])),
            ..TokenPatch::default()
        },
    );
    assert!(
        matches!(refused, Err(PatchTokenError::Invalid(_))),
        "{refused:?}"
    );
    let listed = f.service.list(user(1)).expect("list");
    assert_eq!(listed[0].identifier, "Original");
    assert!(!listed[0].disabled);
    assert!(f.service.verify(created.token.expose()).is_ok());

    let disabled = f
        .service
        .update(
            user(1),
            &id,
            TokenPatch {
                disabled: Some(true),
                ..TokenPatch::default()
            },
        )
        .expect("disable");
    assert!(disabled.disabled);
    assert!(matches!(
        f.service.verify(created.token.expose()),
        Err(VerifyError::Disabled)
    ));
}

#[test]
fn a_reused_superseded_token_revokes_itself_and_its_successors() {
    let f = fixture();
    let first = f
        .service
        .create(user(1), by_permissions("Leaked", &[]))
        .expect("create");
    let overlap = RotateRequest {
        overlap_secs: Some(60),
        expires_at: None,
    };
    let hash = f
        .service
        .rotation_credential(first.token.expose(), None)
        .expect("a valid token");
    let second = f.service.rotate_presented(hash, overlap).expect("rotate");
    assert!(
        f.service.verify(first.token.expose()).is_ok(),
        "in its overlap"
    );

    let reused = f.service.rotation_credential(first.token.expose(), None);
    assert!(
        matches!(reused, Err(RotateTokenError::Reused { revoked: 2, .. })),
        "{reused:?}"
    );
    assert!(f.service.verify(first.token.expose()).is_err());
    assert!(f.service.verify(second.token.expose()).is_err());
    assert!(f.service.list(user(1)).expect("list").is_empty());
}

#[test]
fn an_overlap_ends_on_the_clock_and_a_week_is_the_longest() {
    let f = fixture();
    let old = f
        .service
        .create(user(1), by_permissions("CI", &[]))
        .expect("create");
    let too_long = RotateRequest {
        overlap_secs: Some(MAX_OVERLAP_SECS + 1),
        expires_at: None,
    };
    assert!(matches!(
        f.service
            .rotate_owned(user(1), &old.id.to_string(), too_long),
        Err(RotateTokenError::Invalid(_))
    ));
    let minute = RotateRequest {
        overlap_secs: Some(60),
        expires_at: None,
    };
    let successor = f
        .service
        .rotate_owned(user(1), &old.id.to_string(), minute)
        .expect("rotate");
    assert_eq!(successor.identifier, "CI");
    f.clock.advance(Duration::from_millis(59_999));
    assert!(f.service.verify(old.token.expose()).is_ok());
    f.clock.advance(Duration::from_millis(1));
    assert!(matches!(
        f.service.verify(old.token.expose()),
        Err(VerifyError::Expired)
    ));
    assert_eq!(f.service.purge_superseded().expect("sweep"), 1);
    assert_eq!(
        f.repository.snapshot().len(),
        1,
        "only the successor is left"
    );
}

#[test]
fn a_token_coming_within_the_warning_window_is_warned_of_once() {
    let f = fixture();
    let day = Duration::from_secs(24 * 3600);
    let mut soon = by_permissions("soon", &[]);
    soon.expires_at = Some(NOW + day * 10);
    let soon = f.service.create(user(1), soon).expect("create");
    let mut later = by_permissions("later", &[]);
    later.expires_at = Some(NOW + day * 30);
    f.service.create(user(1), later).expect("create");
    f.service
        .create(user(1), by_permissions("never", &[]))
        .expect("create");
    let week = day * 7;

    assert_eq!(
        f.service.warn_expiring(week, 10).expect("sweep"),
        0,
        "none within a week"
    );
    f.clock.advance(day * 3 + Duration::from_secs(1));
    assert_eq!(f.service.warn_expiring(week, 10).expect("sweep"), 1);
    assert_eq!(f.service.warn_expiring(week, 10).expect("sweep"), 0, "once");
    let events = f.repository.events(user(1), 0, 100).expect("events");
    let warned: Vec<_> = events
        .iter()
        .filter(|e| e.kind == "token.expiring")
        .collect();
    assert_eq!(warned.len(), 1);
    assert_eq!(warned[0].token_id, Some(soon.id.to_string()));
    assert_eq!(warned[0].actor.kind, crate::audit::ActorKind::System);
    assert_eq!(warned[0].details["expiresAt"], (NOW + day * 10).as_millis());
    // Past its expiry nothing is warned of any more.
    f.clock.advance(day * 30);
    assert_eq!(f.service.warn_expiring(week, 10).expect("sweep"), 0);
}
