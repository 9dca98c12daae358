//! The audit trail's conformance: an event is appended with its change and
//! only with it, each user's events are numbered without gaps even when
//! changes race, and the chain each store keeps verifies.

use std::sync::{Arc, Barrier};

use tessera_domain::ClientRevocation;
use tessera_domain::{
    ActorKind, AllowedIps, AuditEvent, ChainCheck, ClientId, ClientUpdate, InsertTokenError,
    RotationOf, TokenChange, TokenRepository, UserId,
};

use crate::Fixture;
use crate::oauth_suite::{client, code};
use crate::suite::{NOW, record};

fn user(id: i64) -> UserId {
    UserId::new(id).expect("positive")
}

fn events_of(f: &Fixture, id: i64) -> Vec<AuditEvent> {
    f.audit.events(user(id), 0, 1000).expect("events")
}

/// The user's chain checked as `tessera audit verify` checks it.
fn assert_chain_verifies(f: &Fixture, id: i64) {
    let events = events_of(f, id);
    let mut check = ChainCheck::default();
    for event in &events {
        check.push(event).expect("an intact chain");
    }
    let (_, seq, hash) = f
        .audit
        .heads()
        .expect("heads")
        .into_iter()
        .find(|(u, _, _)| *u == user(id))
        .expect("a head for every user with events");
    check
        .finish(seq, &hash)
        .expect("the head where the chain ends");
}

pub fn a_created_token_appends_its_event_to_its_users_chain(f: &Fixture) {
    let first = record(1, None);
    let second = record(1, None);
    let other = record(2, None);
    f.repo.insert(first.clone(), NOW).expect("insert");
    f.repo.insert(other.clone(), NOW).expect("insert");
    f.repo.insert(second.clone(), NOW).expect("insert");

    let events = events_of(f, 1);
    assert_eq!(events.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2]);
    assert_eq!(events[0].kind, "token.created");
    assert_eq!(events[0].token_id, Some(first.public_id.to_string()));
    assert_eq!(events[1].token_id, Some(second.public_id.to_string()));
    assert_eq!(events[0].at, NOW.as_millis());
    assert_eq!(events[0].actor.kind, ActorKind::Session);
    assert_eq!(events[0].actor.id.as_deref(), Some("1"));
    assert_eq!(events[0].details["identifier"], first.identifier.as_str());
    assert_eq!(events_of(f, 2).len(), 1, "another user's chain is its own");
    assert_eq!(
        f.audit.events(user(1), 1, 10).expect("after 1"),
        events[1..],
        "after skips what was read"
    );
    assert_eq!(f.audit.events(user(1), 0, 1).expect("limit").len(), 1);
    assert_chain_verifies(f, 1);
    assert_chain_verifies(f, 2);
}

pub fn a_refused_creation_leaves_no_event(f: &Fixture) {
    let stored = record(3, None);
    f.repo.insert(stored.clone(), NOW).expect("insert");
    let mut duplicate = record(3, None);
    duplicate.hash = stored.hash;
    assert!(matches!(
        f.repo.insert(duplicate, NOW),
        Err(InsertTokenError::DuplicateHash)
    ));
    f.repo
        .insert(
            record(3, Some("CXA")),
            NOW + std::time::Duration::from_secs(1),
        )
        .expect("a client token");
    assert!(matches!(
        f.repo.insert(record(3, Some("CXA")), NOW),
        Err(InsertTokenError::DuplicateClientToken)
    ));
    f.repo.suspend(user(4), None, NOW).expect("suspend");
    assert!(matches!(
        f.repo.insert(record(4, None), NOW),
        Err(InsertTokenError::Suspended)
    ));

    let events = events_of(f, 3);
    assert_eq!(
        events.iter().map(|e| e.seq).collect::<Vec<_>>(),
        [1, 2],
        "refusals rolled their events back, leaving no gap"
    );
    assert!(events_of(f, 4).iter().all(|e| e.kind != "token.created"));
    assert_chain_verifies(f, 3);
}

