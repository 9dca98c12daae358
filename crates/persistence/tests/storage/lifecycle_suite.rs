//! The behaviours of the token lifecycle (public ids, changes, deletion by
//! id) every `TokenRepository` must show, including that a change which
//! alters verification is announced on the revocation log like a deletion.

use std::sync::{Arc, Barrier};
use std::time::Duration;

use tessera_domain::{
    AllowedIps, RotateError, Rotation, RotationOf, Timestamp, TokenChange, TokenId,
    UpdateTokenError, UserId,
};

use crate::Fixture;
use crate::suite::record;

const NOW: Timestamp = Timestamp::from_millis(1_764_337_200_000);

fn user(id: i64) -> UserId {
    UserId::new(id).expect("positive")
}

fn logged(f: &Fixture) -> Vec<tessera_domain::TokenHash> {
    f.revocations
        .after(0, 1000)
        .expect("read the log")
        .entries
        .iter()
        .map(|r| r.hash)
        .collect()
}

pub fn a_token_is_found_by_its_public_id_only_for_its_owner(f: &Fixture) {
    let new = record(1, None);
    let stored = f.repo.insert(new.clone(), NOW).expect("insert");
    assert_eq!(stored.public_id, new.public_id);
    assert!(!stored.disabled && !stored.canary);
    assert_eq!(stored.allowed_ips, None);
    assert_eq!(stored.superseded_by, None);
    assert_eq!(stored.last_used_by, None);
    assert!(stored.last_used_ips.is_empty());
    let found = f
        .repo
        .find_by_public_id(user(1), new.public_id)
        .expect("find")
        .expect("present");
    assert_eq!(found, stored);
    assert_eq!(
        f.repo
            .find_by_public_id(user(2), new.public_id)
            .expect("find"),
        None,
        "another user's id is not found"
    );
    assert_eq!(
        f.repo
            .find_by_public_id(user(1), TokenId::generate(NOW))
            .expect("find"),
        None
    );
}

pub fn a_restriction_given_at_insert_round_trips(f: &Fixture) {
    let mut new = record(1, None);
    new.allowed_ips = Some(AllowedIps::parse(&["10.0.0.0/8", "::1"]).expect("valid"));
    let stored = f.repo.insert(new.clone(), NOW).expect("insert");
    let found = f
        .repo
        .find_by_hash(&new.hash)
        .expect("find")
        .expect("present");
    assert_eq!(found.allowed_ips, new.allowed_ips);
    assert_eq!(found, stored);
}

pub fn a_change_sets_only_what_it_names(f: &Fixture) {
    let mut new = record(1, None);
    new.expires_at = Some(NOW + Duration::from_millis(100_000));
    f.repo.insert(new.clone(), NOW).expect("insert");
    let allowed = AllowedIps::parse(&["192.168.0.0/16"]).expect("valid");
    let changed = f
        .repo
        .update(
            user(1),
            new.public_id,
            &TokenChange {
                identifier: Some("Renamed ✓".into()),
                disabled: Some(true),
                expires_at: Some(NOW + Duration::from_millis(50_000)),
                allowed_ips: Some(Some(allowed.clone())),
            },
            NOW,
        )
        .expect("update");
    assert_eq!(changed.identifier, "Renamed ✓");
    assert!(changed.disabled);
    assert_eq!(
        changed.expires_at,
        Some(NOW + Duration::from_millis(50_000))
    );
    assert_eq!(changed.allowed_ips, Some(allowed));
    assert_eq!(changed.permissions, new.permissions, "untouched");
    let stored = f
        .repo
        .find_by_hash(&new.hash)
        .expect("find")
        .expect("present");
    assert_eq!(stored, changed, "what is returned is what is stored");

    let cleared = f
        .repo
        .update(
            user(1),
            new.public_id,
            &TokenChange {
                disabled: Some(false),
                allowed_ips: Some(None),
                ..TokenChange::default()
            },
            NOW,
        )
        .expect("update");
    assert!(!cleared.disabled);
    assert_eq!(cleared.allowed_ips, None);
    assert_eq!(cleared.identifier, "Renamed ✓", "kept");
    assert_eq!(
        cleared.expires_at,
        Some(NOW + Duration::from_millis(50_000)),
        "kept"
    );
}

