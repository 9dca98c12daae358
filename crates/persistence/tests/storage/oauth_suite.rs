//! The behaviours every `ClientRepository` and `CodeRepository` must show.

use std::sync::{Arc, Barrier};
use std::time::Duration;

use tessera_domain::ClientRevocation;
use tessera_domain::{
    AuthorizationCode, ClientId, ClientName, ClientUpdate, FileName, HttpUrl, InsertClientError,
    OAuthClient, PermissionSet, RedeemError, StoredClient, Timestamp, UserId,
};

use crate::Fixture;
use crate::suite::{fresh_hash, record};

const NOW: Timestamp = Timestamp::from_millis(1_764_337_200_000);

fn user(id: i64) -> UserId {
    UserId::new(id).expect("positive")
}

pub fn client(id: &str, author: i64) -> StoredClient {
    StoredClient {
        client: OAuthClient {
            author: Some(user(author)),
            redirect_uri: Some("https://example.com/callback".into()),
            webhook_uri: None,
            api_key_template: Some("KEY=%%TOKEN%%".into()),
            api_key_filename: None,
            created_at: NOW,
            ..OAuthClient::minimal(
                id,
                "My Client ✓",
                PermissionSet::from_trusted(["submit_score".into()]),
            )
        },
        secret_hash: fresh_hash(),
        secret_sealed: vec![9, 8, 7],
    }
}

pub fn code(client: &str, user_id: i64, expires_at: Timestamp) -> AuthorizationCode {
    AuthorizationCode {
        hash: fresh_hash(),
        user_id: user(user_id),
        client_id: ClientId::new(client),
        code_challenge: Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into()),
        created_at: NOW,
        expires_at,
        used_at: None,
        token_hash: None,
    }
}

pub fn client_round_trips_every_field(f: &Fixture) {
    let stored = f.clients.insert(client("CIone", 1), 10).expect("insert");
    assert_eq!(f.clients.find("CIone").expect("find"), Some(stored.clone()));
    assert_eq!(f.clients.find("CInone").expect("find"), None);
    assert_eq!(
        f.clients.list_by_author(user(1)).expect("list"),
        vec![stored]
    );
    assert!(f.clients.list_by_author(user(2)).expect("list").is_empty());
}

pub fn client_ids_and_secrets_are_unique(f: &Fixture) {
    let first = f.clients.insert(client("CIdup", 1), 10).expect("insert");
    assert!(matches!(
        f.clients.insert(client("CIdup", 2), 10),
        Err(InsertClientError::Duplicate)
    ));
    let mut same_secret = client("CIother", 1);
    same_secret.secret_hash = first.secret_hash;
    assert!(matches!(
        f.clients.insert(same_secret, 10),
        Err(InsertClientError::Duplicate)
    ));
    assert_eq!(f.clients.list_by_author(user(1)).expect("list").len(), 1);
    // A failed insert does not use up a slot.
    f.clients
        .insert(client("CIsecond", 1), 2)
        .expect("second fits a cap of 2");
}

pub fn clients_are_capped_per_author(f: &Fixture) {
    for i in 0..3 {
        f.clients
            .insert(client(&format!("CIcap{i}"), 1), 3)
            .expect("under the cap");
    }
    assert!(matches!(
        f.clients.insert(client("CIcap3", 1), 3),
        Err(InsertClientError::CapReached)
    ));
    f.clients
        .insert(client("CIothers", 2), 3)
        .expect("another author");
    assert_eq!(f.clients.list_by_author(user(1)).expect("list").len(), 3);
}

pub fn concurrent_client_creation_stops_exactly_at_the_cap(f: &Fixture) {
    const RACERS: usize = 12;
    const CAP: u32 = 4;
    let barrier = Arc::new(Barrier::new(RACERS));
    let handles: Vec<_> = (0..RACERS)
        .map(|i| {
            let clients = f.clients.clone();
            let barrier = barrier.clone();
            let new = client(&format!("CIrace{i}"), 5);
            std::thread::spawn(move || {
                barrier.wait();
                clients.insert(new, CAP)
            })
        })
        .collect();
    let mut ok = 0;
    for handle in handles {
        match handle.join().expect("thread") {
            Ok(_) => ok += 1,
            Err(InsertClientError::CapReached) => {}
            Err(other) => panic!("unexpected: {other:?}"),
        }
    }
    assert_eq!(ok, CAP as usize);
    assert_eq!(
        f.clients.list_by_author(user(5)).expect("list").len(),
        CAP as usize
    );
}

