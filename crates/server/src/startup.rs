//! Builds the application from settings: chooses the adapters, wires them
//! into the services, binds the listener, and runs the background work
//! (usage flushing) that stops with the server.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::HttpServer;
use actix_web::dev::Server;
use anyhow::Context as _;
use tessera_domain::{
    Clock, Keyring, LogFollower, PermissionCatalogue, RevocationLog, SystemClock, TokenCache,
    TokenFormat, TokenService,
};
use tessera_http_adapter::{AppState, SessionCodec, app};
use tessera_oauth_clients::{ClientService, Core, CoreSettings, Ports, StaticClientDirectory};
use tessera_persistence::{Database, DatabaseSettings};

use crate::background::Periodic;
use crate::settings::Settings;
use crate::webhooks::Dispatcher;

/// In-flight requests get this long to finish after SIGINT/SIGTERM.
const SHUTDOWN_GRACE_SECS: u64 = 30;
/// The longest shutdown waits for background threads and pool threads
/// (one stuck on a frozen connection is left behind after it).
const CLOSE_WITHIN: Duration = Duration::from_secs(3);
/// How often the revocation view's freshness is looked at, to log when it
/// goes stale and when it recovers.
const WATCH_EVERY: Duration = Duration::from_millis(50);
/// How often the listener reads revocations other instances made: the
/// bound on how long they take to reach this instance's cache.
const REVOCATION_POLL: Duration = Duration::from_millis(50);
const PURGE_EVERY: Duration = Duration::from_secs(600);
/// How often cached entries in use are renewed before they expire, and
/// how many at most per round (a few statements of 500 each).
const REFRESH_EVERY: Duration = Duration::from_secs(1);
/// How often rotated tokens whose overlap ended are deleted. They are
/// refused and left out of lists from the end of the overlap on; the sweep
/// only keeps the table from filling with them.
const SUPERSEDED_SWEEP_EVERY: Duration = Duration::from_secs(30);
const REFRESH_LIMIT: usize = 10_000;
/// How often tokens coming within `tokens.expiry_warning_days` of their
/// expiry are looked for: one indexed range read when there are none.
const EXPIRY_SWEEP_EVERY: Duration = Duration::from_secs(5);
/// Warnings appended per look at most (each its own transaction); more wait
/// for the next look.
const EXPIRY_WARNINGS_PER_SWEEP: usize = 500;
/// How soon a canary's use reaches the audit trail (and webhooks).
const CANARY_FLUSH_EVERY: Duration = Duration::from_millis(250);

/// The services of one instance, as wired from settings.
#[derive(Debug)]
pub struct Services {
    pub state: AppState,
    pub tokens: Arc<TokenService>,
    pub clients: Arc<ClientService>,
    pub cache: Arc<TokenCache>,
}