pub fn creations_stored_together_are_answered_and_chained_as_one_by_one(f: &Fixture) {
    // User 20 has an event already: the batch's continue its chain.
    f.repo.insert(record(20, None), NOW).expect("insert");
    f.repo.suspend(user(22), None, NOW).expect("suspend");
    let mut canary = record(21, None);
    canary.canary = true;
    // Every nullable column given, in one row of the batch.
    let mut full = record(20, None);
    full.expires_at = Some(NOW + std::time::Duration::from_secs(3600));
    full.allowed_ips = Some(AllowedIps::parse(&["10.0.0.0/8", "::1"]).expect("valid"));
    let batch = vec![
        full,
        record(21, None),
        record(22, None),
        record(20, None),
        canary.clone(),
    ];
    let answers = f.repo.insert_many(batch.clone(), NOW);
    assert_eq!(answers.len(), batch.len());
    for (at, (answer, asked)) in answers.iter().zip(&batch).enumerate() {
        if asked.user_id == user(22) {
            assert!(
                matches!(answer, Err(InsertTokenError::Suspended)),
                "{at}: {answer:?}"
            );
            continue;
        }
        let stored = answer.as_ref().expect("stored");
        assert_eq!(
            stored.public_id, asked.public_id,
            "{at}: in the order asked"
        );
        assert_eq!(stored.hash, asked.hash);
        assert_eq!(stored.user_id, asked.user_id);
        assert_eq!(stored.identifier, asked.identifier);
        assert_eq!(stored.permissions, asked.permissions);
        assert_eq!(stored.canary, asked.canary);
        assert_eq!(stored.expires_at, asked.expires_at);
        assert_eq!(stored.allowed_ips, asked.allowed_ips);
        assert_eq!(stored.sealed, asked.sealed);
        assert_eq!(stored.created_at, asked.created_at);
        let found = f
            .repo
            .find_by_hash(&asked.hash)
            .expect("find")
            .expect("found");
        assert_eq!(&found, stored);
    }
    assert!(f.repo.find_by_hash(&batch[2].hash).expect("find").is_none());

    let tokens_of = |id: i64| -> Vec<Option<String>> {
        events_of(f, id)
            .iter()
            .filter(|e| e.kind == "token.created")
            .map(|e| e.token_id.clone())
            .collect()
    };
    let ids = |records: &[&tessera_domain::NewTokenRecord]| -> Vec<Option<String>> {
        records
            .iter()
            .map(|r| Some(r.public_id.to_string()))
            .collect()
    };
    let seqs: Vec<u64> = events_of(f, 20).iter().map(|e| e.seq).collect();
    assert_eq!(seqs, [1, 2, 3], "numbered on from the chain's head");
    assert_eq!(
        tokens_of(20)[1..],
        ids(&[&batch[0], &batch[3]]),
        "in the order asked"
    );
    assert_eq!(tokens_of(21), ids(&[&batch[1], &canary]));
    let canary_event = events_of(f, 21).pop().expect("the canary's event");
    assert_eq!(canary_event.details["canary"], true);
    assert!(events_of(f, 22).iter().all(|e| e.kind != "token.created"));
    for id in [20, 21, 22] {
        assert_chain_verifies(f, id);
    }
    // The chain goes on from where the batch left it.
    f.repo.insert(record(20, None), NOW).expect("insert");
    assert_eq!(events_of(f, 20).last().expect("event").seq, 4);
    assert_chain_verifies(f, 20);
}

pub fn a_taken_fingerprint_in_a_batch_fails_only_its_own_creation(f: &Fixture) {
    let stored = record(23, None);
    f.repo.insert(stored.clone(), NOW).expect("insert");
    let mut duplicate = record(24, None);
    duplicate.hash = stored.hash;
    let fine = record(24, None);
    let answers = f.repo.insert_many(vec![fine.clone(), duplicate], NOW);
    assert_eq!(
        answers[0].as_ref().expect("stored").public_id,
        fine.public_id
    );
    assert!(
        matches!(answers[1], Err(InsertTokenError::DuplicateHash)),
        "{:?}",
        answers[1]
    );
    let seqs: Vec<u64> = events_of(f, 24).iter().map(|e| e.seq).collect();
    assert_eq!(seqs, [1], "only the stored token's event");
    assert_chain_verifies(f, 24);
}

