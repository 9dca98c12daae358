//! Storage conformance: one suite of behaviours of the `TokenRepository`
//! port, run against SQLite, PostgreSQL and the in-memory fake, so the
//! backends cannot drift apart. Plus migration round trips per backend.

mod audit_suite;
mod idempotency_suite;
mod lifecycle_suite;
mod migrations;
mod oauth_suite;
mod suite;
mod webhook_suite;

use std::sync::Arc;

use tessera_domain::testing::InMemoryStore;
use tessera_domain::{
    AuditLog, ClientRepository, CodeRepository, IdempotencyStore, RevocationLog, TokenRepository,
};
use tessera_persistence::testing::TestDatabase;
use tessera_persistence::{Backend, Database};

/// Keeps the database alive for as long as the repository is used.
#[allow(missing_debug_implementations)]
pub struct Fixture {
    pub repo: Arc<dyn TokenRepository>,
    pub clients: Arc<dyn ClientRepository>,
    pub codes: Arc<dyn CodeRepository>,
    pub revocations: Arc<dyn RevocationLog>,
    pub idempotency: Arc<dyn IdempotencyStore>,
    pub audit: Arc<dyn AuditLog>,
    _db: Option<TestDatabase>,
}

fn real(backend: Backend) -> Fixture {
    let db = TestDatabase::new(backend);
    let database = Database::connect(&db.settings()).expect("connect");
    database.migrate().expect("migrate");
    let oauth = Arc::new(database.oauth_repository());
    Fixture {
        repo: Arc::new(database.token_repository()),
        clients: oauth.clone(),
        codes: oauth,
        revocations: Arc::new(database.revocation_log()),
        idempotency: Arc::new(database.idempotency_store()),
        audit: Arc::new(database.audit_log()),
        _db: Some(db),
    }
}

pub fn sqlite() -> Fixture {
    real(Backend::Sqlite)
}

pub fn postgres() -> Fixture {
    real(Backend::Postgres)
}

pub fn in_memory() -> Fixture {
    let store = Arc::new(InMemoryStore::default());
    Fixture {
        repo: store.clone(),
        clients: store.clone(),
        codes: store.clone(),
        revocations: store.clone(),
        idempotency: store.clone(),
        audit: store,
        _db: None,
    }
}

macro_rules! conformance {
    ($make:path) => {
        conformance!(@each $make;
            inserted_token_is_found_by_fingerprint_with_every_field,
            unknown_fingerprint_is_none,
            duplicate_fingerprint_is_refused,
            second_unexpired_token_from_a_client_conflicts,
            expired_client_token_is_replaced_in_the_same_insert,
            tokens_without_client_are_unlimited,
            same_client_for_different_users_is_fine,
            list_is_the_users_own_ordered_by_creation,
            delete_removes_only_the_owners_token,
            concurrent_client_inserts_yield_exactly_one_success,
            concurrent_plain_inserts_all_succeed,
            ping_answers,
            revocation_by_client_touches_only_that_clients_token,
            usage_is_recorded_and_never_moves_back,
            usage_of_many_tokens_is_recorded_in_one_call,
            many_tokens_are_found_at_once
        );
        oauth_conformance!(@each $make;
            client_round_trips_every_field,
            client_ids_and_secrets_are_unique,
            clients_are_capped_per_author,
            concurrent_client_creation_stops_exactly_at_the_cap,
            client_update_sets_and_clears_fields,
            client_secret_is_replaced,
            deleting_a_client_takes_its_tokens_and_codes_and_frees_a_slot,
            code_is_stored_and_found,
            redeeming_marks_the_code_and_replaces_the_clients_token,
            a_code_is_redeemed_once_even_concurrently,
            replay_revocation_deletes_the_issued_token,
            expired_codes_are_purged,
            every_deletion_is_logged_in_order,
            purged_revocations_leave_a_mark,
            all_clients_are_listed_oldest_first,
            revoking_all_of_a_users_tokens_is_logged_and_spares_others,
            the_last_cursor_is_where_new_entries_start
        );
        idempotency_conformance!(@each $make;
            a_key_is_claimed_once_and_then_answers_what_was_stored,
            the_key_with_another_body_is_a_mismatch,
            an_unfinished_claim_is_in_progress_until_abandoned_then_taken_over,
            a_released_key_is_claimed_again,
            keys_are_forgotten_after_a_day,
            users_and_scopes_do_not_share_keys,
            a_client_completes_its_claim_with_its_id,
            concurrent_claims_of_one_key_yield_exactly_one
        );
        audit_conformance!(@each $make;
            a_created_token_appends_its_event_to_its_users_chain,
            a_refused_creation_leaves_no_event,
            creations_stored_together_are_answered_and_chained_as_one_by_one,
            a_taken_fingerprint_in_a_batch_fails_only_its_own_creation,
            concurrent_batches_of_the_same_users_number_their_events_without_gaps,
            concurrent_creations_of_one_user_number_their_events_without_gaps,
            a_granted_token_is_created_by_its_client,
            an_owners_deletion_appends_token_deleted_and_a_refused_one_nothing,
            a_change_appends_token_updated_with_what_changed_and_a_refused_one_nothing,
            a_rotation_appends_token_rotated_by_whoever_asked,
            operators_suspensions_and_revocations_are_recorded_once_each,
            revocations_by_a_client_a_new_grant_and_reuse_name_their_reason,
            a_clients_life_is_in_its_authors_trail_and_its_tokens_in_their_owners,
            a_replayed_codes_token_is_revoked_for_reuse,
            a_canary_is_named_to_a_revoking_client_and_left_alone,
            a_recorded_event_is_chained_like_a_changes,
            tokens_about_to_expire_are_warned_of_once_even_by_concurrent_sweeps,
            clients_deleted_at_once_with_tokens_of_the_same_users_both_commit,
            a_suspension_and_a_client_deletion_at_once_both_commit,
            an_expired_client_token_replaced_by_a_new_one_is_revoked
        );
        lifecycle_conformance!(@each $make;
            a_token_is_found_by_its_public_id_only_for_its_owner,
            a_restriction_given_at_insert_round_trips,
            a_change_sets_only_what_it_names,
            an_expiry_only_moves_earlier,
            concurrent_expiry_changes_keep_the_earliest,
            changing_another_users_or_an_unknown_token_is_not_found,
            refusal_changes_are_logged_like_deletions_and_renames_are_not,
            deleting_by_public_id_is_the_owners_and_logged,
            public_ids_are_unique,
            a_rotation_copies_the_rights_and_keeps_the_old_token_through_its_overlap,
            a_rotation_without_overlap_deletes_the_old_token,
            superseded_disabled_expired_and_unknown_tokens_do_not_rotate,
            concurrent_rotations_of_one_token_yield_exactly_one,
            revoking_a_lineage_deletes_the_token_and_all_its_successors,
            ended_overlaps_are_purged_and_running_ones_kept,
            a_suspension_refuses_the_users_tokens_and_blocks_new_ones_until_resumed,
            a_suspension_and_concurrent_creations_never_interleave,
            uses_record_the_place_and_the_recent_addresses
        );
    };
    (@each $make:path; $($name:ident),*) => {
        $(
            #[test]
            fn $name() {
                let fixture = $make();
                crate::suite::$name(fixture.repo.clone());
            }
        )*
    };
}