pub fn client_update_sets_and_clears_fields(f: &Fixture) {
    f.clients.insert(client("CIupd", 1), 10).expect("insert");
    let update = ClientUpdate {
        name: Some(ClientName::parse("Renamed").expect("a valid name")),
        redirect_uri: Some(None),
        webhook_uri: Some(Some(
            HttpUrl::parse("webhookUri", "https://example.com/hook").expect("a valid URL"),
        )),
        api_key_template: None,
        api_key_filename: Some(Some(FileName::parse("key.txt").expect("a valid file name"))),
    };
    let updated = f
        .clients
        .update("CIupd", &update, NOW)
        .expect("update")
        .expect("exists");
    assert_eq!(updated.client.name, "Renamed");
    assert_eq!(updated.client.redirect_uri, None);
    assert_eq!(
        updated.client.webhook_uri.as_deref(),
        Some("https://example.com/hook")
    );
    assert_eq!(
        updated.client.api_key_template.as_deref(),
        Some("KEY=%%TOKEN%%"),
        "untouched"
    );
    assert_eq!(updated.client.api_key_filename.as_deref(), Some("key.txt"));
    assert_eq!(f.clients.find("CIupd").expect("find"), Some(updated));
    assert_eq!(
        f.clients.update("CInope", &update, NOW).expect("update"),
        None
    );
}

pub fn client_secret_is_replaced(f: &Fixture) {
    let before = f.clients.insert(client("CIsec", 1), 10).expect("insert");
    let hash = fresh_hash();
    let after = f
        .clients
        .replace_secret("CIsec", hash, vec![1, 1, 1], NOW)
        .expect("replace")
        .expect("exists");
    assert_eq!(after.secret_hash, hash);
    assert_ne!(after.secret_hash, before.secret_hash);
    assert_eq!(after.secret_sealed, vec![1, 1, 1]);
    assert_eq!(
        f.clients
            .replace_secret("CInope", fresh_hash(), vec![], NOW)
            .expect("replace"),
        None
    );
}

pub fn deleting_a_client_takes_its_tokens_and_codes_and_frees_a_slot(f: &Fixture) {
    f.clients.insert(client("CIdel", 1), 1).expect("insert");
    let issued = f.repo.insert(record(2, Some("CIdel")), NOW).expect("token");
    let other = f
        .repo
        .insert(record(2, Some("CIkeep")), NOW)
        .expect("other token");
    let pending = code("CIdel", 2, NOW + Duration::from_millis(60_000));
    f.codes.insert(pending.clone()).expect("code");
    assert_eq!(
        f.clients.delete("CIdel", NOW).expect("delete"),
        Some(vec![issued.hash])
    );
    assert_eq!(f.clients.find("CIdel").expect("find"), None);
    assert_eq!(f.repo.find_by_hash(&issued.hash).expect("find"), None);
    assert!(f.repo.find_by_hash(&other.hash).expect("find").is_some());
    assert_eq!(f.codes.find(&pending.hash).expect("find"), None);
    assert_eq!(f.clients.delete("CIdel", NOW).expect("second delete"), None);
    f.clients
        .insert(client("CIagain", 1), 1)
        .expect("the slot is free again");
}

pub fn code_is_stored_and_found(f: &Fixture) {
    let stored = code("CXA", 1, NOW + Duration::from_millis(600_000));
    f.codes.insert(stored.clone()).expect("insert");
    assert_eq!(f.codes.find(&stored.hash).expect("find"), Some(stored));
    assert_eq!(f.codes.find(&fresh_hash()).expect("find"), None);
}

pub fn redeeming_marks_the_code_and_replaces_the_clients_token(f: &Fixture) {
    let earlier = f.repo.insert(record(3, Some("CXA")), NOW).expect("earlier");
    let plain = f.repo.insert(record(3, None), NOW).expect("plain");
    let pending = code("CXA", 3, NOW + Duration::from_millis(600_000));
    f.codes.insert(pending.clone()).expect("code");
    let new = record(3, Some("CXA"));
    let redeemed = f
        .codes
        .redeem(&pending.hash, new.clone(), NOW + Duration::from_millis(5))
        .expect("redeem");
    assert_eq!(redeemed.token.hash, new.hash);
    assert_eq!(redeemed.replaced, vec![earlier.hash]);
    assert_eq!(
        f.repo.find_by_hash(&earlier.hash).expect("find"),
        None,
        "replaced"
    );
    assert!(f.repo.find_by_hash(&plain.hash).expect("find").is_some());
    let used = f.codes.find(&pending.hash).expect("find").expect("kept");
    assert_eq!(used.used_at, Some(NOW + Duration::from_millis(5)));
    assert_eq!(used.token_hash, Some(new.hash));
    assert!(matches!(
        f.codes.redeem(
            &pending.hash,
            record(3, Some("CXA")),
            NOW + Duration::from_millis(6)
        ),
        Err(RedeemError::AlreadyUsed)
    ));
    assert!(
        f.repo.find_by_hash(&new.hash).expect("find").is_some(),
        "unchanged by the failure"
    );
}

