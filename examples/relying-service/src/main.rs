//! `relying-service`: the example scoreboard on `LISTEN` (default
//! 127.0.0.1:8090), checking tokens with the Tessera at `TESSERA_URL` as
//! the resource server `TESSERA_CLIENT_ID` / `TESSERA_CLIENT_SECRET`.

use std::time::Duration;

use actix_web::{App, HttpServer};
use anyhow::Context as _;
use tessera_client::Verifier;

fn setting(name: &str) -> anyhow::Result<String> {
    std::env::var(name).with_context(|| format!("{name} is not set (see docs/integrating.md)"))
}

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    // RUST_LOG when set; colours only on a terminal, not in a log file.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .init();
    let tessera = std::env::var("TESSERA_URL").unwrap_or_else(|_| "http://127.0.0.1:8080".into());
    let listen = std::env::var("LISTEN").unwrap_or_else(|_| "127.0.0.1:8090".into());
    let mut builder = Verifier::builder(
        &tessera,
        &setting("TESSERA_CLIENT_ID")?,
        &setting("TESSERA_CLIENT_SECRET")?,
    );
    if let Ok(ms) = std::env::var("MAX_STALENESS_MS") {
        let ms = ms
            .parse()
            .context("MAX_STALENESS_MS is not a number of milliseconds")?;
        builder = builder.max_staleness(Duration::from_millis(ms));
    }
    let verifier = builder.build()?;
    println!("relying-service on http://{listen}, checking tokens with {tessera}");
    HttpServer::new(move || {
        App::new()
            .app_data(verifier.clone())
            .configure(relying_service::routes)
    })
    .bind(&listen)
    .with_context(|| format!("cannot listen on {listen} (set LISTEN to another address)"))?
    .run()
    .await?;
    Ok(())
}
