//! Unit tests of the token service against the in-memory ports.

use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::cache::{CacheSettings, TokenCache};
use crate::crypto::{Keyring, TokenHash};
use crate::ids::{ClientId, UserId};
use crate::permission::{PermissionCatalogue, PermissionSet};
use crate::ports::TokenRepository;
use crate::testing::{InMemoryClientDirectory, InMemoryTokenRepository, TEST_SECRET_KEY};
use crate::time::{ManualClock, Timestamp};
use crate::token::TokenFormat;

pub(super) const NOW: Timestamp = Timestamp::from_millis(1_764_337_200_000);

pub(super) struct Fixture {
    pub(super) service: TokenService,
    pub(super) clock: Arc<ManualClock>,
    pub(super) repository: Arc<InMemoryTokenRepository>,
}

pub(super) fn fixture() -> Fixture {
    fixture_with(CacheSettings::default())
}

fn fixture_with(settings: CacheSettings) -> Fixture {
    let clock = Arc::new(ManualClock::new(NOW));
    let repository = Arc::new(InMemoryTokenRepository::default());
    let clients = InMemoryClientDirectory::with_client("CXFervidex", "Fervidex", &["submit_score"]);
    let service = TokenService::new(
        repository.clone(),
        Arc::new(clients),
        Keyring::from_base64(TEST_SECRET_KEY).expect("key"),
        TokenFormat::new("tsr_").expect("prefix"),
        PermissionCatalogue::new(["submit_score", "manage_rivals"]).expect("catalogue"),
        clock.clone(),
        Arc::new(TokenCache::new(settings)),
    );
    Fixture {
        service,
        clock,
        repository,
    }
}

pub(super) fn user(id: i64) -> UserId {
    UserId::new(id).expect("positive")
}

pub(super) fn by_permissions(identifier: &str, permissions: &[&str]) -> CreateTokenRequest {
    CreateTokenRequest {
        source: TokenSource::Permissions {
            identifier: Some(identifier.to_owned()),
            permissions: permissions.iter().map(|p| (*p).to_owned()).collect(),
            canary: false,
        },
        expires_at: None,
    }
}

fn by_client(client: &str, expires_at: Option<Timestamp>) -> CreateTokenRequest {
    CreateTokenRequest {
        source: TokenSource::Client(client.to_owned()),
        expires_at,
    }
}

#[test]
fn created_token_verifies_as_its_user_with_its_permissions() {
    let f = fixture();
    let created = f
        .service
        .create(
            user(1),
            by_permissions("  Mine ", &["submit_score", "submit_score"]),
        )
        .expect("created");
    assert_eq!(created.identifier, "Mine");
    assert_eq!(created.from_api_client, None);
    assert_eq!(created.created_at, NOW);
    let principal = f.service.verify(created.token.expose()).expect("valid");
    assert_eq!(principal.user_id, user(1));
    assert_eq!(
        principal.permissions.iter().collect::<Vec<_>>(),
        ["submit_score"]
    );
}

#[test]
fn the_store_never_holds_the_plain_token() {
    let f = fixture();
    let created = f
        .service
        .create(user(1), by_permissions("t", &[]))
        .expect("created");
    let stored = f.repository.snapshot();
    let dump = format!("{stored:?}");
    assert!(!dump.contains(created.token.expose()));
    assert!(stored.iter().all(|r| !r.sealed.windows(10).any(|w| {
        created
            .token
            .expose()
            .as_bytes()
            .windows(10)
            .any(|t| t == w)
    })));
}

#[test]
fn unknown_permission_is_named_and_nothing_is_stored() {
    let f = fixture();
    let err = f
        .service
        .create(user(1), by_permissions("t", &["submit_score", "fly"]))
        .expect_err("unknown permission");
    assert!(matches!(err, CreateTokenError::UnknownPermission(ref p) if p == "fly"));
    assert!(f.repository.snapshot().is_empty());
}

#[test]
fn identifier_is_required_and_bounded_with_permissions() {
    let f = fixture();
    let missing = CreateTokenRequest {
        source: TokenSource::Permissions {
            identifier: None,
            permissions: vec![],
            canary: false,
        },
        expires_at: None,
    };
    assert!(matches!(
        f.service.create(user(1), missing),
        Err(CreateTokenError::Invalid(_))
    ));
    assert!(matches!(
        f.service
            .create(user(1), by_permissions(&"x".repeat(121), &[])),
        Err(CreateTokenError::Invalid(_))
    ));
}