pub fn an_expiry_only_moves_earlier(f: &Fixture) {
    let mut new = record(1, None);
    new.expires_at = Some(NOW + Duration::from_millis(100_000));
    f.repo.insert(new.clone(), NOW).expect("insert");
    let later = TokenChange {
        expires_at: Some(NOW + Duration::from_millis(100_001)),
        disabled: Some(true),
        ..TokenChange::default()
    };
    assert!(matches!(
        f.repo.update(user(1), new.public_id, &later, NOW),
        Err(UpdateTokenError::ExpiryNotEarlier)
    ));
    let stored = f
        .repo
        .find_by_hash(&new.hash)
        .expect("find")
        .expect("present");
    assert!(!stored.disabled, "a refused change changes nothing");
    assert_eq!(
        stored.expires_at,
        Some(NOW + Duration::from_millis(100_000))
    );
    let same = TokenChange {
        expires_at: Some(NOW + Duration::from_millis(100_000)),
        ..TokenChange::default()
    };
    f.repo
        .update(user(1), new.public_id, &same, NOW)
        .expect("the same expiry is no move");

    let never = record(1, None);
    f.repo.insert(never.clone(), NOW).expect("insert");
    let set = TokenChange {
        expires_at: Some(NOW + Duration::from_millis(5)),
        ..TokenChange::default()
    };
    let changed = f
        .repo
        .update(user(1), never.public_id, &set, NOW)
        .expect("set");
    assert_eq!(
        changed.expires_at,
        Some(NOW + Duration::from_millis(5)),
        "set where there was none"
    );
}

pub fn concurrent_expiry_changes_keep_the_earliest(f: &Fixture) {
    let mut new = record(1, None);
    new.expires_at = Some(NOW + Duration::from_millis(1_000_000));
    f.repo.insert(new.clone(), NOW).expect("insert");
    let racers = 8_u64;
    let barrier = Arc::new(Barrier::new(racers as usize));
    let handles: Vec<_> = (0..racers)
        .map(|i| {
            let repo = f.repo.clone();
            let barrier = barrier.clone();
            let id = new.public_id;
            std::thread::spawn(move || {
                barrier.wait();
                let change = TokenChange {
                    expires_at: Some(NOW + Duration::from_secs(i + 1)),
                    ..TokenChange::default()
                };
                repo.update(user(1), id, &change, NOW)
            })
        })
        .collect();
    for handle in handles {
        match handle.join().expect("thread") {
            Ok(_) | Err(UpdateTokenError::ExpiryNotEarlier) => {}
            Err(other) => panic!("unexpected: {other}"),
        }
    }
    let stored = f
        .repo
        .find_by_hash(&new.hash)
        .expect("find")
        .expect("present");
    assert_eq!(
        stored.expires_at,
        Some(NOW + Duration::from_millis(1000)),
        "the earliest wins"
    );
}

pub fn changing_another_users_or_an_unknown_token_is_not_found(f: &Fixture) {
    let new = record(1, None);
    f.repo.insert(new.clone(), NOW).expect("insert");
    let change = TokenChange {
        disabled: Some(true),
        ..TokenChange::default()
    };
    assert!(matches!(
        f.repo.update(user(2), new.public_id, &change, NOW),
        Err(UpdateTokenError::NotFound)
    ));
    assert!(matches!(
        f.repo.update(user(1), TokenId::generate(NOW), &change, NOW),
        Err(UpdateTokenError::NotFound)
    ));
    let stored = f
        .repo
        .find_by_hash(&new.hash)
        .expect("find")
        .expect("present");
    assert!(!stored.disabled);
}