pub fn concurrent_batches_of_the_same_users_number_their_events_without_gaps(f: &Fixture) {
    let racers = 6;
    let barrier = Arc::new(Barrier::new(racers));
    let handles: Vec<_> = (0..racers)
        .map(|racer| {
            let repo: Arc<dyn TokenRepository> = f.repo.clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                // Users in different orders: heads are locked in one order.
                let mut batch = vec![record(25, None), record(26, None), record(27, None)];
                batch.rotate_left(racer % 3);
                barrier.wait();
                repo.insert_many(batch, NOW)
            })
        })
        .collect();
    for handle in handles {
        for answer in handle.join().expect("no panic") {
            answer.expect("every creation stored");
        }
    }
    for id in [25, 26, 27] {
        let seqs: Vec<u64> = events_of(f, id).iter().map(|e| e.seq).collect();
        assert_eq!(seqs, (1..=6).collect::<Vec<u64>>());
        assert_chain_verifies(f, id);
    }
}

pub fn concurrent_creations_of_one_user_number_their_events_without_gaps(f: &Fixture) {
    let racers = 8;
    let barrier = Arc::new(Barrier::new(racers));
    let handles: Vec<_> = (0..racers)
        .map(|_| {
            let repo: Arc<dyn TokenRepository> = f.repo.clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                repo.insert(record(5, None), NOW).map(drop)
            })
        })
        .collect();
    for handle in handles {
        handle
            .join()
            .expect("no panic")
            .expect("every creation stored");
    }
    let seqs: Vec<u64> = events_of(f, 5).iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=8).collect::<Vec<u64>>());
    assert_chain_verifies(f, 5);
}

pub fn a_granted_token_is_created_by_its_client(f: &Fixture) {
    f.clients.insert(client("CXA", 9), 10).expect("client");
    let pending = code("CXA", 6, NOW + std::time::Duration::from_secs(600));
    f.codes.insert(pending.clone()).expect("code");
    let mut token = record(6, Some("CXA"));
    token.created_by = tessera_domain::Actor::client(&ClientId::new("CXA"));
    f.codes
        .redeem(&pending.hash, token.clone(), NOW)
        .expect("redeem");

    let events = events_of(f, 6);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].kind, "token.created");
    assert_eq!(events[0].actor.kind, ActorKind::Client);
    assert_eq!(events[0].actor.id.as_deref(), Some("CXA"));
    assert_eq!(events[0].client_id.as_deref(), Some("CXA"));
    assert_eq!(events[0].token_id, Some(token.public_id.to_string()));
    assert_chain_verifies(f, 6);
}

pub fn an_owners_deletion_appends_token_deleted_and_a_refused_one_nothing(f: &Fixture) {
    let by_hash = record(7, None);
    let by_id = record(7, None);
    f.repo.insert(by_hash.clone(), NOW).expect("insert");
    f.repo.insert(by_id.clone(), NOW).expect("insert");
    let later = NOW + std::time::Duration::from_secs(5);

    assert!(
        !f.repo
            .delete(user(8), &by_hash.hash, later)
            .expect("not theirs")
    );
    assert_eq!(
        f.repo
            .delete_by_public_id(user(8), by_id.public_id, later)
            .expect("not theirs"),
        None
    );
    assert!(
        events_of(f, 8).is_empty(),
        "a refused deletion records nothing"
    );
    assert!(
        f.repo
            .delete(user(7), &by_hash.hash, later)
            .expect("delete")
    );
    assert!(
        f.repo
            .delete_by_public_id(user(7), by_id.public_id, later)
            .expect("delete")
            .is_some()
    );

    let events = events_of(f, 7);
    let deleted: Vec<_> = events
        .iter()
        .filter(|e| e.kind == "token.deleted")
        .collect();
    assert_eq!(deleted.len(), 2);
    assert_eq!(deleted[0].token_id, Some(by_hash.public_id.to_string()));
    assert_eq!(deleted[1].token_id, Some(by_id.public_id.to_string()));
    assert_eq!(deleted[0].at, later.as_millis());
    assert_eq!(deleted[0].actor.kind, ActorKind::Session);
    assert_eq!(deleted[0].actor.id.as_deref(), Some("7"));
    assert_eq!(
        events.iter().map(|e| e.seq).collect::<Vec<_>>(),
        [1, 2, 3, 4]
    );
    assert_chain_verifies(f, 7);
}