#[test]
fn client_token_takes_the_clients_name_and_permissions() {
    let f = fixture();
    let created = f
        .service
        .create(user(1), by_client("CXFervidex", None))
        .expect("created");
    assert_eq!(created.identifier, "Fervidex Token");
    assert_eq!(created.from_api_client, Some(ClientId::new("CXFervidex")));
    assert_eq!(
        created.permissions.iter().collect::<Vec<_>>(),
        ["submit_score"]
    );
}

#[test]
fn unknown_client_is_not_found() {
    let f = fixture();
    assert!(matches!(
        f.service.create(user(1), by_client("CXNope", None)),
        Err(CreateTokenError::ClientNotFound(_))
    ));
}

#[test]
fn second_unexpired_client_token_conflicts_but_an_expired_one_is_replaced() {
    let f = fixture();
    let first = f
        .service
        .create(
            user(1),
            by_client("CXFervidex", Some(NOW + Duration::from_millis(1_000))),
        )
        .expect("first");
    assert!(matches!(
        f.service.create(user(1), by_client("CXFervidex", None)),
        Err(CreateTokenError::Conflict(_))
    ));
    // Another user is unaffected.
    f.service
        .create(user(2), by_client("CXFervidex", None))
        .expect("other user");

    f.clock.advance(Duration::from_millis(1_000));
    let second = f
        .service
        .create(user(1), by_client("CXFervidex", None))
        .expect("expired one replaced");
    let listed = f.service.list(user(1)).expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].token, second.token);
    assert!(matches!(
        f.service.verify(first.token.expose()),
        Err(VerifyError::Unknown)
    ));
}

#[test]
fn expires_at_must_be_in_the_future() {
    let f = fixture();
    for at in [
        NOW,
        NOW - Duration::from_millis(1),
        Timestamp::NEVER,
        Timestamp::MAX + Duration::from_millis(1),
    ] {
        let mut request = by_permissions("t", &[]);
        request.expires_at = Some(at);
        assert!(
            matches!(
                f.service.create(user(1), request),
                Err(CreateTokenError::Invalid(_))
            ),
            "{at:?}"
        );
    }
    assert!(f.repository.snapshot().is_empty());
}

#[test]
fn expired_token_stays_listed_but_no_longer_verifies() {
    let f = fixture();
    let mut request = by_permissions("short-lived", &[]);
    request.expires_at = Some(NOW + Duration::from_millis(10));
    let created = f.service.create(user(1), request).expect("created");
    assert!(f.service.verify(created.token.expose()).is_ok());
    f.clock.advance(Duration::from_millis(10));
    assert!(matches!(
        f.service.verify(created.token.expose()),
        Err(VerifyError::Expired)
    ));
    assert_eq!(f.service.list(user(1)).expect("list").len(), 1);
}

#[test]
fn list_is_oldest_first_and_only_the_users_own() {
    let f = fixture();
    let a = f
        .service
        .create(user(1), by_permissions("a", &[]))
        .expect("a");
    f.service
        .create(user(2), by_permissions("other", &[]))
        .expect("other");
    let b = f
        .service
        .create(user(1), by_permissions("b", &[]))
        .expect("b");
    f.clock.advance(Duration::from_millis(5));
    let c = f
        .service
        .create(user(1), by_permissions("c", &[]))
        .expect("c");
    let listed: Vec<_> = f
        .service
        .list(user(1))
        .expect("list")
        .into_iter()
        .map(|t| t.token)
        .collect();
    assert_eq!(listed, vec![a.token, b.token, c.token]);
}

#[test]
fn delete_removes_only_the_owners_token() {
    let f = fixture();
    let created = f
        .service
        .create(user(1), by_permissions("t", &[]))
        .expect("t");
    assert!(matches!(
        f.service.delete(user(2), created.token.expose()),
        Err(DeleteTokenError::NotFound)
    ));
    assert!(f.service.verify(created.token.expose()).is_ok());
    f.service
        .delete(user(1), created.token.expose())
        .expect("deleted");
    assert!(matches!(
        f.service.verify(created.token.expose()),
        Err(VerifyError::Unknown)
    ));
    assert!(matches!(
        f.service.delete(user(1), created.token.expose()),
        Err(DeleteTokenError::NotFound)
    ));
}

#[test]
fn malformed_tokens_are_refused_without_touching_the_store() {
    let f = fixture();
    let before = f.repository.lookups();
    assert!(matches!(
        f.service.verify("tsr_nope"),
        Err(VerifyError::Malformed)
    ));
    assert!(matches!(
        f.service.delete(user(1), "garbage"),
        Err(DeleteTokenError::NotFound)
    ));
    assert_eq!(f.repository.lookups(), before);
}