pub struct Application {
    port: u16,
    host: String,
    server: Server,
    tokens: Arc<TokenService>,
    database: Database,
    /// Databases only background work uses (the SQLite log follower's).
    own_databases: Vec<Database>,
    background: Vec<Periodic>,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

/// Connects to the database and applies pending migrations.
pub fn open_database(settings: &Settings) -> anyhow::Result<Database> {
    let database = connect(settings)?;
    database.migrate()?;
    Ok(database)
}

/// The configured database, writing the webhook outbox rows of every event
/// it appends: also an operator's command's events reach the receivers.
pub fn connect(settings: &Settings) -> anyhow::Result<Database> {
    let subscriptions = settings
        .receivers()?
        .into_iter()
        .map(|r| r.subscription)
        .collect();
    Ok(Database::connect(&settings.database)?.with_subscriptions(subscriptions))
}

pub fn build_services(
    settings: &Settings,
    database: &Database,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<Services> {
    let catalogue =
        PermissionCatalogue::new(settings.permissions.clone()).context("permissions")?;
    let keyring = Keyring::from_base64(settings.security.secret_key.expose())
        .context("security.secret_key")?;
    let built_in =
        StaticClientDirectory::new(&settings.oauth.clients, &catalogue, &keyring, clock.now())?;
    let format = TokenFormat::new(settings.tokens.prefix.clone()).context("tokens.prefix")?;
    let oauth_store = Arc::new(database.oauth_repository());
    let Core {
        tokens,
        clients,
        oauth,
        cache,
    } = Core::wire(
        Ports {
            tokens: Arc::new(database.token_repository()),
            clients: oauth_store.clone(),
            codes: oauth_store,
            idempotency: Arc::new(database.idempotency_store()),
        },
        CoreSettings {
            keyring,
            format,
            catalogue,
            built_in,
            client_cap: settings.oauth.client_cap,
            code_ttl_secs: settings.oauth.code_ttl_secs,
            cache: settings.cache.into(),
            max_lifetime_days: settings.tokens.max_lifetime_days,
        },
        clock,
    );
    let sessions = SessionCodec::new(&settings.session).context("session")?;
    let deadlines = database.deadlines();
    let mut state = AppState::new(
        tokens.clone(),
        oauth,
        sessions,
        Arc::new(database.revocation_log()),
        Arc::new(database.audit_log()),
        Duration::from_secs(settings.revocations.long_poll_secs),
    )
    .with_deadline(deadlines.acquire + deadlines.statement)
    .with_trusted_proxies(settings.server.trusted_proxies()?);
    if let Some(path) = settings.database.url.expose().strip_prefix("sqlite://") {
        state = state.with_storage_probe(storage_probe(path));
    }
    Ok(Services {
        state,
        tokens,
        clients,
        cache,
    })
}

/// Whether the SQLite file's volume takes writes: a few pages written,
/// synced and removed beside it. SQLite itself may still find room in its
/// file on a full disk; this says whether the next page would fit.
fn storage_probe(database_path: &str) -> tessera_http_adapter::StorageProbe {
    let folder = std::path::Path::new(database_path)
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map_or_else(
            || std::path::PathBuf::from("."),
            std::path::Path::to_path_buf,
        );
    Arc::new(move || {
        use std::io::Write as _;
        let probe = folder.join(format!(".tessera-write-probe-{}", std::process::id()));
        let written = std::fs::File::create(&probe).and_then(|mut file| {
            file.write_all(&[0u8; 16 * 1024])?;
            file.sync_all()
        });
        let _ = std::fs::remove_file(&probe);
        written.map_err(|e| format!("the volume does not take writes: {e}"))
    })
}

/// On SQLite, revocations made by another process on the same file (the
/// operators' `tessera tokens revoke`) are read from the log; each
/// successful round proves the revocation view fresh. Its own
/// one-connection pool keeps these reads apart from the requests' pool.
fn follow_revocations(
    settings: &Settings,
    cache: Arc<TokenCache>,
) -> anyhow::Result<(Periodic, Database)> {
    let own = Database::connect(&DatabaseSettings {
        pool_size: 1,
        ..settings.database.clone()
    })?;
    let mut follower = LogFollower::new(Arc::new(own.revocation_log()), cache);
    follower.poll()?;
    let task = Periodic::spawn("revocation-follower", REVOCATION_POLL, move || {
        follower.poll().map(drop)
    })?;
    Ok((task, own))
}

/// Logs once when the revocation view goes stale (cached verifications
/// stop being served) and once when it is fresh again.
fn watch_freshness(cache: Arc<TokenCache>) -> std::io::Result<Periodic> {
    let mut stale = false;
    Periodic::spawn("revocation-watch", WATCH_EVERY, move || {
        let view = cache.view();
        let fresh = view.is_fresh();
        if stale && fresh {
            tracing::info!("revocation view is fresh again: cached verifications are served");
        } else if !stale && !fresh {
            tracing::warn!(
                age_ms = view.age().map(|age| age.as_millis()),
                deadline_ms = view.max_staleness().map(|d| d.as_millis()),
                "revocation view is stale: verifications go to the database until it is proven \
                 fresh again"
            );
        }
        stale = !fresh;
        Ok(())
    })
}

/// Never fails a request: on failure the uses stay queued for the next round.
fn flush_usage(tokens: &TokenService) -> anyhow::Result<()> {
    let started = Instant::now();
    let written = tokens.flush_usage()?;
    if written > 0 {
        let elapsed_ms = started.elapsed().as_millis();
        tracing::debug!(written, elapsed_ms, "lastUsedAt flushed");
    }
    Ok(())
}

fn warn_expiring(tokens: &TokenService, within: Duration) -> anyhow::Result<()> {
    let warned = tokens.warn_expiring(within, EXPIRY_WARNINGS_PER_SWEEP)?;
    if warned > 0 {
        tracing::info!(warned, "token.expiring appended");
    }
    Ok(())
}

/// Never fails a request: on failure the alarms stay queued for the next
/// round.
fn flush_canary_uses(tokens: &TokenService) -> anyhow::Result<()> {
    let written = tokens.flush_canary_uses(|used| {
        // Never the token: its id says which one it was.
        tracing::warn!(
            user = used.canary.user.get(),
            token_id = %used.canary.id,
            ip = used.ip.map(|ip| ip.to_string()),
            route = %used.route,
            resource_server = used.resource_server.as_deref(),
            uses = used.uses,
            "a canary token was used: whoever presented it holds a leaked credential"
        );
    })?;
    if written > 0 {
        tracing::debug!(written, "canary uses recorded");
    }
    Ok(())
}

impl Application {
    pub fn build(settings: &Settings) -> anyhow::Result<Self> {
        Self::build_with_clock(settings, Arc::new(SystemClock))
    }

    /// Tests pass a manual clock to cross expiry without sleeping.
    pub fn build_with_clock(settings: &Settings, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        let database = open_database(settings)?;
        let services = build_services(settings, &database, clock)?;
        let address = (settings.server.host.as_str(), settings.server.port);
        let listener = TcpListener::bind(address).map_err(|error| {
            let hint = if error.kind() == std::io::ErrorKind::AddrInUse {
                " — another Tessera, or another program, holds that port: stop it, or set \
                 server.port (TESSERA__SERVER__PORT; 0 picks a free one)"
            } else {
                ""
            };
            anyhow::anyhow!(
                "cannot listen on {}:{}: {error}{hint}",
                settings.server.host,
                settings.server.port
            )
        })?;
        let port = listener.local_addr()?.port();
        // The recorder is the serving process's: operators' commands, which
        // build the same services, install none.
        let metrics = crate::metrics::handle();
        let state = match &metrics {
            Some(handle) => services
                .state
                .clone()
                .with_metrics(crate::metrics::renderer(
                    handle.clone(),
                    database.clone(),
                    services.cache.clone(),
                )),
            None => services.state.clone(),
        };
        let server = HttpServer::new(move || app(state.clone()))
            // The binary handles SIGINT and SIGTERM alike (both drain).
            .disable_signals()
            // More blocking threads than pooled connections would only
            // queue on the pool, each with its own stack and allocator arena.
            .worker_max_blocking_threads(settings.database.pool_size.max(2) as usize)
            .listen(listener)?
            .shutdown_timeout(SHUTDOWN_GRACE_SECS)
            .run();
        let mut background = Vec::new();
        let tokens = services.tokens.clone();
        background.push(Periodic::spawn(
            "usage-flush",
            Duration::from_secs(settings.tokens.usage_flush_secs.max(1)),
            move || flush_usage(&tokens),
        )?);
        let tokens = services.tokens.clone();
        background.push(Periodic::spawn(
            "canary-alarms",
            CANARY_FLUSH_EVERY,
            move || flush_canary_uses(&tokens),
        )?);
        // Also without receivers: what removed ones left is settled.
        let dispatcher = Arc::new(Dispatcher::new(
            Arc::new(database.webhook_outbox()),
            settings.receivers()?,
            services.tokens.clock(),
        )?);
        let delivering = dispatcher.clone();
        background.push(Periodic::spawn(
            "webhooks",
            dispatcher.poll_every(),
            move || delivering.deliver_due().map(drop),
        )?);
        background.push(Periodic::spawn("webhook-purge", PURGE_EVERY, move || {
            dispatcher.purge().map(drop)
        })?);
        let tokens = services.tokens.clone();
        let ahead = services.cache.refresh_ahead();
        background.push(Periodic::spawn(
            "cache-refresh",
            REFRESH_EVERY,
            // On failure entries expire and are read again on demand.
            move || tokens.refresh_cache(ahead, REFRESH_LIMIT).map(drop),
        )?);
        if settings.tokens.expiry_warning_days > 0 {
            let tokens = services.tokens.clone();
            let within =
                Duration::from_secs(u64::from(settings.tokens.expiry_warning_days) * 24 * 3600);
            background.push(Periodic::spawn(
                "expiry-warnings",
                EXPIRY_SWEEP_EVERY,
                move || warn_expiring(&tokens, within),
            )?);
        }
        let tokens = services.tokens.clone();
        background.push(Periodic::spawn(
            "superseded-sweep",
            SUPERSEDED_SWEEP_EVERY,
            move || tokens.purge_superseded().map(drop),
        )?);
        if let Some(handle) = metrics {
            background.push(Periodic::spawn(
                "metrics-upkeep",
                crate::metrics::UPKEEP_EVERY,
                move || {
                    handle.run_upkeep();
                    Ok(())
                },
            )?);
        }
        // Other instances' revocations reach this cache within one poll,
        // and the heartbeat proves the view fresh several times a deadline.
        let mut own_databases = Vec::new();
        if let Some((mut listener, mut heartbeat)) =
            database.revocation_listener(settings.database.url.expose(), services.cache.clone())
        {
            // A first failure shows in the log; the thread keeps trying.
            if let Err(error) = listener.poll() {
                tracing::warn!(error = format!("{error:#}"), "revocation listener is down");
            }
            background.push(Periodic::spawn(
                "revocation-listener",
                REVOCATION_POLL,
                move || listener.poll(),
            )?);
            let deadline = Duration::from_millis(settings.cache.max_staleness_ms.max(1));
            background.push(Periodic::spawn(
                "revocation-heartbeat",
                tessera_persistence::HeartbeatSender::interval(deadline),
                move || heartbeat.beat(),
            )?);
        } else {
            let (follower, own) = follow_revocations(settings, services.cache.clone())?;
            background.push(follower);
            own_databases.push(own);
        }
        background.push(watch_freshness(services.cache.clone())?);
        let log = database.revocation_log();
        let retention = Duration::from_secs(settings.revocations.retention_secs);
        let clock_for_purge = services.tokens.clone();
        background.push(Periodic::spawn(
            "revocation-purge",
            PURGE_EVERY,
            move || {
                let cutoff = clock_for_purge.now() - retention;
                log.purge_before(cutoff).map(drop)
            },
        )?);
        Ok(Self {
            port,
            host: settings.server.host.clone(),
            server,
            tokens: services.tokens,
            database,
            own_databases,
            background,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn address(&self) -> String {
        format!("http://{}:{}", self.host, self.port)
    }

    /// The database this instance uses (tests count its queries).
    pub fn database(&self) -> Database {
        self.database.clone()
    }

    /// A handle that stops the server gracefully (tests use it).
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// Serves until stopped (the binary stops it on SIGINT/SIGTERM),
    /// letting in-flight requests finish, then stops the background work,
    /// writes the last noted uses, and closes the pools: when this returns
    /// no thread of the instance touches the database any more.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let served = self.server.await;
        let Self {
            tokens,
            database,
            own_databases,
            background,
            ..
        } = self;
        let _ = actix_web::rt::task::spawn_blocking(move || {
            for worker in background {
                worker.stop(CLOSE_WITHIN);
            }
            if let Err(error) = flush_canary_uses(&tokens) {
                tracing::error!(
                    error = format!("{error:#}"),
                    "the last canary uses could not be recorded"
                );
            }
            if let Err(error) = flush_usage(&tokens) {
                tracing::error!(
                    error = format!("{error:#}"),
                    "the last lastUsedAt flush failed"
                );
            }
            drop(tokens);
            for database in own_databases.into_iter().chain([database]) {
                if !database.close(CLOSE_WITHIN) {
                    tracing::debug!("a database pool was still in use at shutdown");
                }
            }
        })
        .await;
        served
    }
}