pub fn refusal_changes_are_logged_like_deletions_and_renames_are_not(f: &Fixture) {
    let new = record(1, None);
    f.repo.insert(new.clone(), NOW).expect("insert");
    let rename = TokenChange {
        identifier: Some("Only a name".into()),
        ..TokenChange::default()
    };
    f.repo
        .update(user(1), new.public_id, &rename, NOW)
        .expect("rename");
    f.repo
        .record_usage(&[crate::suite::used(new.hash, NOW + Duration::from_millis(1))])
        .expect("usage");
    assert_eq!(logged(f), vec![], "neither a rename nor a use is announced");
    for change in [
        TokenChange {
            disabled: Some(true),
            ..TokenChange::default()
        },
        TokenChange {
            disabled: Some(false),
            ..TokenChange::default()
        },
        TokenChange {
            expires_at: Some(NOW + Duration::from_millis(10)),
            ..TokenChange::default()
        },
        TokenChange {
            allowed_ips: Some(Some(AllowedIps::parse(&["10.0.0.1"]).expect("valid"))),
            ..TokenChange::default()
        },
    ] {
        let before = logged(f).len();
        f.repo
            .update(user(1), new.public_id, &change, NOW)
            .expect("update");
        assert_eq!(logged(f)[before..], [new.hash], "{change:?}");
    }
    let before = logged(f).len();
    let again = TokenChange {
        disabled: Some(false),
        ..TokenChange::default()
    };
    f.repo
        .update(user(1), new.public_id, &again, NOW)
        .expect("no-op");
    assert_eq!(
        logged(f).len(),
        before,
        "a change to the same value is none"
    );
}

pub fn deleting_by_public_id_is_the_owners_and_logged(f: &Fixture) {
    let mine = record(1, None);
    f.repo.insert(mine.clone(), NOW).expect("insert");
    assert_eq!(
        f.repo
            .delete_by_public_id(user(2), mine.public_id, NOW)
            .expect("delete"),
        None,
        "another user's token is left alone"
    );
    assert_eq!(
        f.repo
            .delete_by_public_id(user(1), mine.public_id, NOW)
            .expect("delete"),
        Some(mine.hash)
    );
    assert_eq!(f.repo.find_by_hash(&mine.hash).expect("find"), None);
    assert_eq!(logged(f), vec![mine.hash]);
    assert_eq!(
        f.repo
            .delete_by_public_id(user(1), mine.public_id, NOW)
            .expect("delete"),
        None,
        "gone"
    );
}

pub fn public_ids_are_unique(f: &Fixture) {
    let first = record(1, None);
    f.repo.insert(first.clone(), NOW).expect("insert");
    let mut second = record(2, None);
    second.public_id = first.public_id;
    assert!(f.repo.insert(second.clone(), NOW).is_err());
    assert_eq!(f.repo.find_by_hash(&second.hash).expect("find"), None);
}

pub fn rotation(of: RotationOf, overlap_until: Option<Timestamp>) -> Rotation {
    let successor = record(1, None);
    Rotation {
        of,
        now: NOW,
        overlap_until,
        successor_id: TokenId::generate(NOW),
        successor_hash: successor.hash,
        successor_sealed: vec![9, 9, 9],
        expires_at: None,
        default_expiry: None,
    }
}

pub fn a_rotation_copies_the_rights_and_keeps_the_old_token_through_its_overlap(f: &Fixture) {
    let mut old = record(1, Some("CXA"));
    old.allowed_ips = Some(AllowedIps::parse(&["10.0.0.0/8"]).expect("valid"));
    old.expires_at = Some(NOW + Duration::from_millis(100_000));
    f.repo
        .insert(old.clone(), NOW - Duration::from_millis(10))
        .expect("insert");
    let asked = rotation(
        RotationOf::Owned(user(1), old.public_id),
        Some(NOW + Duration::from_millis(5_000)),
    );
    let rotated = f.repo.rotate(&asked).expect("rotate");

    let successor = &rotated.successor;
    assert_eq!(successor.public_id, asked.successor_id);
    assert_eq!(successor.hash, asked.successor_hash);
    assert_eq!(successor.sealed, asked.successor_sealed);
    assert_eq!(successor.identifier, old.identifier);
    assert_eq!(successor.permissions, old.permissions);
    assert_eq!(successor.from_api_client, old.from_api_client);
    assert_eq!(successor.allowed_ips, old.allowed_ips);
    assert_eq!(successor.expires_at, old.expires_at, "inherited");
    assert_eq!(successor.created_at, NOW);
    assert_eq!(successor.superseded_by, None);

    let kept = f
        .repo
        .find_by_hash(&old.hash)
        .expect("find")
        .expect("in its overlap");
    assert_eq!(kept, rotated.old);
    assert_eq!(kept.superseded_by, Some(asked.successor_id));
    assert_eq!(
        kept.superseded_until,
        Some(NOW + Duration::from_millis(5_000))
    );
    assert_eq!(kept.valid_until(), Some(NOW + Duration::from_millis(5_000)));
    assert_eq!(
        f.repo.find_by_hash(&successor.hash).expect("find").as_ref(),
        Some(successor)
    );
    assert_eq!(logged(f), vec![old.hash], "superseding is announced");

    // The successor is now the client's one token: a new one conflicts.
    assert!(f.repo.insert(record(1, Some("CXA")), NOW).is_err());
}