pub fn a_change_appends_token_updated_with_what_changed_and_a_refused_one_nothing(f: &Fixture) {
    let mut token = record(9, None);
    token.expires_at = Some(NOW + std::time::Duration::from_secs(100));
    f.repo.insert(token.clone(), NOW).expect("insert");
    let later = NOW + std::time::Duration::from_secs(1);
    let refused = TokenChange {
        expires_at: Some(NOW + std::time::Duration::from_secs(200)),
        ..TokenChange::default()
    };
    assert!(
        f.repo
            .update(user(9), token.public_id, &refused, later)
            .is_err()
    );
    assert!(
        f.repo
            .update(user(10), token.public_id, &refused, later)
            .is_err()
    );
    let change = TokenChange {
        identifier: Some("Renamed".into()),
        disabled: Some(true),
        allowed_ips: Some(Some(AllowedIps::parse(&["10.0.0.0/8"]).expect("valid"))),
        ..TokenChange::default()
    };
    f.repo
        .update(user(9), token.public_id, &change, later)
        .expect("update");

    let events = events_of(f, 9);
    assert_eq!(
        events.len(),
        2,
        "created, then one change: refusals left nothing"
    );
    assert_eq!(events[1].kind, "token.updated");
    assert_eq!(events[1].token_id, Some(token.public_id.to_string()));
    assert_eq!(events[1].at, later.as_millis());
    assert_eq!(
        serde_json::Value::Object(events[1].details.clone()),
        serde_json::json!({"identifier": "Renamed", "disabled": true, "allowedIps": ["10.0.0.0/8"]})
    );
    assert!(events_of(f, 10).is_empty());
    assert_chain_verifies(f, 9);
}

pub fn a_rotation_appends_token_rotated_by_whoever_asked(f: &Fixture) {
    let owned = record(11, None);
    let presented = record(11, None);
    f.repo.insert(owned.clone(), NOW).expect("insert");
    f.repo.insert(presented.clone(), NOW).expect("insert");
    let by_owner =
        crate::lifecycle_suite::rotation(RotationOf::Owned(user(11), owned.public_id), None);
    f.repo.rotate(&by_owner).expect("rotate");
    assert!(
        f.repo
            .rotate(&crate::lifecycle_suite::rotation(
                RotationOf::Owned(user(11), owned.public_id),
                None
            ))
            .is_err(),
        "rotated away already"
    );
    let overlap = NOW + std::time::Duration::from_secs(60);
    let by_itself =
        crate::lifecycle_suite::rotation(RotationOf::Presented(presented.hash), Some(overlap));
    f.repo.rotate(&by_itself).expect("rotate");

    let rotated: Vec<_> = events_of(f, 11)
        .into_iter()
        .filter(|e| e.kind == "token.rotated")
        .collect();
    assert_eq!(rotated.len(), 2, "the refused rotation recorded nothing");
    assert_eq!(rotated[0].token_id, Some(owned.public_id.to_string()));
    assert_eq!(rotated[0].actor.kind, ActorKind::Session);
    assert_eq!(
        rotated[0].details["successor"],
        by_owner.successor_id.to_string().as_str()
    );
    assert_eq!(rotated[1].actor.kind, ActorKind::Token);
    assert_eq!(rotated[1].actor.id, Some(presented.public_id.to_string()));
    assert_eq!(rotated[1].details["overlapUntil"], overlap.as_millis());
    assert_chain_verifies(f, 11);
}

