//! The behaviours every `IdempotencyStore` must show, with the
//! `insert_claimed` of tokens and clients that complete its claims.

use std::sync::{Arc, Barrier};
use std::time::Duration;

use tessera_domain::{
    ClaimLost, ClaimOutcome, IdempotencyClaim, IdempotencyKey, IdempotencyScope, InsertTokenError,
    Timestamp, UserId,
};

use crate::Fixture;
use crate::oauth_suite::client;
use crate::suite::record;

const NOW: Timestamp = Timestamp::from_millis(1_764_337_200_000);
const DAY: Duration = Duration::from_secs(24 * 3600);

fn claim(user: i64, scope: IdempotencyScope, key: &str, body: u8, id: i64) -> IdempotencyClaim {
    IdempotencyClaim {
        user: UserId::new(user).expect("positive"),
        scope,
        key: IdempotencyKey::parse(key).expect("a valid key"),
        fingerprint: [body; 32],
        claim: id,
    }
}

pub fn token_claim(key: &str, body: u8, id: i64) -> IdempotencyClaim {
    claim(1, IdempotencyScope::TokenCreation, key, body, id)
}

pub fn a_key_is_claimed_once_and_then_answers_what_was_stored(f: &Fixture) {
    let first = token_claim("k-1", 1, 11);
    assert_eq!(
        f.idempotency.claim(&first, NOW).expect("claim"),
        ClaimOutcome::Claimed
    );
    let stored = f
        .repo
        .insert_claimed(record(1, None), NOW, &first)
        .expect("insert");
    let retry = token_claim("k-1", 1, 12);
    assert_eq!(
        f.idempotency
            .claim(&retry, NOW + Duration::from_millis(1000))
            .expect("claim"),
        ClaimOutcome::Done(stored.id.to_string())
    );
    let user = UserId::new(1).expect("positive");
    assert_eq!(
        f.repo.find_by_id(user, stored.id).expect("find"),
        Some(stored.clone())
    );
    let other = UserId::new(2).expect("positive");
    assert_eq!(f.repo.find_by_id(other, stored.id).expect("find"), None);
    assert_eq!(f.repo.list_for_user(user).expect("list").len(), 1);
}

pub fn the_key_with_another_body_is_a_mismatch(f: &Fixture) {
    let first = token_claim("k-2", 1, 21);
    f.idempotency.claim(&first, NOW).expect("claim");
    f.repo
        .insert_claimed(record(1, None), NOW, &first)
        .expect("insert");
    assert_eq!(
        f.idempotency
            .claim(&token_claim("k-2", 2, 22), NOW)
            .expect("claim"),
        ClaimOutcome::Mismatch
    );
}

pub fn an_unfinished_claim_is_in_progress_until_abandoned_then_taken_over(f: &Fixture) {
    let crashed = token_claim("k-3", 1, 31);
    assert_eq!(
        f.idempotency.claim(&crashed, NOW).expect("claim"),
        ClaimOutcome::Claimed
    );
    let retry = token_claim("k-3", 1, 32);
    assert_eq!(
        f.idempotency
            .claim(&retry, NOW + Duration::from_millis(1000))
            .expect("claim"),
        ClaimOutcome::InProgress
    );
    assert_eq!(
        f.idempotency
            .claim(&retry, NOW + Duration::from_millis(61_000))
            .expect("claim"),
        ClaimOutcome::Claimed,
        "abandoned for over a minute"
    );
    // The first claimant wakes up: its record is not stored.
    match f.repo.insert_claimed(record(1, None), NOW, &crashed) {
        Err(InsertTokenError::Unexpected(e)) => assert!(e.is::<ClaimLost>(), "{e:#}"),
        other => panic!("the lost claim stored a token: {other:?}"),
    }
    let user = UserId::new(1).expect("positive");
    assert!(f.repo.list_for_user(user).expect("list").is_empty());
    f.repo
        .insert_claimed(record(1, None), NOW, &retry)
        .expect("the new claimant stores");
    assert_eq!(f.repo.list_for_user(user).expect("list").len(), 1);
}

pub fn a_released_key_is_claimed_again(f: &Fixture) {
    let failed = token_claim("k-4", 1, 41);
    f.idempotency.claim(&failed, NOW).expect("claim");
    f.idempotency.release(&failed).expect("release");
    assert_eq!(
        f.idempotency
            .claim(&token_claim("k-4", 1, 42), NOW)
            .expect("claim"),
        ClaimOutcome::Claimed
    );
}

pub fn keys_are_forgotten_after_a_day(f: &Fixture) {
    let first = token_claim("k-5", 1, 51);
    f.idempotency.claim(&first, NOW).expect("claim");
    f.repo
        .insert_claimed(record(1, None), NOW, &first)
        .expect("insert");
    assert!(matches!(
        f.idempotency
            .claim(
                &token_claim("k-5", 1, 52),
                NOW + DAY - Duration::from_millis(1)
            )
            .expect("claim"),
        ClaimOutcome::Done(_)
    ));
    assert_eq!(
        f.idempotency
            .claim(&token_claim("k-5", 2, 53), NOW + DAY)
            .expect("claim"),
        ClaimOutcome::Claimed,
        "a new request, even with another body"
    );
}

pub fn users_and_scopes_do_not_share_keys(f: &Fixture) {
    for (user, scope) in [
        (1, IdempotencyScope::TokenCreation),
        (1, IdempotencyScope::ClientCreation),
        (2, IdempotencyScope::TokenCreation),
    ] {
        assert_eq!(
            f.idempotency
                .claim(&claim(user, scope, "shared", 1, 61), NOW)
                .expect("claim"),
            ClaimOutcome::Claimed,
            "{user} {scope:?}"
        );
    }
}

pub fn a_client_completes_its_claim_with_its_id(f: &Fixture) {
    let first = claim(1, IdempotencyScope::ClientCreation, "k-7", 1, 71);
    f.idempotency.claim(&first, NOW).expect("claim");
    let stored = f
        .clients
        .insert_claimed(client("CIidempotent", 1), 10, &first)
        .expect("insert");
    assert_eq!(
        f.idempotency
            .claim(
                &claim(1, IdempotencyScope::ClientCreation, "k-7", 1, 72),
                NOW
            )
            .expect("claim"),
        ClaimOutcome::Done(stored.client.id.to_string())
    );
}

pub fn concurrent_claims_of_one_key_yield_exactly_one(f: &Fixture) {
    let racers = 16;
    let start = Arc::new(Barrier::new(racers));
    let handles: Vec<_> = (0..racers)
        .map(|i| {
            let store = f.idempotency.clone();
            let start = start.clone();
            std::thread::spawn(move || {
                start.wait();
                let racer = token_claim("k-8", 1, 800 + i64::try_from(i).unwrap_or(0));
                store.claim(&racer, NOW).expect("claim")
            })
        })
        .collect();
    let outcomes: Vec<ClaimOutcome> = handles
        .into_iter()
        .map(|h| h.join().expect("racer"))
        .collect();
    let claimed = outcomes
        .iter()
        .filter(|o| **o == ClaimOutcome::Claimed)
        .count();
    assert_eq!(claimed, 1, "{outcomes:?}");
    assert!(
        outcomes
            .iter()
            .all(|o| matches!(o, ClaimOutcome::Claimed | ClaimOutcome::InProgress)),
        "{outcomes:?}"
    );
}