pub fn a_rotation_without_overlap_deletes_the_old_token(f: &Fixture) {
    let old = record(1, None);
    f.repo.insert(old.clone(), NOW).expect("insert");
    let mut asked = rotation(RotationOf::Presented(old.hash), None);
    asked.expires_at = Some(NOW + Duration::from_millis(7));
    let rotated = f.repo.rotate(&asked).expect("rotate");
    assert_eq!(f.repo.find_by_hash(&old.hash).expect("find"), None);
    assert_eq!(
        rotated.successor.expires_at,
        Some(NOW + Duration::from_millis(7)),
        "the asked expiry"
    );
    assert_eq!(f.repo.list_for_user(user(1)).expect("list").len(), 1);
    assert!(logged(f).contains(&old.hash));

    // A token without expiry gets the default (the lifetime policy's).
    let never = record(2, None);
    f.repo.insert(never.clone(), NOW).expect("insert");
    let mut asked = rotation(RotationOf::Presented(never.hash), None);
    asked.default_expiry = Some(NOW + Duration::from_millis(99));
    let rotated = f.repo.rotate(&asked).expect("rotate");
    assert_eq!(
        rotated.successor.expires_at,
        Some(NOW + Duration::from_millis(99))
    );
}

pub fn superseded_disabled_expired_and_unknown_tokens_do_not_rotate(f: &Fixture) {
    let old = record(1, None);
    f.repo.insert(old.clone(), NOW).expect("insert");
    f.repo
        .rotate(&rotation(
            RotationOf::Presented(old.hash),
            Some(NOW + Duration::from_millis(1000)),
        ))
        .expect("first rotation");
    assert!(matches!(
        f.repo
            .rotate(&rotation(RotationOf::Presented(old.hash), None)),
        Err(RotateError::NotRotatable)
    ));

    let disabled = record(1, None);
    f.repo.insert(disabled.clone(), NOW).expect("insert");
    let off = TokenChange {
        disabled: Some(true),
        ..TokenChange::default()
    };
    f.repo
        .update(user(1), disabled.public_id, &off, NOW)
        .expect("disable");
    assert!(matches!(
        f.repo.rotate(&rotation(
            RotationOf::Owned(user(1), disabled.public_id),
            None
        )),
        Err(RotateError::NotRotatable)
    ));

    let mut expired = record(1, None);
    expired.expires_at = Some(NOW);
    f.repo
        .insert(expired.clone(), NOW - Duration::from_millis(10))
        .expect("insert");
    assert!(matches!(
        f.repo
            .rotate(&rotation(RotationOf::Presented(expired.hash), None)),
        Err(RotateError::NotRotatable)
    ));

    assert!(matches!(
        f.repo.rotate(&rotation(
            RotationOf::Owned(user(2), disabled.public_id),
            None
        )),
        Err(RotateError::NotFound)
    ));
    assert!(matches!(
        f.repo
            .rotate(&rotation(RotationOf::Presented(record(1, None).hash), None)),
        Err(RotateError::NotFound)
    ));
    assert_eq!(
        f.repo.list_for_user(user(1)).expect("list").len(),
        4,
        "refused rotations store nothing"
    );
}

