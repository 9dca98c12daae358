//! The command line.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "tessera",
    version,
    about = "Tessera: API tokens for your users and their OAuth2 clients"
)]
pub struct Cli {
    /// A TOML file layered over config/default.toml and config/{TESSERA_ENV}.toml.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply pending migrations, then serve until SIGINT/SIGTERM (the default).
    Serve,
    /// Apply pending migrations and exit.
    Migrate,
    /// Development sessions.
    #[command(subcommand)]
    Session(SessionCommand),
    /// OAuth2 clients, for operators.
    #[command(subcommand)]
    Clients(ClientsCommand),
    /// Users' tokens, for operators.
    #[command(subcommand)]
    Tokens(TokensCommand),
    /// Suspend or resume users, for operators.
    #[command(subcommand)]
    Users(UsersCommand),
    /// The audit trail, for operators.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Webhook deliveries, for operators.
    #[command(subcommand)]
    Webhooks(WebhooksCommand),
    /// Print the OpenAPI document (what `GET /api/v1/openapi.json` serves).
    Openapi,
    /// Exit 0 when the local instance answers `GET /readyz` with 200: the
    /// container health check, which needs no HTTP client in the image.
    Healthcheck {
        /// The URL to probe; defaults to /readyz on 127.0.0.1 and server.port.
        #[arg(long)]
        url: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ClientsCommand {
    /// List every OAuth2 client: built-in ones, then registered ones.
    List,
}

#[derive(Debug, Subcommand)]
pub enum TokensCommand {
    /// Revoke all of a user's tokens at once (e.g. after an account
    /// compromise), or only those issued from one client.
    Revoke {
        /// The user id (a positive integer).
        #[arg(long)]
        user: String,
        /// Only the tokens issued from this client.
        #[arg(long)]
        client: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Refuse every token of a user, on every instance within the
    /// revocation deadline, without deleting them; no token can be created,
    /// rotated or granted for them until `resume`. Their session can still
    /// list and delete their tokens.
    Suspend {
        /// The user id (a positive integer).
        #[arg(long)]
        user: String,
        /// Why, for the record (kept with the suspension).
        #[arg(long)]
        reason: Option<String>,
    },
    /// Lift a suspension: the user's tokens work again, unchanged.
    Resume {
        /// The user id (a positive integer).
        #[arg(long)]
        user: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Recompute every user's hash chain (or one user's) from the database
    /// and name the first edited, removed or reordered event of each broken
    /// one; exits non-zero when any chain is broken.
    Verify {
        /// Only this user (a positive integer).
        #[arg(long)]
        user: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum WebhooksCommand {
    /// Pending, delivered and failed deliveries per receiver (delivered and
    /// failed ones are kept a week).
    Status,
}

#[derive(Debug, Subcommand)]
pub enum SessionCommand {
    /// Print a session cookie value for a user, signed with session.secret.
    Mint {
        /// The user id (a positive integer).
        #[arg(long)]
        user: String,
        /// Lifetime in seconds.
        #[arg(long, default_value_t = 3600)]
        ttl: u64,
    },
}