#[test]
fn a_token_of_the_right_shape_with_a_wrong_checksum_is_malformed_and_no_miss() {
    let f = fixture();
    let created = f
        .service
        .create(user(1), by_permissions("typo", &["submit_score"]))
        .expect("created");
    // Cached valid first: the checksum is then checked only on a miss.
    f.service.verify(created.token.expose()).expect("valid");
    let mut typo = created.token.expose().to_owned().into_bytes();
    let last = typo.len() - 1;
    typo[last] = if typo[last] == b'a' { b'b' } else { b'a' };
    let typo = String::from_utf8(typo).expect("ascii");
    let (lookups, misses) = (f.repository.lookups(), f.service.cache.misses());
    for _ in 0..2 {
        assert!(matches!(
            f.service.verify(&typo),
            Err(VerifyError::Malformed)
        ));
    }
    assert_eq!(f.repository.lookups(), lookups, "the store is not asked");
    assert_eq!(f.service.cache.misses(), misses, "not a cache miss");
    f.service
        .verify(created.token.expose())
        .expect("still valid");
}

#[test]
fn entries_in_use_are_refreshed_in_one_batch_before_they_expire() {
    let f = fixture();
    let busy = f
        .service
        .create(user(1), by_permissions("busy", &[]))
        .expect("create");
    let idle = f
        .service
        .create(user(1), by_permissions("idle", &[]))
        .expect("create");
    let deleted = f
        .service
        .create(user(2), by_permissions("gone", &[]))
        .expect("create");
    for token in [&busy, &idle, &deleted] {
        f.service
            .verify(token.token.expose())
            .expect("fills the cache");
    }
    // Served from the cache since: in use.
    f.service.verify(busy.token.expose()).expect("hit");
    f.service.verify(deleted.token.expose()).expect("hit");
    f.service
        .delete(user(2), deleted.token.expose())
        .expect("delete");

    // Every entry is due within an hour: only the busy one is renewed.
    let before = f.repository.lookups();
    let renewed = f
        .service
        .refresh_cache(Duration::from_secs(3600), 100)
        .expect("refresh");
    assert_eq!(renewed, 1);
    assert_eq!(f.repository.lookups(), before + 1, "one batch for all");
    let cached = f.repository.lookups();
    f.service.verify(busy.token.expose()).expect("still cached");
    assert_eq!(f.repository.lookups(), cached, "a hit, no lookup");
    assert!(matches!(
        f.service.verify(deleted.token.expose()),
        Err(VerifyError::Unknown)
    ));
    // A renewed entry starts unused: without a hit it is not renewed again.
    assert_eq!(
        f.service
            .refresh_cache(Duration::from_secs(3600), 100)
            .expect("refresh"),
        1,
        "the hit above used it"
    );
    assert_eq!(
        f.service
            .refresh_cache(Duration::from_secs(3600), 100)
            .expect("refresh"),
        0
    );
    f.service.verify(busy.token.expose()).expect("hit");
    assert_eq!(
        f.service
            .refresh_cache(Duration::ZERO, 100)
            .expect("refresh"),
        0,
        "in use, but its life does not end now"
    );
}

#[test]
fn a_stale_view_asks_the_store_and_an_outage_is_an_error_unless_stale_answers_are_allowed() {
    for serve_stale in [false, true] {
        let f = fixture_with(crate::CacheSettings {
            max_staleness: Some(Duration::from_secs(1)),
            serve_stale_on_outage: serve_stale,
            ..crate::CacheSettings::default()
        });
        let token = f
            .service
            .create(user(4), by_permissions("cached", &[]))
            .expect("create");
        f.service
            .verify(token.token.expose())
            .expect("fills the cache");
        let before = f.repository.lookups();
        f.service
            .verify(token.token.expose())
            .expect("stale: the store says valid");
        assert_eq!(
            f.repository.lookups(),
            before + 1,
            "never proven: asked the store"
        );

        f.repository.set_down(true);
        let answer = f.service.verify(token.token.expose());
        if serve_stale {
            assert!(answer.is_ok(), "the cached entry stands in");
        } else {
            assert!(
                matches!(&answer, Err(VerifyError::Unexpected(e)) if crate::is_unavailable(e)),
                "{answer:?}"
            );
        }
        // An unknown token is never guessed valid.
        let unknown = f.service.format.generate();
        assert!(matches!(
            f.service.verify(unknown.expose()),
            Err(VerifyError::Unexpected(_))
        ));
        f.repository.set_down(false);
        f.service.cache.view().prove(std::time::Instant::now());
        let before = f.repository.lookups();
        f.service
            .verify(token.token.expose())
            .expect("fresh: from the cache");
        assert_eq!(f.repository.lookups(), before, "a hit");
    }
}