pub fn concurrent_rotations_of_one_token_yield_exactly_one(f: &Fixture) {
    let old = record(1, Some("CXA"));
    f.repo.insert(old.clone(), NOW).expect("insert");
    let racers = 8;
    let barrier = Arc::new(Barrier::new(racers));
    let handles: Vec<_> = (0..racers)
        .map(|i| {
            let repo = f.repo.clone();
            let barrier = barrier.clone();
            let asked = rotation(
                RotationOf::Owned(user(1), old.public_id),
                (i % 2 == 0).then_some(NOW + Duration::from_millis(1000)),
            );
            std::thread::spawn(move || {
                barrier.wait();
                repo.rotate(&asked)
            })
        })
        .collect();
    let mut won = 0;
    for handle in handles {
        match handle.join().expect("thread") {
            Ok(_) => won += 1,
            Err(RotateError::NotRotatable | RotateError::NotFound) => {}
            Err(other) => panic!("unexpected: {other}"),
        }
    }
    assert_eq!(won, 1);
    let unsuperseded = f
        .repo
        .list_for_user(user(1))
        .expect("list")
        .into_iter()
        .filter(|t| t.superseded_by.is_none())
        .count();
    assert_eq!(unsuperseded, 1, "one successor, the client's one token");
}

pub fn revoking_a_lineage_deletes_the_token_and_all_its_successors(f: &Fixture) {
    let first = record(1, None);
    f.repo.insert(first.clone(), NOW).expect("insert");
    let second = f
        .repo
        .rotate(&rotation(
            RotationOf::Presented(first.hash),
            Some(NOW + Duration::from_millis(1000)),
        ))
        .expect("rotate")
        .successor;
    let third = f
        .repo
        .rotate(&rotation(
            RotationOf::Presented(second.hash),
            Some(NOW + Duration::from_millis(1000)),
        ))
        .expect("rotate")
        .successor;
    let bystander = record(1, None);
    f.repo.insert(bystander.clone(), NOW).expect("insert");

    let revoked = f.repo.revoke_lineage(&first.hash, NOW).expect("revoke");
    let mut expected = vec![first.hash, second.hash, third.hash];
    let mut got = revoked.clone();
    expected.sort_by_key(|h| h.0);
    got.sort_by_key(|h| h.0);
    assert_eq!(got, expected);
    let left: Vec<_> = f
        .repo
        .list_for_user(user(1))
        .expect("list")
        .into_iter()
        .map(|t| t.hash)
        .collect();
    assert_eq!(left, vec![bystander.hash]);
    assert_eq!(
        f.repo.revoke_lineage(&first.hash, NOW).expect("again"),
        vec![]
    );
}

pub fn ended_overlaps_are_purged_and_running_ones_kept(f: &Fixture) {
    let ending = record(1, None);
    let running = record(1, None);
    let mut short_lived = record(1, None);
    short_lived.expires_at = Some(NOW + Duration::from_millis(50));
    let plain = record(1, None);
    for new in [&ending, &running, &short_lived, &plain] {
        f.repo.insert(new.clone(), NOW).expect("insert");
    }
    f.repo
        .rotate(&rotation(
            RotationOf::Presented(ending.hash),
            Some(NOW + Duration::from_millis(100)),
        ))
        .expect("rotate");
    f.repo
        .rotate(&rotation(
            RotationOf::Presented(running.hash),
            Some(NOW + Duration::from_millis(10_000)),
        ))
        .expect("rotate");
    f.repo
        .rotate(&rotation(
            RotationOf::Presented(short_lived.hash),
            Some(NOW + Duration::from_millis(10_000)),
        ))
        .expect("rotate");

    let mut purged = f
        .repo
        .purge_superseded(NOW + Duration::from_millis(100))
        .expect("purge");
    purged.sort_by_key(|h| h.0);
    let mut expected = vec![ending.hash, short_lived.hash];
    expected.sort_by_key(|h| h.0);
    assert_eq!(
        purged, expected,
        "ended overlap, and a life shorter than it"
    );
    assert!(f.repo.find_by_hash(&running.hash).expect("find").is_some());
    assert!(f.repo.find_by_hash(&plain.hash).expect("find").is_some());
    assert_eq!(f.repo.list_for_user(user(1)).expect("list").len(), 5);
}

