//! What lands in the database: no token in plain text, and tokens that
//! survive a restart.

use actix_web::http::Method;
use diesel::prelude::*;
use diesel::sql_types::Text;
use tessera_persistence::Backend;

use crate::helpers::{send, spawn_app, spawn_app_on, token_of};

crate::both_backends!(storage:
    a_database_dump_holds_no_token,
    tokens_survive_a_restart,
);

#[derive(QueryableByName)]
struct Dump {
    #[diesel(sql_type = Text)]
    dump: String,
}

pub async fn a_database_dump_holds_no_token(backend: Backend) {
    let app = spawn_app(backend).await;
    let tokens: Vec<String> = [
        app.create_token(1, "one", &["submit_score"]).await,
        app.create_token(2, "two", &[]).await,
    ]
    .iter()
    .map(token_of)
    .collect();
    // The random part alone must not appear either (e.g. hex or raw bytes).
    let secrets: Vec<String> = tokens.iter().map(|t| t[4..].to_owned()).collect();
    let db = app.stop().await;
    let dump: Vec<u8> = match backend {
        Backend::Sqlite => {
            let path = db.sqlite_path().expect("sqlite path");
            let mut bytes = std::fs::read(path).expect("database file");
            if let Ok(wal) = std::fs::read(format!("{path}-wal")) {
                bytes.extend(wal);
            }
            bytes
        }
        Backend::Postgres => {
            let mut conn = PgConnection::establish(db.url()).expect("connect");
            diesel::sql_query("SELECT coalesce(string_agg(row_to_json(t)::text, ','), '') AS dump FROM api_tokens t")
                .get_result::<Dump>(&mut conn)
                .expect("dump")
                .dump
                .into_bytes()
        }
    };
    assert!(dump.len() > 100, "the dump holds the rows");
    for secret in &secrets {
        let hex: String = secret.bytes().map(|b| format!("{b:02x}")).collect();
        for needle in [secret.as_bytes(), hex.as_bytes()] {
            assert!(
                !dump.windows(needle.len()).any(|w| w == needle),
                "a token is readable in the dump"
            );
        }
    }
}

pub async fn tokens_survive_a_restart(backend: Backend) {
    let app = spawn_app(backend).await;
    let created = app.create_token(1, "durable", &["submit_score"]).await;
    let db = app.stop().await;
    let app = spawn_app_on(db).await;
    assert_eq!(app.list(1).await, vec![created.clone()]);
    let status = app.status_with(&token_of(&created)).await;
    assert_eq!(status.status, 200);
    assert_eq!(status.body["whoami"], 1);
    let reply = send(app.request(Method::GET, "/readyz")).await;
    assert_eq!(reply.status, 200);
}