#[test]
fn creations_together_are_answered_in_order_each_as_alone() {
    let f = fixture();
    f.repository.suspend(user(9), None, NOW).expect("suspend");
    let answers = f.service.create_many(vec![
        (user(1), by_permissions("first", &["submit_score"])),
        (user(2), by_permissions("unknown", &["fly"])),
        (user(3), by_client("CXFervidex", None)),
        (user(9), by_permissions("suspended", &[])),
        (user(1), by_permissions("second", &[])),
        (user(4), by_client("CXNobody", None)),
    ]);
    assert_eq!(answers.len(), 6);
    let created = |at: usize| match &answers[at] {
        Ok(token) => token,
        Err(error) => panic!("answer {at}: {error:?}"),
    };
    assert_eq!(created(0).identifier, "first");
    assert_eq!(created(0).user_id, user(1));
    assert!(matches!(&answers[1], Err(CreateTokenError::UnknownPermission(p)) if p == "fly"));
    assert_eq!(created(2).identifier, "Fervidex Token");
    assert_eq!(
        created(2).from_api_client.as_ref().map(ClientId::as_str),
        Some("CXFervidex")
    );
    assert!(matches!(answers[3], Err(CreateTokenError::Suspended)));
    assert_eq!(created(4).identifier, "second");
    assert!(matches!(&answers[5], Err(CreateTokenError::ClientNotFound(c)) if c == "CXNobody"));
    // Each created token verifies as its user's; nothing else was stored.
    for at in [0, 2, 4] {
        let principal = f
            .service
            .verify(created(at).token.expose())
            .expect("verifies");
        assert_eq!(principal.user_id, created(at).user_id);
    }
    assert_eq!(f.repository.snapshot().len(), 3);
}

#[test]
fn misses_verified_together_take_one_lookup_and_answer_each_in_order() {
    let f = fixture();
    let valid = f
        .service
        .create(user(1), by_permissions("valid", &["submit_score"]))
        .expect("create");
    let disabled = f
        .service
        .create(user(1), by_permissions("disabled", &[]))
        .expect("create");
    f.service
        .update(
            user(1),
            &disabled.id.to_string(),
            crate::TokenPatch {
                disabled: Some(true),
                ..Default::default()
            },
        )
        .expect("disable");
    let mut request = by_permissions("canary", &[]);
    if let TokenSource::Permissions { canary, .. } = &mut request.source {
        *canary = true;
    }
    let canary = f.service.create(user(2), request).expect("create");
    let other = f
        .service
        .create(user(3), by_permissions("other", &[]))
        .expect("create");
    let unknown = f.service.format.generate();
    let hash = |token: &str| f.service.keyring.fingerprint(token);
    let misses: Vec<(TokenHash, Sighting<'_>)> = [
        valid.token.expose(),
        unknown.expose(),
        disabled.token.expose(),
        canary.token.expose(),
        valid.token.expose(),
        other.token.expose(),
    ]
    .into_iter()
    .map(|token| (hash(token), Sighting::none()))
    .collect();

    let before = f.repository.lookups();
    let answers = f.service.verify_stored_many(&misses);
    assert_eq!(f.repository.lookups(), before + 1, "one lookup for all");
    assert_eq!(answers.len(), misses.len());
    let principal = |at: usize| match &answers[at] {
        Ok(principal) => principal,
        Err(error) => panic!("answer {at}: {error:?}"),
    };
    assert_eq!(principal(0).user_id, user(1));
    assert!(principal(0).permissions.contains("submit_score"));
    assert!(matches!(answers[1], Err(VerifyError::Unknown)));
    assert!(matches!(answers[2], Err(VerifyError::Disabled)));
    assert!(
        matches!(answers[3], Err(VerifyError::Canary(c)) if c.id == canary.id && c.user == user(2))
    );
    // The same token twice in one batch: both uses answered alike.
    assert_eq!(principal(4).hash, principal(0).hash);
    assert_eq!(principal(5).user_id, user(3));

    // Each answer was cached as a single lookup's would be.
    let cached = f.repository.lookups();
    f.service.verify(valid.token.expose()).expect("a hit");
    f.service.verify(other.token.expose()).expect("a hit");
    assert!(matches!(
        f.service.verify(unknown.expose()),
        Err(VerifyError::Unknown)
    ));
    assert!(matches!(
        f.service.verify(canary.token.expose()),
        Err(VerifyError::Canary(_))
    ));
    assert_eq!(f.repository.lookups(), cached, "all from the cache");
}