pub fn a_suspension_refuses_the_users_tokens_and_blocks_new_ones_until_resumed(f: &Fixture) {
    let first = record(1, None);
    let second = record(1, Some("CXA"));
    let other = record(2, None);
    for new in [&first, &second, &other] {
        f.repo.insert(new.clone(), NOW).expect("insert");
    }
    assert!(!f.repo.is_suspended(user(1)).expect("read"));

    let mut refused = f
        .repo
        .suspend(user(1), Some("fraud"), NOW)
        .expect("suspend");
    refused.sort_by_key(|h| h.0);
    let mut mine = vec![first.hash, second.hash];
    mine.sort_by_key(|h| h.0);
    assert_eq!(refused, mine);
    assert!(f.repo.is_suspended(user(1)).expect("read"));
    for hash in &mine {
        let stored = f.repo.find_by_hash(hash).expect("find").expect("kept");
        assert!(stored.owner_suspended);
    }
    let bystander = f
        .repo
        .find_by_hash(&other.hash)
        .expect("find")
        .expect("kept");
    assert!(!bystander.owner_suspended);
    let mut announced = logged(f);
    announced.sort_by_key(|h| h.0);
    assert_eq!(announced, mine, "announced like deletions");

    // Nothing new for a suspended user: creation, rotation, grant.
    assert!(matches!(
        f.repo.insert(record(1, None), NOW),
        Err(tessera_domain::InsertTokenError::Suspended)
    ));
    assert!(matches!(
        f.repo
            .rotate(&rotation(RotationOf::Presented(first.hash), None)),
        Err(RotateError::Suspended)
    ));
    let pending = crate::oauth_suite::code("CXA", 1, NOW + Duration::from_millis(600_000));
    f.codes.insert(pending.clone()).expect("code");
    assert!(matches!(
        f.codes.redeem(&pending.hash, record(1, Some("CXA")), NOW),
        Err(tessera_domain::RedeemError::Suspended)
    ));
    let untouched = f.codes.find(&pending.hash).expect("find").expect("kept");
    assert_eq!(untouched.used_at, None, "the code is not used up");
    f.repo
        .insert(record(2, None), NOW)
        .expect("other users are not affected");

    // Suspending again changes nothing and announces nothing.
    let before = logged(f).len();
    assert_eq!(
        f.repo
            .suspend(user(1), None, NOW + Duration::from_millis(1))
            .expect("again")
            .len(),
        2
    );
    assert_eq!(logged(f).len(), before);

    let mut restored = f
        .repo
        .resume(user(1), NOW)
        .expect("resume")
        .expect("was suspended");
    restored.sort_by_key(|h| h.0);
    assert_eq!(restored, mine);
    assert_eq!(logged(f).len(), before + 2, "resuming is announced too");
    assert!(!f.repo.is_suspended(user(1)).expect("read"));
    let back = f
        .repo
        .find_by_hash(&first.hash)
        .expect("find")
        .expect("kept");
    assert!(!back.owner_suspended);
    assert_eq!(
        f.repo.resume(user(1), NOW).expect("resume"),
        None,
        "not suspended"
    );
    f.repo
        .insert(record(1, None), NOW)
        .expect("creation works again");
}

pub fn a_suspension_and_concurrent_creations_never_interleave(f: &Fixture) {
    // Whatever the order, no token of the user is left unsuspended after
    // the suspension commits: each creation either precedes it (and is
    // marked by it) or follows it (and is refused).
    let racers = 8;
    let barrier = Arc::new(Barrier::new(racers + 1));
    // Half of them in batches with another user's creation (which the
    // suspension must not touch).
    let creators: Vec<_> = (0..racers)
        .map(|racer| {
            let repo = f.repo.clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                if racer % 2 == 0 {
                    vec![repo.insert(record(1, None), NOW)]
                } else {
                    let batch = vec![record(2, None), record(1, None)];
                    let answers = repo.insert_many(batch.clone(), NOW);
                    let mut answers = answers.into_iter();
                    let other = answers.next().expect("an answer each");
                    assert!(other.is_ok(), "another user's creation: {other:?}");
                    answers
                        .zip(batch.into_iter().skip(1))
                        .map(|(answer, token)| match answer {
                            // Left out while the suspension held the lock:
                            // stored alone, as the service then does.
                            Err(tessera_domain::InsertTokenError::Busy) => repo.insert(token, NOW),
                            answer => answer,
                        })
                        .collect()
                }
            })
        })
        .collect();
    let repo = f.repo.clone();
    let suspender = {
        let barrier = barrier.clone();
        std::thread::spawn(move || {
            barrier.wait();
            repo.suspend(user(1), None, NOW)
        })
    };
    suspender.join().expect("thread").expect("suspend");
    for creator in creators {
        for answer in creator.join().expect("thread") {
            match answer {
                Ok(_) | Err(tessera_domain::InsertTokenError::Suspended) => {}
                Err(other) => panic!("unexpected: {other}"),
            }
        }
    }
    let tokens = f.repo.list_for_user(user(1)).expect("list");
    assert!(
        tokens.iter().all(|t| t.owner_suspended),
        "a token escaped the suspension"
    );
}

