//! The behaviours every `TokenRepository` must show (see the port's docs).

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use tessera_domain::ClientRevocation;
use tessera_domain::{
    Actor, ClientId, InsertTokenError, NewTokenRecord, PermissionSet, Timestamp, TokenHash,
    TokenId, TokenRepository, TokenUse, UserId,
};

type Repo = Arc<dyn TokenRepository>;

pub const NOW: Timestamp = Timestamp::from_millis(1_764_337_200_000);

fn user(id: i64) -> UserId {
    UserId::new(id).expect("positive")
}

pub fn fresh_hash() -> TokenHash {
    static NEXT: AtomicU8 = AtomicU8::new(1);
    let mut bytes = [0u8; 32];
    bytes[0] = NEXT.fetch_add(1, Ordering::SeqCst);
    bytes[1..9].copy_from_slice(&std::process::id().to_le_bytes().repeat(2));
    bytes[9..25].copy_from_slice(
        &std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default()
            .to_le_bytes(),
    );
    TokenHash(bytes)
}

pub fn record(user_id: i64, client: Option<&str>) -> NewTokenRecord {
    NewTokenRecord {
        public_id: TokenId::generate(NOW),
        user_id: user(user_id),
        identifier: "Ünïcode token ✓".to_owned(),
        hash: fresh_hash(),
        sealed: vec![0, 1, 2, 255, 254],
        permissions: PermissionSet::from_trusted(["submit_score".into(), "manage_rivals".into()]),
        from_api_client: client.map(ClientId::new),
        created_at: NOW,
        expires_at: None,
        allowed_ips: None,
        canary: false,
        created_by: Actor::session(user(user_id)),
    }
}

pub fn inserted_token_is_found_by_fingerprint_with_every_field(repo: Repo) {
    let mut new = record(7, Some("CXFervidex"));
    new.expires_at = Some(NOW + Duration::from_millis(60_000));
    let stored = repo.insert(new.clone(), NOW).expect("insert");
    let found = repo
        .find_by_hash(&new.hash)
        .expect("find")
        .expect("present");
    assert_eq!(found, stored);
    assert_eq!(found.user_id, new.user_id);
    assert_eq!(found.identifier, new.identifier);
    assert_eq!(found.sealed, new.sealed);
    assert_eq!(found.permissions, new.permissions);
    assert_eq!(found.from_api_client, new.from_api_client);
    assert_eq!(found.created_at, NOW);
    assert_eq!(found.expires_at, Some(NOW + Duration::from_millis(60_000)));
    assert_eq!(found.last_used_at, None);
}

pub fn unknown_fingerprint_is_none(repo: Repo) {
    repo.insert(record(1, None), NOW).expect("insert");
    assert_eq!(repo.find_by_hash(&fresh_hash()).expect("find"), None);
}

pub fn duplicate_fingerprint_is_refused(repo: Repo) {
    let first = record(1, None);
    repo.insert(first.clone(), NOW).expect("first");
    let mut second = record(2, None);
    second.hash = first.hash;
    assert!(matches!(
        repo.insert(second, NOW),
        Err(InsertTokenError::DuplicateHash)
    ));
    assert_eq!(repo.list_for_user(user(2)).expect("list"), vec![]);
}

pub fn second_unexpired_token_from_a_client_conflicts(repo: Repo) {
    let mut first = record(1, Some("CXA"));
    first.expires_at = Some(NOW + Duration::from_millis(1));
    repo.insert(first.clone(), NOW).expect("first");
    assert!(matches!(
        repo.insert(record(1, Some("CXA")), NOW),
        Err(InsertTokenError::DuplicateClientToken)
    ));
    let listed = repo.list_for_user(user(1)).expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].hash, first.hash, "the first token is untouched");
}

pub fn expired_client_token_is_replaced_in_the_same_insert(repo: Repo) {
    let mut old = record(1, Some("CXA"));
    old.expires_at = Some(NOW);
    repo.insert(old.clone(), NOW - Duration::from_millis(10))
        .expect("old");
    let new = record(1, Some("CXA"));
    repo.insert(new.clone(), NOW)
        .expect("replaces the expired one");
    assert_eq!(repo.find_by_hash(&old.hash).expect("find"), None);
    let listed = repo.list_for_user(user(1)).expect("list");
    assert_eq!(
        listed.iter().map(|r| r.hash).collect::<Vec<_>>(),
        vec![new.hash]
    );
}

