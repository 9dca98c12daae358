//! End-to-end tests: the real application on a random port against real
//! SQLite and real PostgreSQL, and the real `tessera` binary. Every
//! behaviour runs on both backends through `both_backends!`.

mod audit;
mod auth;
mod canary;
mod cli;
mod clients;
mod docs;
mod errors;
mod faults;
mod helpers;
mod hostile;
mod idempotency;
mod lifecycle;
mod lifetime;
mod oauth;
mod operations;
mod proxy;
mod rotation;
mod status;
mod storage;
mod suspension;
mod tokens;
mod verification;
mod webhooks;

/// Generates one `#[actix_web::test]` per backend for each listed test
/// function `module::name(backend)`.
macro_rules! both_backends {
    ($module:ident: $($name:ident),* $(,)?) => {
        mod $module {
            mod sqlite {
                $(
                    #[actix_web::test]
                    async fn $name() {
                        crate::$module::$name(tessera_persistence::Backend::Sqlite).await;
                    }
                )*
            }
            mod postgres {
                $(
                    #[actix_web::test]
                    async fn $name() {
                        crate::$module::$name(tessera_persistence::Backend::Postgres).await;
                    }
                )*
            }
        }
    };
}
pub(crate) use both_backends;
