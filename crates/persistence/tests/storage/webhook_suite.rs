//! The webhook outbox on both databases: rows written with the events that
//! receivers asked for (and only in the event's transaction), claimed by
//! one taker at a time for a lease, and settled.

use std::collections::HashSet;
use std::sync::{Arc, Barrier};
use std::time::Duration;

use tessera_domain::webhooks::{Subscription, WebhookOutbox};
use tessera_domain::{IdempotencyStore as _, InsertTokenError, TokenRepository};
use tessera_persistence::testing::TestDatabase;
use tessera_persistence::{Backend, Database, DieselWebhookOutbox};

use crate::idempotency_suite::token_claim;
use crate::suite::{NOW, record};

const TOKENS: &str = "http://tokens.example/hook";
const DELETIONS: &str = "http://deletions.example/hook";

struct Outboxed {
    repo: Arc<dyn TokenRepository>,
    outbox: DieselWebhookOutbox,
    database: Database,
    _db: TestDatabase,
}

fn outboxed(backend: Backend) -> Outboxed {
    let db = TestDatabase::new(backend);
    let subscriptions = vec![
        Subscription::new(TOKENS, &["token.*".to_owned()]).expect("subscription"),
        Subscription::new(DELETIONS, &["*.deleted".to_owned()]).expect("subscription"),
    ];
    let database = Database::connect(&db.settings())
        .expect("connect")
        .with_subscriptions(subscriptions);
    database.migrate().expect("migrate");
    Outboxed {
        repo: Arc::new(database.token_repository()),
        outbox: database.webhook_outbox(),
        database,
        _db: db,
    }
}

pub fn matching_events_are_outboxed_with_them_and_a_refused_change_adds_nothing(backend: Backend) {
    let f = outboxed(backend);
    let created = record(1, None);
    f.repo.insert(created.clone(), NOW).expect("insert");
    // A creation that fails after its event was appended (its idempotency
    // claim was taken over meanwhile) rolls its outbox rows back with it.
    let idempotency = f.database.idempotency_store();
    let lost = token_claim("k-outbox", 1, 77);
    idempotency.claim(&lost, NOW).expect("claim");
    let later = NOW + Duration::from_secs(120);
    idempotency
        .claim(&token_claim("k-outbox", 1, 78), later)
        .expect("taken over");
    assert!(matches!(
        f.repo.insert_claimed(record(1, None), NOW, &lost),
        Err(InsertTokenError::Unexpected(_))
    ));
    f.repo
        .delete_by_public_id(created.user_id, created.public_id, NOW)
        .expect("delete");

    let statuses = f.outbox.status().expect("status");
    let pending: Vec<(&str, u64)> = statuses
        .iter()
        .map(|s| (s.receiver.as_str(), s.pending))
        .collect();
    // token.created → TOKENS; token.deleted → both.
    assert_eq!(pending, [(DELETIONS, 1), (TOKENS, 2)]);
    let due = f
        .outbox
        .claim(NOW, NOW + Duration::from_secs(30), 10)
        .expect("claim");
    let mut seen: Vec<(String, u64, String)> = due
        .iter()
        .map(|d| (d.receiver.clone(), d.event.seq, d.event.kind.clone()))
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            (DELETIONS.to_owned(), 2, "token.deleted".to_owned()),
            (TOKENS.to_owned(), 1, "token.created".to_owned()),
            (TOKENS.to_owned(), 2, "token.deleted".to_owned()),
        ]
    );
    assert!(
        due.iter()
            .all(|d| d.tries == 1 && d.user == created.user_id)
    );
    assert!(due.iter().all(|d| !d.event.hash.is_empty()));
}

pub fn a_batch_of_creations_is_outboxed_as_one_by_one(backend: Backend) {
    let f = outboxed(backend);
    let batch = vec![record(1, None), record(2, None), record(1, None)];
    for answer in f.repo.insert_many(batch.clone(), NOW) {
        answer.expect("stored");
    }
    let due = f
        .outbox
        .claim(NOW, NOW + Duration::from_secs(30), 10)
        .expect("claim");
    let mut seen: Vec<(String, i64, u64, String, Option<String>)> = due
        .iter()
        .map(|d| {
            (
                d.receiver.clone(),
                d.user.get(),
                d.event.seq,
                d.event.kind.clone(),
                d.event.token_id.clone(),
            )
        })
        .collect();
    seen.sort();
    let created = |user: i64, seq: u64, at: usize| {
        (
            TOKENS.to_owned(),
            user,
            seq,
            "token.created".to_owned(),
            Some(batch[at].public_id.to_string()),
        )
    };
    assert_eq!(seen, [created(1, 1, 0), created(1, 2, 2), created(2, 1, 1)]);
    // The outboxed events are the chained ones.
    let hashes: HashSet<&str> = due.iter().map(|d| d.event.hash.as_str()).collect();
    assert_eq!(hashes.len(), 3, "each its own hash");
}

