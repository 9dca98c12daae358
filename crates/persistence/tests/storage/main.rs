//! Storage conformance: one suite of behaviours of the `TokenRepository`
//! port, run against SQLite, PostgreSQL and the in-memory fake, so the
//! backends cannot drift apart. Plus migration round trips per backend.

mod migrations;
mod suite;

use std::sync::Arc;

use tessera_domain::TokenRepository;
use tessera_domain::testing::InMemoryTokenRepository;
use tessera_persistence::testing::TestDatabase;
use tessera_persistence::{Backend, Database};

/// Keeps the database alive for as long as the repository is used.
#[allow(missing_debug_implementations)]
pub struct Fixture {
    pub repo: Arc<dyn TokenRepository>,
    _db: Option<TestDatabase>,
}

fn real(backend: Backend) -> Fixture {
    let db = TestDatabase::new(backend);
    let database = Database::connect(&db.settings()).expect("connect");
    database.migrate().expect("migrate");
    Fixture {
        repo: Arc::new(database.token_repository()),
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
    Fixture {
        repo: Arc::new(InMemoryTokenRepository::default()),
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
            ping_answers
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

mod sqlite {
    conformance!(crate::sqlite);
}

mod postgres {
    conformance!(crate::postgres);
}

mod in_memory {
    conformance!(crate::in_memory);
}
