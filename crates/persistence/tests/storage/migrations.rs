//! Migrations run up, down and up again on each real backend, and a second
//! run applies nothing.

use tessera_persistence::testing::TestDatabase;
use tessera_persistence::{Backend, Database};

fn round_trip(backend: Backend) {
    let db = TestDatabase::new(backend);
    let database = Database::connect(&db.settings()).expect("connect");
    let applied = database.migrate().expect("up");
    assert!(applied >= 1);
    assert_eq!(database.migrate().expect("again"), 0, "re-run is a no-op");
    assert_eq!(database.revert_all().expect("down"), applied);
    assert_eq!(database.migrate().expect("up again"), applied);
    database.token_repository();
}

#[test]
fn sqlite_migrations_go_up_down_and_up() {
    round_trip(Backend::Sqlite);
}

#[test]
fn postgres_migrations_go_up_down_and_up() {
    round_trip(Backend::Postgres);
}

#[test]
fn sqlite_file_and_folder_are_created() {
    let dir = tempfile_dir();
    let path = format!("{}/nested/deeper/tessera.db", dir.display());
    let settings = tessera_persistence::DatabaseSettings {
        pool_size: 2,
        ..tessera_persistence::DatabaseSettings::for_url(format!("sqlite://{path}"))
    };
    Database::connect(&settings)
        .expect("connect")
        .migrate()
        .expect("migrate");
    assert!(std::path::Path::new(&path).is_file());
    std::fs::remove_dir_all(dir).expect("cleanup");
}

#[test]
fn unreachable_postgres_gives_the_drivers_reason() {
    let settings = tessera_persistence::DatabaseSettings {
        pool_size: 2,
        ..tessera_persistence::DatabaseSettings::for_url(
            "postgres://nobody@127.0.0.1:1/none".to_owned(),
        )
    };
    let error = Database::connect(&settings).expect_err("nothing listens on port 1");
    let text = error.to_string();
    assert!(text.contains("PostgreSQL"), "{text}");
    assert!(text.to_lowercase().contains("connect"), "{text}");
}

#[test]
fn unknown_scheme_is_refused() {
    let settings = tessera_persistence::DatabaseSettings {
        pool_size: 2,
        ..tessera_persistence::DatabaseSettings::for_url("mysql://root@localhost/x".to_owned())
    };
    let error = Database::connect(&settings).expect_err("unsupported");
    assert!(error.to_string().contains("mysql"), "{error}");
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "tessera-mig-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default()
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

#[test]
fn a_connection_whose_server_went_away_is_replaced_after_one_failure() {
    use diesel::connection::SimpleConnection;
    use diesel::{Connection, PgConnection};
    use tessera_domain::TokenRepository;

    let db = TestDatabase::postgres();
    let mut settings = db.settings();
    settings.pool_size = 1;
    let database = Database::connect(&settings).expect("connect");
    database.migrate().expect("migrate");
    let repo = database.token_repository();
    repo.ping().expect("alive");
    let name = db
        .url()
        .rsplit('/')
        .next()
        .expect("database name")
        .to_owned();
    let admin = std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| tessera_persistence::testing::DEFAULT_TEST_DATABASE_URL.to_owned());
    let mut conn = PgConnection::establish(&admin).expect("admin");
    conn.batch_execute(&format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = '{name}' AND pid <> pg_backend_pid()"
    ))
    .expect("terminate");
    // The pool does not test connections on checkout: the first use finds
    // the connection dead, and the pool replaces it for the next one.
    let first = repo.ping();
    let second = repo.ping();
    assert!(second.is_ok(), "first: {first:?}, second: {second:?}");
    assert!(database.queries_run() > 0);
}
