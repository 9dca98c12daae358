//! The `tessera` binary: parse the command line, load configuration, run.
//! Failures print one clear line and exit non-zero, never a backtrace.

use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser as _;
use tessera_domain::{Clock as _, SystemClock, UserId};
use tessera_http_adapter::SessionCodec;
use tessera_server::cli::{
    AuditCommand, Cli, ClientsCommand, Command, SessionCommand, TokensCommand, UsersCommand,
    WebhooksCommand,
};
use tessera_server::settings::{Settings, Sources};
use tessera_server::{Application, operators, telemetry};

/// glibc's malloc gives each thread that allocates its own arena (up to
/// eight per core) and keeps what was freed in each: the blocking pool's
/// threads, each filling cache entries between short-lived rows, left a
/// fresh instance on SQLite at ~97 MiB after a million verifications,
/// against ~84 MiB with two arenas and no loss of throughput. Past that,
/// the holes the fill leaves (each cache shard's outgrown hash table) stay
/// resident: glibc raises its mmap threshold as large blocks are freed, so
/// those tables end up inside the heap. A fixed 64 KiB threshold keeps them
/// in their own mappings, returned to the system when freed: ~90 → ~75 MiB
/// for 100k cached tokens. glibc reads both settings only at start-up, so
/// the service starts itself again with them (same process id, same
/// arguments) unless the operator set `MALLOC_ARENA_MAX`. Elsewhere, or if
/// that fails, it runs as it is.
fn tune_malloc() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        use std::os::unix::process::CommandExt as _;
        const ARENAS: &str = "MALLOC_ARENA_MAX";
        const MMAP_THRESHOLD: &str = "MALLOC_MMAP_THRESHOLD_";
        if std::env::var_os(ARENAS).is_some() {
            return;
        }
        let Ok(binary) = std::env::current_exe() else {
            return;
        };
        let mut args = std::env::args_os();
        let name = args
            .next()
            .unwrap_or_else(|| binary.clone().into_os_string());
        // Returns only when the new image could not start.
        let mut command = std::process::Command::new(&binary);
        command.arg0(name).args(args).env(ARENAS, "2");
        if std::env::var_os(MMAP_THRESHOLD).is_none() {
            command.env(MMAP_THRESHOLD, "65536");
        }
        let _ = command.exec();
    }
}

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
    if let Command::Serve = command {
        tune_malloc();
    }
    // The document is the code's, whatever the configuration.
    if let Command::Openapi = command {
        // The document is the same whatever the file says, but a file that
        // is not there is still a mistake worth saying.
        if let Some(file) = &cli.config {
            std::fs::metadata(file)
                .with_context(|| format!("cannot read configuration file {}", file.display()))?;
        }
        return emit(&format!("{}\n", tessera_http_adapter::openapi_json()));
    }
    let settings = Settings::load(&Sources::from_process(cli.config)?)?;
    match command {
        Command::Openapi => Ok(()),
        Command::Clients(ClientsCommand::List) => emit(&operators::list_clients(&settings)?),
        Command::Tokens(TokensCommand::Revoke { user, client }) => emit(&operators::revoke_tokens(
            &settings,
            &user,
            client.as_deref(),
        )?),
        Command::Users(UsersCommand::Suspend { user, reason }) => emit(&operators::suspend_user(
            &settings,
            &user,
            reason.as_deref(),
        )?),
        Command::Users(UsersCommand::Resume { user }) => {
            emit(&operators::resume_user(&settings, &user)?)
        }
        Command::Audit(AuditCommand::Verify { user }) => {
            emit(&operators::verify_audit(&settings, user.as_deref())?)
        }
        Command::Webhooks(WebhooksCommand::Status) => emit(&operators::webhooks_status(&settings)?),
        Command::Healthcheck { url } => emit(&operators::healthcheck(&settings, url.as_deref())?),
        Command::Serve => serve(&settings),
        Command::Migrate => {
            let database = tessera_persistence::Database::connect(&settings.database)?;
            let applied = database.migrate();
            let backend = database.backend();
            // No pool thread may be inside libpq when the process exits.
            database.close(operators::CLOSE_WITHIN);
            emit(&format!(
                "applied {} migration(s) to the {backend} database\n",
                applied?
            ))
        }
        Command::Session(SessionCommand::Mint { user, ttl }) => {
            let user = UserId::parse(&user).context("--user must be a positive integer")?;
            let codec = SessionCodec::new(&settings.session)?;
            let value = codec.mint(user, ttl, SystemClock.now())?;
            emit(&format!("{}\n", value.expose()))
        }
    }
}

/// Writes a command's result. A reader that stopped reading (`| head`) is
/// not the command's failure: the default `print!` would panic there.
fn emit(text: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("cannot write to standard output"),
    }
}

fn serve(settings: &Settings) -> anyhow::Result<()> {
    telemetry::init(&settings.log);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        // Listened for before the service opens its port: a signal sent as
        // soon as it answers must drain it, not find the default action.
        use tokio::signal::unix::{SignalKind, signal};
        let signals = match (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) {
            (Ok(interrupt), Ok(terminate)) => Some((interrupt, terminate)),
            _ => {
                tracing::error!("cannot listen for SIGINT/SIGTERM: stop the process with SIGKILL");
                None
            }
        };
        let application = Application::build(settings)?;
        tracing::info!(
            environment = settings.environment_name(),
            backend = %application.database().backend(),
            database = %settings.database.redacted_url(),
            address = %application.address(),
            "tessera listening on {}",
            application.address()
        );
        if let Some((interrupt, terminate)) = signals {
            tokio::spawn(stop_on_signals(interrupt, terminate, application.handle()));
        }
        application.run_until_stopped().await?;
        tracing::info!("tessera stopped");
        Ok(())
    })
}

/// SIGINT and SIGTERM both drain: no new connections, in-flight requests
/// finish (up to the grace period), then the process exits 0. A second
/// signal during the drain stops at once.
async fn stop_on_signals(
    mut interrupt: tokio::signal::unix::Signal,
    mut terminate: tokio::signal::unix::Signal,
    server: actix_web::dev::ServerHandle,
) {
    let first = tokio::select! {
        _ = interrupt.recv() => "SIGINT",
        _ = terminate.recv() => "SIGTERM",
    };
    tracing::info!(
        signal = first,
        "shutting down: finishing in-flight requests (a second signal stops at once)"
    );
    let drain = server.stop(true);
    tokio::select! {
        () = drain => {}
        _ = interrupt.recv() => {
            tracing::warn!("second signal: stopping without waiting for in-flight requests");
            server.stop(false).await;
        }
        _ = terminate.recv() => {
            tracing::warn!("second signal: stopping without waiting for in-flight requests");
            server.stop(false).await;
        }
    }
}