#[test]
fn an_outage_answers_every_miss_of_a_batch_as_unavailable_or_stale() {
    for serve_stale in [false, true] {
        let f = fixture_with(crate::CacheSettings {
            max_staleness: Some(Duration::from_secs(1)),
            serve_stale_on_outage: serve_stale,
            ..crate::CacheSettings::default()
        });
        let cached = f
            .service
            .create(user(4), by_permissions("cached", &[]))
            .expect("create");
        f.service.verify(cached.token.expose()).expect("fills");
        let unknown = f.service.format.generate();
        f.repository.set_down(true);
        let misses = [
            (
                f.service.keyring.fingerprint(cached.token.expose()),
                Sighting::none(),
            ),
            (
                f.service.keyring.fingerprint(unknown.expose()),
                Sighting::none(),
            ),
        ];
        let answers = f.service.verify_stored_many(&misses);
        if serve_stale {
            assert_eq!(
                answers[0]
                    .as_ref()
                    .expect("the cached entry stands in")
                    .user_id,
                user(4)
            );
        } else {
            assert!(
                matches!(&answers[0], Err(VerifyError::Unexpected(e)) if crate::is_unavailable(e)),
                "{:?}",
                answers[0]
            );
        }
        // Never guessed valid, and still known as an outage (503).
        assert!(
            matches!(&answers[1], Err(VerifyError::Unexpected(e)) if crate::is_unavailable(e)),
            "{:?}",
            answers[1]
        );
    }
}

#[test]
fn a_refresh_drops_what_the_store_no_longer_has() {
    let f = fixture();
    let token = f
        .service
        .create(user(3), by_permissions("lost", &[]))
        .expect("create");
    f.service.verify(token.token.expose()).expect("fills");
    f.service.verify(token.token.expose()).expect("hit");
    // Deleted behind the cache's back, as if the notice were lost.
    f.repository
        .delete_all_for_user(user(3), None, NOW)
        .expect("delete");
    assert!(
        f.service.verify(token.token.expose()).is_ok(),
        "still cached"
    );
    assert_eq!(
        f.service
            .refresh_cache(Duration::from_secs(3600), 100)
            .expect("refresh"),
        0
    );
    assert!(matches!(
        f.service.verify(token.token.expose()),
        Err(VerifyError::Unknown)
    ));
}

#[test]
fn the_lifetime_policy_fills_in_and_bounds_expiry() {
    const DAY: Duration = Duration::from_secs(24 * 3600);
    let f = fixture();
    let service = f.service.with_max_lifetime_days(30);
    let limit = NOW + 30 * DAY;
    let unbounded = service
        .create(user(1), by_permissions("Script", &["submit_score"]))
        .expect("created");
    assert_eq!(unbounded.expires_at, Some(limit));
    let at_limit = CreateTokenRequest {
        expires_at: Some(limit),
        ..by_permissions("Edge", &[])
    };
    assert_eq!(
        service
            .create(user(1), at_limit)
            .expect("at the limit")
            .expires_at,
        Some(limit)
    );
    let beyond = CreateTokenRequest {
        expires_at: Some(limit + Duration::from_millis(1)),
        ..by_permissions("Long", &[])
    };
    assert!(matches!(
        service.create(user(1), beyond),
        Err(CreateTokenError::Invalid(detail)) if detail.contains("30 days")
    ));
    let by_client = service
        .create(user(2), by_client("CXFervidex", None))
        .expect("a client token");
    assert_eq!(by_client.expires_at, Some(limit));
    let client = crate::OAuthClient::minimal("CXFervidex", "Fervidex", PermissionSet::default());
    let (_, granted) = service.new_client_token(user(3), &client);
    assert_eq!(
        granted.expires_at,
        Some(limit),
        "a grant asks for no expiry"
    );
    assert_eq!(
        f.repository.snapshot().len(),
        3,
        "the refused one was not stored"
    );
}

#[test]
fn without_a_policy_tokens_may_live_forever() {
    let f = fixture();
    let created = f
        .service
        .create(user(1), by_permissions("Script", &[]))
        .expect("created");
    assert_eq!(created.expires_at, None);
    let client = crate::OAuthClient::minimal("CXFervidex", "Fervidex", PermissionSet::default());
    assert_eq!(
        f.service.new_client_token(user(3), &client).1.expires_at,
        None
    );
}