pub fn a_code_is_redeemed_once_even_concurrently(f: &Fixture) {
    const RACERS: usize = 12;
    let pending = code("CXA", 4, NOW + Duration::from_millis(600_000));
    f.codes.insert(pending.clone()).expect("code");
    let barrier = Arc::new(Barrier::new(RACERS));
    let handles: Vec<_> = (0..RACERS)
        .map(|_| {
            let codes = f.codes.clone();
            let barrier = barrier.clone();
            let hash = pending.hash;
            let token = record(4, Some("CXA"));
            std::thread::spawn(move || {
                barrier.wait();
                codes.redeem(&hash, token, NOW)
            })
        })
        .collect();
    let mut ok = 0;
    for handle in handles {
        match handle.join().expect("thread") {
            Ok(_) => ok += 1,
            Err(RedeemError::AlreadyUsed) => {}
            Err(other) => panic!("unexpected: {other:?}"),
        }
    }
    assert_eq!(ok, 1);
    assert_eq!(f.repo.list_for_user(user(4)).expect("list").len(), 1);
}

pub fn replay_revocation_deletes_the_issued_token(f: &Fixture) {
    let pending = code("CXA", 6, NOW + Duration::from_millis(600_000));
    f.codes.insert(pending.clone()).expect("code");
    let issued = f
        .codes
        .redeem(&pending.hash, record(6, Some("CXA")), NOW)
        .expect("redeem")
        .token;
    let unrelated = f.repo.insert(record(6, None), NOW).expect("unrelated");
    assert_eq!(
        f.codes.revoke_issued(&pending.hash, NOW).expect("revoke"),
        Some(issued.hash)
    );
    assert_eq!(
        f.codes.revoke_issued(&pending.hash, NOW).expect("again"),
        None
    );
    assert_eq!(f.repo.find_by_hash(&issued.hash).expect("find"), None);
    assert!(
        f.repo
            .find_by_hash(&unrelated.hash)
            .expect("find")
            .is_some()
    );
    f.codes
        .revoke_issued(&fresh_hash(), NOW)
        .expect("unknown code is fine");
}

pub fn expired_codes_are_purged(f: &Fixture) {
    let old = code("CXA", 1, NOW - Duration::from_millis(1));
    let fresh = code("CXA", 1, NOW + Duration::from_millis(1));
    f.codes.insert(old.clone()).expect("old");
    f.codes.insert(fresh.clone()).expect("fresh");
    assert_eq!(f.codes.purge_expired(NOW).expect("purge"), 1);
    assert_eq!(f.codes.find(&old.hash).expect("find"), None);
    assert!(f.codes.find(&fresh.hash).expect("find").is_some());
}

pub fn every_deletion_is_logged_in_order(f: &Fixture) {
    let before = f.revocations.after(0, 1000).expect("read").entries.len();
    assert_eq!(before, 0);
    let a = f.repo.insert(record(1, None), NOW).expect("a");
    let b = f.repo.insert(record(1, Some("CIgone")), NOW).expect("b");
    let c = f.repo.insert(record(2, Some("CXA")), NOW).expect("c");
    f.clients.insert(client("CIgone", 9), 10).expect("client");
    assert!(f.repo.delete(user(1), &a.hash, NOW).expect("delete"));
    f.clients.delete("CIgone", NOW).expect("client delete");
    assert!(
        f.repo
            .delete_for_client(&c.hash, &ClientId::new("CXA"), NOW)
            .expect("revoke")
            == ClientRevocation::Revoked
    );
    let page = f.revocations.after(0, 1000).expect("read");
    let hashes: Vec<_> = page.entries.iter().map(|r| r.hash).collect();
    assert_eq!(hashes, vec![a.hash, b.hash, c.hash]);
    let cursors: Vec<_> = page.entries.iter().map(|r| r.cursor).collect();
    assert!(cursors.windows(2).all(|w| w[0] < w[1]), "{cursors:?}");
    let rest = f.revocations.after(cursors[0], 1000).expect("read");
    assert_eq!(rest.entries.len(), 2);
    let limited = f.revocations.after(0, 1).expect("read");
    assert_eq!(limited.entries.len(), 1);
    assert_eq!(page.purged_through, 0);
}