pub fn operators_suspensions_and_revocations_are_recorded_once_each(f: &Fixture) {
    let first = record(12, None);
    let second = record(12, Some("CXA"));
    f.repo.insert(first.clone(), NOW).expect("insert");
    f.repo.insert(second.clone(), NOW).expect("insert");
    f.repo
        .suspend(user(12), Some("fraud"), NOW)
        .expect("suspend");
    f.repo
        .suspend(user(12), None, NOW)
        .expect("again: nothing new");
    f.repo.resume(user(12), NOW).expect("resume");
    assert_eq!(f.repo.resume(user(12), NOW).expect("again"), None);
    let revoked = f
        .repo
        .delete_all_for_user(user(12), None, NOW)
        .expect("revoke");
    assert_eq!(revoked.len(), 2);

    let events = events_of(f, 12);
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "token.created",
            "token.created",
            "user.suspended",
            "user.resumed",
            "token.revoked",
            "token.revoked"
        ]
    );
    assert_eq!(events[2].details["reason"], "fraud");
    assert_eq!(events[2].actor.kind, ActorKind::Operator);
    assert_eq!(events[2].actor.id, None);
    assert_eq!(events[4].details["reason"], "operator");
    let mut revoked_ids: Vec<_> = events[4..]
        .iter()
        .filter_map(|e| e.token_id.clone())
        .collect();
    revoked_ids.sort();
    let mut expected = vec![first.public_id.to_string(), second.public_id.to_string()];
    expected.sort();
    assert_eq!(revoked_ids, expected);
    assert_chain_verifies(f, 12);
}

pub fn revocations_by_a_client_a_new_grant_and_reuse_name_their_reason(f: &Fixture) {
    // RFC 7009: the client revokes its own token; another client's is left.
    let issued = record(13, Some("CXA"));
    f.repo.insert(issued.clone(), NOW).expect("insert");
    assert!(
        f.repo
            .delete_for_client(&issued.hash, &ClientId::new("CXB"), NOW)
            .expect("not its own")
            == ClientRevocation::NotRevoked
    );
    assert!(
        f.repo
            .delete_for_client(&issued.hash, &ClientId::new("CXA"), NOW)
            .expect("revoke")
            == ClientRevocation::Revoked
    );
    // A new grant replaces the client's earlier token.
    let earlier = record(13, Some("CXA"));
    f.repo.insert(earlier.clone(), NOW).expect("insert");
    f.clients.insert(client("CXA", 99), 10).expect("client");
    let pending = code("CXA", 13, NOW + std::time::Duration::from_secs(600));
    f.codes.insert(pending.clone()).expect("code");
    let mut granted = record(13, Some("CXA"));
    granted.created_by = tessera_domain::Actor::client(&ClientId::new("CXA"));
    f.codes.redeem(&pending.hash, granted, NOW).expect("redeem");
    // A superseded token presented again: its lineage goes.
    let old = record(13, None);
    f.repo.insert(old.clone(), NOW).expect("insert");
    let rotation = crate::lifecycle_suite::rotation(
        RotationOf::Owned(user(13), old.public_id),
        Some(NOW + std::time::Duration::from_secs(60)),
    );
    f.repo.rotate(&rotation).expect("rotate");
    assert_eq!(
        f.repo.revoke_lineage(&old.hash, NOW).expect("revoke").len(),
        2
    );

    let revoked: Vec<_> = events_of(f, 13)
        .into_iter()
        .filter(|e| e.kind == "token.revoked")
        .collect();
    let summary: Vec<(String, Option<String>, &str)> = revoked
        .iter()
        .map(|e| {
            (
                e.token_id.clone().expect("a token"),
                e.actor.id.clone(),
                e.details["reason"].as_str().expect("a reason"),
            )
        })
        .collect();
    assert_eq!(summary.len(), 4, "{summary:?}");
    assert_eq!(
        summary[0],
        (
            issued.public_id.to_string(),
            Some("CXA".into()),
            "oauth_revoke"
        )
    );
    assert_eq!(
        summary[1],
        (
            earlier.public_id.to_string(),
            Some("CXA".into()),
            "grant_replaced"
        )
    );
    assert_eq!(summary[2].2, "reuse");
    assert_eq!(summary[3].2, "reuse");
    assert!(
        revoked[2..]
            .iter()
            .all(|e| e.actor.kind == ActorKind::System)
    );
    let reused: Vec<_> = summary[2..].iter().map(|s| s.0.clone()).collect();
    assert!(reused.contains(&old.public_id.to_string()));
    assert!(reused.contains(&rotation.successor_id.to_string()));
    assert_chain_verifies(f, 13);
}

