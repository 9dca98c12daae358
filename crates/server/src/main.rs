//! The `tessera` binary: parse the command line, load configuration, run.
//! Failures print one clear line and exit non-zero, never a backtrace.

use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser as _;
use tessera_domain::{Clock as _, SystemClock, UserId};
use tessera_http_adapter::SessionCodec;
use tessera_server::cli::{Cli, Command, SessionCommand};
use tessera_server::settings::{Settings, Sources};
use tessera_server::{Application, telemetry};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("tessera: error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let settings = Settings::load(&Sources::from_process(cli.config))?;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(&settings),
        Command::Migrate => {
            let database = tessera_persistence::Database::connect(&settings.database)?;
            let applied = database.migrate()?;
            println!(
                "applied {applied} migration(s) to the {} database",
                database.backend()
            );
            Ok(())
        }
        Command::Session(SessionCommand::Mint { user, ttl }) => {
            let user = UserId::parse(&user).context("--user must be a positive integer")?;
            let codec = SessionCodec::new(&settings.session)?;
            let value = codec.mint(user, ttl, SystemClock.now())?;
            println!("{}", value.expose());
            Ok(())
        }
    }
}

fn serve(settings: &Settings) -> anyhow::Result<()> {
    telemetry::init(&settings.log);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let application = Application::build(settings)?;
        tracing::info!(address = %application.address(), "tessera listening on {}", application.address());
        application.run_until_stopped().await?;
        tracing::info!("tessera stopped");
        Ok(())
    })
}
