//! Throwaway databases for tests: a temporary SQLite file, or a fresh
//! PostgreSQL database created on the server at `TEST_DATABASE_URL` and
//! dropped when the value is dropped. No two tests share state.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};

use crate::{Backend, DatabaseSettings};

pub const DEFAULT_TEST_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

#[derive(Debug)]
pub struct TestDatabase {
    url: String,
    postgres: Option<(String, String)>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDatabase {
    pub fn new(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => Self::sqlite(),
            Backend::Postgres => Self::postgres(),
        }
    }

    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let url = format!("sqlite://{}/tessera.db", dir.path().display());
        Self {
            url,
            postgres: None,
            _dir: Some(dir),
        }
    }

    /// # Panics
    /// When no PostgreSQL answers, with a message saying how to start one.
    pub fn postgres() -> Self {
        let admin = std::env::var("TEST_DATABASE_URL")
            .unwrap_or_else(|_| DEFAULT_TEST_DATABASE_URL.to_owned());
        let mut conn = admin_connection(&admin);
        let name = unique_name();
        conn.batch_execute(&format!("CREATE DATABASE {name}"))
            .unwrap_or_else(|e| panic!("cannot create test database {name}: {e}"));
        Self {
            url: with_database(&admin, &name),
            postgres: Some((admin, name)),
            _dir: None,
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// The SQLite file, for tests that read the raw bytes on disk.
    pub fn sqlite_path(&self) -> Option<&str> {
        self.url.strip_prefix("sqlite://")
    }

    pub fn settings(&self) -> DatabaseSettings {
        DatabaseSettings {
            pool_size: 4,
            ..DatabaseSettings::for_url(self.url.clone())
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Some((admin, name)) = &self.postgres
            && let Ok(mut conn) = PgConnection::establish(admin)
        {
            let _ = conn.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
        }
    }
}

fn admin_connection(admin: &str) -> PgConnection {
    PgConnection::establish(admin).unwrap_or_else(|e| {
        panic!(
            "\n\nPostgreSQL is not reachable at TEST_DATABASE_URL={admin}\n  ({})\n\
             Start one: `make test` does it for you (docker-compose or a throwaway cluster), \
             or run `make db-up`, or point TEST_DATABASE_URL at a server where this user may \
             CREATE DATABASE.\n",
            e.to_string().trim()
        )
    })
}

fn unique_name() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    format!(
        "tessera_test_{}_{}_{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    )
}

/// `postgres://u@h:p/old?x` → `postgres://u@h:p/name?x`.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let path_start = base[authority_start..]
        .find('/')
        .map_or(base.len(), |i| authority_start + i);
    let mut out = format!("{}/{name}", &base[..path_start]);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn database_name_is_swapped_in_the_url() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/postgres", "t1"),
            "postgres://postgres@127.0.0.1:5432/t1"
        );
        assert_eq!(
            with_database("postgres://h?sslmode=disable", "t1"),
            "postgres://h/t1?sslmode=disable"
        );
    }
}