pub fn uses_record_the_place_and_the_recent_addresses(f: &Fixture) {
    let token = record(1, None);
    let quiet = record(1, None);
    f.repo.insert(token.clone(), NOW).expect("insert");
    f.repo.insert(quiet.clone(), NOW).expect("insert");
    let ip = |text: &str| -> std::net::IpAddr { text.parse().expect("address") };
    let noted = |at: Timestamp, by: Option<&str>, ips: &[&str]| tessera_domain::TokenUse {
        hash: token.hash,
        at,
        by: by.map(str::to_owned),
        ips: ips.iter().map(|text| ip(text)).collect(),
    };
    f.repo
        .record_usage(&[noted(
            NOW + Duration::from_millis(1),
            Some("status"),
            &["10.0.0.1", "10.0.0.2"],
        )])
        .expect("record");
    let stored = f
        .repo
        .find_by_hash(&token.hash)
        .expect("find")
        .expect("kept");
    assert_eq!(stored.last_used_at, Some(NOW + Duration::from_millis(1)));
    assert_eq!(stored.last_used_by.as_deref(), Some("status"));
    assert_eq!(stored.last_used_ips, [ip("10.0.0.1"), ip("10.0.0.2")]);

    // Newer addresses go in front, known ones move up, five at most; a use
    // that names no place keeps the stored one.
    f.repo
        .record_usage(&[noted(
            NOW + Duration::from_millis(2),
            None,
            &["10.0.0.9", "10.0.0.2", "10.0.0.8", "10.0.0.7", "::1"],
        )])
        .expect("record");
    let stored = f
        .repo
        .find_by_hash(&token.hash)
        .expect("find")
        .expect("kept");
    assert_eq!(stored.last_used_by.as_deref(), Some("status"));
    assert_eq!(
        stored.last_used_ips,
        [
            ip("10.0.0.9"),
            ip("10.0.0.2"),
            ip("10.0.0.8"),
            ip("10.0.0.7"),
            ip("::1")
        ]
    );

    f.repo
        .record_usage(&[noted(
            NOW + Duration::from_millis(3),
            Some("CXResource"),
            &[],
        )])
        .expect("record");
    let stored = f
        .repo
        .find_by_hash(&token.hash)
        .expect("find")
        .expect("kept");
    assert_eq!(stored.last_used_by.as_deref(), Some("CXResource"));
    assert_eq!(
        stored.last_used_ips.len(),
        5,
        "no address: the stored ones stay"
    );

    // An older batch (another instance's, late) changes nothing.
    f.repo
        .record_usage(&[noted(NOW, Some("status"), &["192.0.2.1"])])
        .expect("record");
    let stored = f
        .repo
        .find_by_hash(&token.hash)
        .expect("find")
        .expect("kept");
    assert_eq!(stored.last_used_at, Some(NOW + Duration::from_millis(3)));
    assert_eq!(stored.last_used_by.as_deref(), Some("CXResource"));
    assert!(!stored.last_used_ips.contains(&ip("192.0.2.1")));

    let untouched = f
        .repo
        .find_by_hash(&quiet.hash)
        .expect("find")
        .expect("kept");
    assert_eq!(untouched.last_used_by, None);
    assert!(untouched.last_used_ips.is_empty());
}