pub fn tokens_without_client_are_unlimited(repo: Repo) {
    for _ in 0..3 {
        repo.insert(record(1, None), NOW).expect("insert");
    }
    assert_eq!(repo.list_for_user(user(1)).expect("list").len(), 3);
}

pub fn same_client_for_different_users_is_fine(repo: Repo) {
    repo.insert(record(1, Some("CXA")), NOW).expect("user 1");
    repo.insert(record(2, Some("CXA")), NOW).expect("user 2");
    repo.insert(record(1, Some("CXB")), NOW)
        .expect("other client");
}

pub fn list_is_the_users_own_ordered_by_creation(repo: Repo) {
    let mut later = record(1, None);
    later.created_at = NOW + Duration::from_millis(5);
    let later = repo.insert(later, NOW).expect("later");
    let first_tie = repo.insert(record(1, None), NOW).expect("tie 1");
    repo.insert(record(2, None), NOW).expect("someone else");
    let second_tie = repo.insert(record(1, None), NOW).expect("tie 2");
    let listed: Vec<_> = repo
        .list_for_user(user(1))
        .expect("list")
        .into_iter()
        .map(|r| r.hash)
        .collect();
    assert_eq!(listed, vec![first_tie.hash, second_tie.hash, later.hash]);
    assert_eq!(repo.list_for_user(user(3)).expect("list"), vec![]);
}

pub fn delete_removes_only_the_owners_token(repo: Repo) {
    let mine = repo.insert(record(1, None), NOW).expect("mine");
    let other = repo.insert(record(1, None), NOW).expect("other");
    assert!(!repo.delete(user(2), &mine.hash, NOW).expect("delete"));
    assert!(repo.find_by_hash(&mine.hash).expect("find").is_some());
    assert!(repo.delete(user(1), &mine.hash, NOW).expect("delete"));
    assert_eq!(repo.find_by_hash(&mine.hash).expect("find"), None);
    assert!(
        !repo
            .delete(user(1), &mine.hash, NOW)
            .expect("second delete")
    );
    assert!(repo.find_by_hash(&other.hash).expect("find").is_some());
}

pub fn concurrent_client_inserts_yield_exactly_one_success(repo: Repo) {
    const RACERS: usize = 24;
    let barrier = Arc::new(Barrier::new(RACERS));
    let handles: Vec<_> = (0..RACERS)
        .map(|_| {
            let repo = repo.clone();
            let barrier = barrier.clone();
            let new = record(9, Some("CXRace"));
            std::thread::spawn(move || {
                barrier.wait();
                repo.insert(new, NOW)
            })
        })
        .collect();
    let mut ok = 0;
    for handle in handles {
        match handle.join().expect("thread") {
            Ok(_) => ok += 1,
            Err(InsertTokenError::DuplicateClientToken) => {}
            Err(other) => panic!("unexpected outcome: {other:?}"),
        }
    }
    assert_eq!(ok, 1);
    assert_eq!(repo.list_for_user(user(9)).expect("list").len(), 1);
}

pub fn concurrent_plain_inserts_all_succeed(repo: Repo) {
    const WRITERS: usize = 16;
    let barrier = Arc::new(Barrier::new(WRITERS));
    let handles: Vec<_> = (0..WRITERS)
        .map(|_| {
            let repo = repo.clone();
            let barrier = barrier.clone();
            let new = record(4, None);
            std::thread::spawn(move || {
                barrier.wait();
                repo.insert(new, NOW).map(|_| ())
            })
        })
        .collect();
    for handle in handles {
        handle.join().expect("thread").expect("every write lands");
    }
    assert_eq!(repo.list_for_user(user(4)).expect("list").len(), WRITERS);
}

pub fn ping_answers(repo: Repo) {
    repo.ping().expect("ping");
}