macro_rules! oauth_conformance {
    (@each $make:path; $($name:ident),*) => {
        $(
            #[test]
            fn $name() {
                let fixture = $make();
                crate::oauth_suite::$name(&fixture);
            }
        )*
    };
}

macro_rules! idempotency_conformance {
    (@each $make:path; $($name:ident),*) => {
        $(
            #[test]
            fn $name() {
                let fixture = $make();
                crate::idempotency_suite::$name(&fixture);
            }
        )*
    };
}

macro_rules! audit_conformance {
    (@each $make:path; $($name:ident),*) => {
        $(
            #[test]
            fn $name() {
                let fixture = $make();
                crate::audit_suite::$name(&fixture);
            }
        )*
    };
}

macro_rules! lifecycle_conformance {
    (@each $make:path; $($name:ident),*) => {
        $(
            #[test]
            fn $name() {
                let fixture = $make();
                crate::lifecycle_suite::$name(&fixture);
            }
        )*
    };
}

mod sqlite {
    conformance!(crate::sqlite);
}

mod postgres {
    conformance!(crate::postgres);
}

mod in_memory {
    conformance!(crate::in_memory);
}

macro_rules! webhook_conformance {
    ($($name:ident),* $(,)?) => {
        mod webhooks {
            $(
                mod $name {
                    #[test]
                    fn sqlite() {
                        crate::webhook_suite::$name(tessera_persistence::Backend::Sqlite);
                    }

                    #[test]
                    fn postgres() {
                        crate::webhook_suite::$name(tessera_persistence::Backend::Postgres);
                    }
                }
            )*
        }
    };
}

// The outbox has no in-memory fake: nothing above the ports reads it in
// tests without a database.
webhook_conformance!(
    matching_events_are_outboxed_with_them_and_a_refused_change_adds_nothing,
    a_batch_of_creations_is_outboxed_as_one_by_one,
    a_claim_holds_its_deliveries_for_the_lease_then_they_are_due_again,
    settled_deliveries_are_counted_retried_when_due_and_purged_when_old,
    concurrent_claims_never_take_the_same_delivery,
);

/// PostgreSQL's per-user locks are its own: a batch of creations takes
/// them without waiting, and leaves out (`Busy`) a user whose lock a
/// suspension holds, storing the others.
#[test]
fn postgres_a_creation_batch_leaves_out_a_user_whose_lock_is_held() {
    use diesel::{Connection as _, RunQueryDsl as _};
    use tessera_domain::InsertTokenError;

    let db = TestDatabase::new(Backend::Postgres);
    let database = Database::connect(&db.settings()).expect("connect");
    database.migrate().expect("migrate");
    let repo = database.token_repository();
    let audit = database.audit_log();
    let mut holder = diesel::PgConnection::establish(db.url()).expect("connect");
    // As a suspension of user 31 holds it (the user lock space, key 31).
    diesel::sql_query("SELECT pg_advisory_lock(7261536, 31)")
        .execute(&mut holder)
        .expect("lock");
    let batch = vec![suite::record(30, None), suite::record(31, None)];
    let answers = repo.insert_many(batch.clone(), suite::NOW);
    assert!(answers[0].is_ok(), "{:?}", answers[0]);
    assert!(
        matches!(answers[1], Err(InsertTokenError::Busy)),
        "{:?}",
        answers[1]
    );
    assert!(repo.find_by_hash(&batch[1].hash).expect("find").is_none());
    let user = |id| tessera_domain::UserId::new(id).expect("positive");
    assert!(audit.events(user(31), 0, 10).expect("events").is_empty());

    diesel::sql_query("SELECT pg_advisory_unlock(7261536, 31)")
        .execute(&mut holder)
        .expect("unlock");
    let again = repo.insert_many(vec![batch[1].clone()], suite::NOW);
    assert!(again[0].is_ok(), "{:?}", again[0]);
    assert_eq!(audit.events(user(31), 0, 10).expect("events").len(), 1);
}