pub fn a_clients_life_is_in_its_authors_trail_and_its_tokens_in_their_owners(f: &Fixture) {
    let registered = client("CXLife", 14);
    f.clients.insert(registered.clone(), 10).expect("client");
    let update = ClientUpdate {
        redirect_uri: Some(None),
        ..ClientUpdate::default()
    };
    f.clients.update("CXLife", &update, NOW).expect("update");
    f.clients
        .update("CXLife", &ClientUpdate::default(), NOW)
        .expect("an empty update: nothing to record");
    f.clients
        .replace_secret("CXLife", crate::suite::fresh_hash(), vec![1], NOW)
        .expect("reset");
    let issued = record(15, Some("CXLife"));
    f.repo.insert(issued.clone(), NOW).expect("insert");
    f.clients
        .delete("CXLife", NOW)
        .expect("delete")
        .expect("existed");
    assert_eq!(f.clients.delete("CXLife", NOW).expect("again"), None);

    let author = events_of(f, 14);
    let kinds: Vec<&str> = author.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "client.created",
            "client.updated",
            "client.secret_reset",
            "client.deleted"
        ]
    );
    assert!(
        author
            .iter()
            .all(|e| e.client_id.as_deref() == Some("CXLife"))
    );
    assert!(author.iter().all(|e| e.actor.id.as_deref() == Some("14")));
    assert_eq!(author[0].details["name"], registered.client.name.as_str());
    assert_eq!(
        serde_json::Value::Object(author[1].details.clone()),
        serde_json::json!({"changed": ["redirectUri"]})
    );
    assert_chain_verifies(f, 14);

    let owner = events_of(f, 15);
    let revoked = owner.last().expect("events");
    assert_eq!(revoked.kind, "token.revoked");
    assert_eq!(revoked.details["reason"], "client_deleted");
    assert_eq!(revoked.token_id, Some(issued.public_id.to_string()));
    assert_eq!(
        revoked.actor.id.as_deref(),
        Some("14"),
        "by the client's author"
    );
    assert_chain_verifies(f, 15);
}

pub fn a_replayed_codes_token_is_revoked_for_reuse(f: &Fixture) {
    f.clients
        .insert(client("CXReplay", 98), 10)
        .expect("client");
    let pending = code("CXReplay", 16, NOW + std::time::Duration::from_secs(600));
    f.codes.insert(pending.clone()).expect("code");
    let mut granted = record(16, Some("CXReplay"));
    granted.created_by = tessera_domain::Actor::client(&ClientId::new("CXReplay"));
    f.codes
        .redeem(&pending.hash, granted.clone(), NOW)
        .expect("redeem");
    assert_eq!(
        f.codes.revoke_issued(&pending.hash, NOW).expect("revoke"),
        Some(granted.hash)
    );

    let events = events_of(f, 16);
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["token.created", "token.revoked"]);
    assert_eq!(events[1].details["reason"], "reuse");
    assert_eq!(events[1].actor.kind, ActorKind::System);
    assert_eq!(events[1].token_id, Some(granted.public_id.to_string()));
    assert_chain_verifies(f, 16);
}