pub fn revocation_by_client_touches_only_that_clients_token(repo: Repo) {
    let from_a = repo.insert(record(1, Some("CXA")), NOW).expect("a");
    let plain = repo.insert(record(1, None), NOW).expect("plain");
    let client_b = ClientId::new("CXB");
    assert!(
        repo.delete_for_client(&from_a.hash, &client_b, NOW)
            .expect("wrong client")
            == ClientRevocation::NotRevoked
    );
    assert!(
        repo.delete_for_client(&plain.hash, &ClientId::new("CXA"), NOW)
            .expect("no client")
            == ClientRevocation::NotRevoked
    );
    assert!(repo.find_by_hash(&from_a.hash).expect("find").is_some());
    assert!(
        repo.delete_for_client(&from_a.hash, &ClientId::new("CXA"), NOW)
            .expect("revoke")
            == ClientRevocation::Revoked
    );
    assert_eq!(repo.find_by_hash(&from_a.hash).expect("find"), None);
    assert!(repo.find_by_hash(&plain.hash).expect("find").is_some());
}

/// A use at `at` that names no place and no address.
pub fn used(hash: TokenHash, at: Timestamp) -> TokenUse {
    TokenUse {
        hash,
        at,
        by: None,
        ips: Vec::new(),
    }
}

pub fn usage_is_recorded_and_never_moves_back(repo: Repo) {
    let token = repo.insert(record(1, None), NOW).expect("insert");
    let other = repo.insert(record(1, None), NOW).expect("other");
    repo.record_usage(&[
        used(token.hash, NOW + Duration::from_millis(100)),
        used(fresh_hash(), NOW),
    ])
    .expect("record");
    let found = repo
        .find_by_hash(&token.hash)
        .expect("find")
        .expect("present");
    assert_eq!(found.last_used_at, Some(NOW + Duration::from_millis(100)));
    repo.record_usage(&[used(token.hash, NOW + Duration::from_millis(50))])
        .expect("older use");
    let found = repo
        .find_by_hash(&token.hash)
        .expect("find")
        .expect("present");
    assert_eq!(
        found.last_used_at,
        Some(NOW + Duration::from_millis(100)),
        "an older use does not move it back"
    );
    let untouched = repo
        .find_by_hash(&other.hash)
        .expect("find")
        .expect("present");
    assert_eq!(untouched.last_used_at, None);
}

pub fn usage_of_many_tokens_is_recorded_in_one_call(repo: Repo) {
    // More than one statement's worth (the adapter writes 500 per UPDATE).
    let tokens: Vec<_> = (0..520)
        .map(|_| repo.insert(record(2, None), NOW).expect("insert").hash)
        .collect();
    // Newest token first, against the order the rows were written in (an
    // adapter may reorder its writes), every third with a place and an
    // address, so that a use paired with the wrong row shows.
    let uses: Vec<_> = tokens
        .iter()
        .enumerate()
        .rev()
        .map(|(i, h)| TokenUse {
            by: (i % 3 == 0).then(|| format!("CX{i}")),
            ips: (i % 3 == 0)
                .then(|| std::net::IpAddr::from([10, 0, (i / 256) as u8, (i % 256) as u8]))
                .into_iter()
                .collect(),
            ..used(*h, NOW + Duration::from_millis(i as u64))
        })
        .collect();
    repo.record_usage(&uses).expect("record");
    let listed = repo.list_for_user(user(2)).expect("list");
    for noted in &uses {
        let found = listed
            .iter()
            .find(|r| r.hash == noted.hash)
            .expect("listed");
        assert_eq!(found.last_used_at, Some(noted.at));
        assert_eq!(found.last_used_by, noted.by);
        assert_eq!(found.last_used_ips, noted.ips);
    }
}

pub fn many_tokens_are_found_at_once(repo: Repo) {
    assert!(repo.find_many_by_hash(&[]).expect("none").is_empty());
    let stored: Vec<_> = (0..3)
        .map(|i| repo.insert(record(20 + i, None), NOW).expect("insert"))
        .collect();
    // More fingerprints than one statement takes, most of them unknown.
    let mut wanted: Vec<TokenHash> = (0..1200).map(|_| fresh_hash()).collect();
    wanted.insert(0, stored[0].hash);
    wanted.insert(700, stored[2].hash);
    let mut found = repo.find_many_by_hash(&wanted).expect("find");
    found.sort_by_key(|r| r.user_id.get());
    assert_eq!(found, vec![stored[0].clone(), stored[2].clone()]);
}