pub fn all_clients_are_listed_oldest_first(f: &Fixture) {
    assert!(f.clients.list_all().expect("list").is_empty());
    let mut first = client("CIfirst", 1);
    first.client.created_at = NOW - Duration::from_millis(1000);
    let second = client("CIsecond", 2);
    let second = f.clients.insert(second, 10).expect("second");
    let first = f.clients.insert(first, 10).expect("first");
    assert_eq!(f.clients.list_all().expect("list"), vec![first, second]);
}

pub fn revoking_all_of_a_users_tokens_is_logged_and_spares_others(f: &Fixture) {
    let own = f.repo.insert(record(5, None), NOW).expect("own");
    let from_client = f.repo.insert(record(5, Some("CXA")), NOW).expect("client");
    let from_other_client = f.repo.insert(record(5, Some("CXB")), NOW).expect("other");
    let someone_elses = f
        .repo
        .insert(record(6, Some("CXA")), NOW)
        .expect("other user");

    let only_client = f
        .repo
        .delete_all_for_user(user(5), Some(&ClientId::new("CXA")), NOW)
        .expect("revoke one client's");
    assert_eq!(only_client, vec![from_client.hash]);

    let mut rest = f
        .repo
        .delete_all_for_user(user(5), None, NOW)
        .expect("revoke all");
    rest.sort_by_key(|h| h.0);
    let mut expected = vec![own.hash, from_other_client.hash];
    expected.sort_by_key(|h| h.0);
    assert_eq!(rest, expected);
    assert!(f.repo.list_for_user(user(5)).expect("list").is_empty());
    assert_eq!(
        f.repo.list_for_user(user(6)).expect("list"),
        vec![someone_elses]
    );
    assert!(
        f.repo
            .delete_all_for_user(user(5), None, NOW)
            .expect("again")
            .is_empty()
    );

    // Every one of them reaches the revocation feed and other instances.
    let logged: Vec<_> = f
        .revocations
        .after(0, 1000)
        .expect("read")
        .entries
        .iter()
        .map(|r| r.hash)
        .collect();
    assert_eq!(logged.len(), 3);
    for hash in [own.hash, from_client.hash, from_other_client.hash] {
        assert!(logged.contains(&hash));
    }
}

pub fn purged_revocations_leave_a_mark(f: &Fixture) {
    let a = f.repo.insert(record(1, None), NOW).expect("a");
    let b = f.repo.insert(record(1, None), NOW).expect("b");
    f.repo.delete(user(1), &a.hash, NOW).expect("delete a");
    f.repo.delete(user(1), &b.hash, NOW).expect("delete b");
    assert_eq!(
        f.revocations
            .purge_before(Timestamp::NEVER)
            .expect("nothing that old"),
        0
    );
    let last = f.revocations.after(0, 10).expect("read").entries[1].cursor;
    assert_eq!(
        f.revocations.purge_before(Timestamp::MAX).expect("purge"),
        2
    );
    let page = f.revocations.after(0, 10).expect("read");
    assert!(page.entries.is_empty());
    assert_eq!(page.purged_through, last);
    let c = f.repo.insert(record(1, None), NOW).expect("c");
    f.repo.delete(user(1), &c.hash, NOW).expect("delete c");
    let page = f.revocations.after(0, 10).expect("read");
    assert_eq!(page.entries.len(), 1);
    assert!(page.entries[0].cursor > last);
}

pub fn the_last_cursor_is_where_new_entries_start(f: &Fixture) {
    assert_eq!(f.revocations.last_cursor().expect("empty"), 0);
    let a = f.repo.insert(record(1, None), NOW).expect("a");
    let b = f.repo.insert(record(1, None), NOW).expect("b");
    f.repo.delete(user(1), &a.hash, NOW).expect("delete a");
    f.repo.delete(user(1), &b.hash, NOW).expect("delete b");
    let newest = f.revocations.after(0, 10).expect("read").entries[1].cursor;
    assert_eq!(f.revocations.last_cursor().expect("newest"), newest);
    f.revocations.purge_before(Timestamp::MAX).expect("purge");
    assert_eq!(
        f.revocations.last_cursor().expect("purged"),
        newest,
        "the purge mark once the log is empty"
    );
    let c = f.repo.insert(record(1, None), NOW).expect("c");
    f.repo.delete(user(1), &c.hash, NOW).expect("delete c");
    let last = f.revocations.last_cursor().expect("after the purge");
    assert!(last > newest);
    assert!(
        f.revocations
            .after(last, 10)
            .expect("read")
            .entries
            .is_empty()
    );
}