pub fn an_expired_client_token_replaced_by_a_new_one_is_revoked(f: &Fixture) {
    let mut expired = record(17, Some("CXE"));
    expired.expires_at = Some(NOW + std::time::Duration::from_secs(1));
    f.repo.insert(expired.clone(), NOW).expect("insert");
    let later = NOW + std::time::Duration::from_secs(2);
    let fresh = record(17, Some("CXE"));
    f.repo
        .insert(fresh.clone(), later)
        .expect("replaces the expired one");

    let events = events_of(f, 17);
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["token.created", "token.revoked", "token.created"]);
    assert_eq!(events[1].token_id, Some(expired.public_id.to_string()));
    assert_eq!(events[1].details["reason"], "grant_replaced");
    assert_eq!(events[1].actor.kind, ActorKind::Session);
    assert_eq!(events[1].at, later.as_millis());
    assert_chain_verifies(f, 17);
}

pub fn a_canary_is_named_to_a_revoking_client_and_left_alone(f: &Fixture) {
    let mut planted = record(21, None);
    planted.canary = true;
    f.repo.insert(planted.clone(), NOW).expect("insert");
    let unknown = record(21, None);
    for client in ["CXA", "CXB"] {
        let answer = f
            .repo
            .delete_for_client(&planted.hash, &ClientId::new(client), NOW)
            .expect("revoke");
        assert_eq!(
            answer,
            ClientRevocation::Canary(tessera_domain::Canary {
                user: user(21),
                id: planted.public_id
            })
        );
    }
    assert_eq!(
        f.repo
            .delete_for_client(&unknown.hash, &ClientId::new("CXA"), NOW)
            .expect("revoke"),
        ClientRevocation::NotRevoked
    );
    let stored = f.repo.find_by_hash(&planted.hash).expect("find");
    assert!(stored.is_some_and(|t| t.canary), "still there");
    // Only its creation is in the trail: the store records no use itself.
    assert_eq!(events_of(f, 21).len(), 1);
}

pub fn a_recorded_event_is_chained_like_a_changes(f: &Fixture) {
    let stored = record(22, None);
    f.repo.insert(stored.clone(), NOW).expect("insert");
    let used = tessera_domain::CanaryUse {
        canary: tessera_domain::Canary {
            user: user(22),
            id: stored.public_id,
        },
        at: NOW,
        ip: Some("2001:db8::1".parse().expect("address")),
        user_agent: None,
        route: "POST /api/v1/oauth/introspect".to_owned(),
        resource_server: Some("CXRS".to_owned()),
        uses: 1,
    };
    f.repo.record_event(&used.event(), NOW).expect("record");
    let events = events_of(f, 22);
    assert_eq!(events[1].kind, "token.canary_used");
    assert_eq!(events[1].details["ip"], "2001:db8::1");
    assert_eq!(events[1].details["resourceServer"], "CXRS");
    assert!(events[1].details["userAgent"].is_null());
    assert_chain_verifies(f, 22);
}

pub fn tokens_about_to_expire_are_warned_of_once_even_by_concurrent_sweeps(f: &Fixture) {
    let day = std::time::Duration::from_secs(24 * 3600);
    let mut expiring = Vec::new();
    for (i, days) in [2u32, 5, 6, 9, 30].into_iter().enumerate() {
        let mut token = record(31 + i as i64 % 2, None);
        token.expires_at = Some(NOW + day * days);
        f.repo.insert(token.clone(), NOW).expect("insert");
        expiring.push(token);
    }
    let mut expired = record(31, None);
    expired.expires_at = Some(NOW + std::time::Duration::from_secs(1));
    f.repo.insert(expired, NOW).expect("insert");
    f.repo.insert(record(31, None), NOW).expect("no expiry");
    let later = NOW + std::time::Duration::from_secs(2);
    let horizon = later + day * 7;

    let sweeps = 4;
    let barrier = Arc::new(Barrier::new(sweeps));
    let warned: usize = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..sweeps)
            .map(|_| {
                let barrier = barrier.clone();
                scope.spawn(move || {
                    barrier.wait();
                    f.repo.warn_expiring(later, horizon, 2).expect("sweep")
                        + f.repo.warn_expiring(later, horizon, 2).expect("sweep")
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("sweep")).sum()
    });
    assert_eq!(warned, 3, "the three expiring within the week, once each");
    assert_eq!(f.repo.warn_expiring(later, horizon, 10).expect("sweep"), 0);
    let mut warned_ids: Vec<String> = [31, 32]
        .iter()
        .flat_map(|&u| events_of(f, u))
        .filter(|e| e.kind == "token.expiring")
        .map(|e| {
            assert_eq!(e.actor.kind, ActorKind::System);
            assert_eq!(e.at, later.as_millis());
            e.token_id.expect("token")
        })
        .collect();
    warned_ids.sort();
    let mut expected: Vec<String> = expiring[..3]
        .iter()
        .map(|t| t.public_id.to_string())
        .collect();
    expected.sort();
    assert_eq!(warned_ids, expected);
    assert_chain_verifies(f, 31);
    assert_chain_verifies(f, 32);
}

