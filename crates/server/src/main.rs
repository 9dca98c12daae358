//! The `tessera` binary: parse the command line, load configuration, run.
//! Failures print one clear line and exit non-zero, never a backtrace.

use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser as _;
use tessera_domain::{Clock as _, SystemClock, UserId};
use tessera_http_adapter::SessionCodec;
use tessera_server::cli::{Cli, ClientsCommand, Command, SessionCommand, TokensCommand};
use tessera_server::settings::{Settings, Sources};
use tessera_server::{Application, operators, telemetry};

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
    let command = cli.command.unwrap_or(Command::Serve);
    // The document is the code's, whatever the configuration.
    if let Command::Openapi = command {
        println!("{}", tessera_http_adapter::openapi_json());
        return Ok(());
    }
    let settings = Settings::load(&Sources::from_process(cli.config))?;
    match command {
        Command::Openapi => Ok(()),
        Command::Clients(ClientsCommand::List) => {
            print!("{}", operators::list_clients(&settings)?);
            Ok(())
        }
        Command::Tokens(TokensCommand::Revoke { user, client }) => {
            print!(
                "{}",
                operators::revoke_tokens(&settings, &user, client.as_deref())?
            );
            Ok(())
        }
        Command::Healthcheck { url } => {
            print!("{}", operators::healthcheck(&settings, url.as_deref())?);
            Ok(())
        }
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