pub fn a_claim_holds_its_deliveries_for_the_lease_then_they_are_due_again(backend: Backend) {
    let f = outboxed(backend);
    f.repo.insert(record(2, None), NOW).expect("insert");
    let lease = NOW + Duration::from_secs(30);
    assert_eq!(f.outbox.claim(NOW, lease, 10).expect("claim").len(), 1);
    assert!(
        f.outbox.claim(NOW, lease, 10).expect("claim").is_empty(),
        "held"
    );
    let later = lease + Duration::from_millis(1);
    let again = f
        .outbox
        .claim(later, later + Duration::from_secs(30), 10)
        .expect("claim");
    assert_eq!(again.len(), 1, "a crashed taker's delivery is due again");
    assert_eq!(again[0].tries, 2);
}

pub fn settled_deliveries_are_counted_retried_when_due_and_purged_when_old(backend: Backend) {
    let f = outboxed(backend);
    for user in [3, 4, 5] {
        f.repo.insert(record(user, None), NOW).expect("insert");
    }
    let due = f
        .outbox
        .claim(NOW, NOW + Duration::from_secs(30), 10)
        .expect("claim");
    assert_eq!(due.len(), 3);
    f.outbox.delivered(due[0].id, NOW).expect("delivered");
    let retry_at = NOW + Duration::from_secs(1);
    f.outbox
        .retry(due[1].id, retry_at, "answered 500")
        .expect("retry");
    f.outbox.failed(due[2].id, NOW, "gave up").expect("failed");
    let status = f.outbox.status().expect("status");
    assert_eq!(status.len(), 1);
    assert_eq!(
        (status[0].pending, status[0].delivered, status[0].failed),
        (1, 1, 1)
    );
    // Settling twice does nothing: a delivered one stays delivered.
    f.outbox.retry(due[0].id, NOW, "late").expect("retry");
    assert_eq!(f.outbox.status().expect("status")[0].delivered, 1);
    assert!(f.outbox.claim(NOW, NOW, 10).expect("claim").is_empty());
    let again = f.outbox.claim(retry_at, retry_at, 10).expect("claim");
    assert_eq!(
        (again.len(), again[0].id, again[0].tries),
        (1, due[1].id, 2)
    );

    assert_eq!(
        f.outbox.purge(NOW).expect("purge"),
        0,
        "none finished before NOW"
    );
    let purged = f
        .outbox
        .purge(NOW + Duration::from_millis(1))
        .expect("purge");
    assert_eq!(purged, 2, "the delivered and the failed one");
    assert_eq!(f.outbox.status().expect("status")[0].pending, 1);
}

pub fn concurrent_claims_never_take_the_same_delivery(backend: Backend) {
    let f = outboxed(backend);
    for user in 10..50 {
        f.repo.insert(record(user, None), NOW).expect("insert");
    }
    let takers = 4;
    let barrier = Arc::new(Barrier::new(takers));
    let claimed: Vec<Vec<i64>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..takers)
            .map(|_| {
                let outbox = f.database.webhook_outbox();
                let barrier = barrier.clone();
                scope.spawn(move || {
                    barrier.wait();
                    let mut mine = Vec::new();
                    loop {
                        let due = outbox
                            .claim(NOW, NOW + Duration::from_secs(30), 3)
                            .expect("claim");
                        if due.is_empty() {
                            return mine;
                        }
                        mine.extend(due.iter().map(|d| d.id));
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("taker"))
            .collect()
    });
    let all: Vec<i64> = claimed.iter().flatten().copied().collect();
    let distinct: HashSet<i64> = all.iter().copied().collect();
    assert_eq!(all.len(), 40, "every delivery taken");
    assert_eq!(distinct.len(), 40, "none taken twice");
}