pub fn clients_deleted_at_once_with_tokens_of_the_same_users_both_commit(f: &Fixture) {
    // A deletion appends to its tokens' owners' chains and to its author's;
    // here each author owns a token of the other client. Deletions that
    // revoke are serialised by the revocation log's lock today, and append
    // in ascending user order besides: both commit, with intact chains.
    let mut checked = Vec::new();
    for round in 0..10 {
        let base = 3000 + 1000 * round;
        let (author_a, author_b) = (base + 1, base);
        let (a, b) = (format!("CXA{round}"), format!("CXB{round}"));
        f.clients.insert(client(&a, author_a), 10).expect("client");
        f.clients.insert(client(&b, author_b), 10).expect("client");
        let owners_a: Vec<i64> = std::iter::once(author_b)
            .chain(base + 100..base + 140)
            .collect();
        let owners_b: Vec<i64> = std::iter::once(author_a)
            .chain(base + 200..base + 240)
            .collect();
        for &user in &owners_a {
            f.repo.insert(record(user, Some(&a)), NOW).expect("insert");
        }
        for &user in &owners_b {
            f.repo.insert(record(user, Some(&b)), NOW).expect("insert");
        }
        let barrier = Arc::new(Barrier::new(2));
        let revoked: Vec<usize> = std::thread::scope(|scope| {
            let handles: Vec<_> = [&a, &b]
                .into_iter()
                .map(|id| {
                    let barrier = barrier.clone();
                    scope.spawn(move || {
                        barrier.wait();
                        f.clients
                            .delete(id, NOW)
                            .expect("both deletions commit")
                            .expect("existed")
                            .len()
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("deletion"))
                .collect()
        });
        assert_eq!(revoked, [41, 41], "round {round}");
        checked.extend(owners_a);
        checked.extend(owners_b);
    }
    for user in checked {
        assert_chain_verifies(f, user);
    }
}

pub fn a_suspension_and_a_client_deletion_at_once_both_commit(f: &Fixture) {
    // A suspension appends to its user's chain and marks their tokens
    // refused (announced on the revocation log); a client deletion deletes
    // tokens (announced the same way) and appends to their owners' chains.
    // Taking the two in opposite orders would deadlock.
    for round in 0..10 {
        let user = 5000 + round;
        let id = format!("CXSus{round}");
        f.clients.insert(client(&id, 4999), 100).expect("client");
        f.repo.insert(record(user, Some(&id)), NOW).expect("insert");
        f.repo.insert(record(user, None), NOW).expect("insert");
        let barrier = Arc::new(Barrier::new(2));
        std::thread::scope(|scope| {
            let suspension = scope.spawn(|| {
                barrier.wait();
                f.repo
                    .suspend(user_id(user), Some("round"), NOW)
                    .expect("the suspension commits")
            });
            let deletion = scope.spawn(|| {
                barrier.wait();
                f.clients
                    .delete(&id, NOW)
                    .expect("the deletion commits")
                    .expect("existed")
            });
            suspension.join().expect("suspension");
            assert_eq!(deletion.join().expect("deletion").len(), 1);
        });
        assert_chain_verifies(f, user);
    }
}

fn user_id(id: i64) -> tessera_domain::UserId {
    tessera_domain::UserId::new(id).expect("positive")
}
