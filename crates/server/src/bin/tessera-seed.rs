//! Benchmark seeding: mints many tokens with the configured keys, stores
//! them in bulk, and writes their plain text to a file for the load
//! generator. A development tool; never run it against production.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::Parser;
use tessera_domain::{
    Clock as _, Keyring, NewTokenRecord, PermissionCatalogue, SystemClock, TokenFormat, TokenId,
    UserId,
};
use tessera_server::settings::{Settings, Sources};

#[derive(Debug, Parser)]
#[command(name = "tessera-seed", about = "Seed tokens for benchmarks")]
struct Args {
    /// How many tokens.
    #[arg(long)]
    count: usize,
    /// Spread over this many users (ids 1000 and up).
    #[arg(long, default_value_t = 1000)]
    users: i64,
    /// Where to write the tokens, one per line.
    #[arg(long)]
    out: Option<PathBuf>,
    /// All tokens for this one user instead (e.g. to list 100 tokens).
    #[arg(long)]
    user: Option<i64>,
    #[arg(long)]
    config: Option<PathBuf>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let settings = Settings::load(&Sources::from_process(args.config)?)?;
    let database = tessera_persistence::Database::connect(&settings.database)?;
    database.migrate()?;
    let keyring = Keyring::from_base64(settings.security.secret_key.expose())?;
    let format = TokenFormat::new(settings.tokens.prefix.clone())?;
    let catalogue = PermissionCatalogue::new(settings.permissions.clone())?;
    let permissions = catalogue
        .resolve(["submit_score"])
        .map_err(anyhow::Error::msg)?;
    let now = SystemClock.now();
    let mut out = match &args.out {
        Some(path) => Some(std::io::BufWriter::new(
            std::fs::File::create(path).with_context(|| format!("{}", path.display()))?,
        )),
        None => None,
    };
    let repository = database.token_repository();
    let mut batch = Vec::with_capacity(10_000);
    for i in 0..args.count {
        let user = args.user.unwrap_or(1000 + (i as i64 % args.users.max(1)));
        let token = format.generate();
        let hash = keyring.fingerprint(token.expose());
        batch.push(NewTokenRecord {
            public_id: TokenId::generate(now),
            user_id: UserId::new(user)?,
            identifier: format!("seed {i}"),
            hash,
            sealed: keyring.seal(&token, &hash),
            permissions: permissions.clone(),
            from_api_client: None,
            created_at: now,
            expires_at: None,
            allowed_ips: None,
            canary: false,
            // Seeded straight into the table: no audit events (see insert_many).
            created_by: tessera_domain::Actor::operator(),
        });
        if let Some(out) = out.as_mut() {
            writeln!(out, "{}", token.expose())?;
        }
        if batch.len() == batch.capacity() {
            repository.seed(&batch)?;
            batch.clear();
        }
    }
    repository.seed(&batch)?;
    if let Some(mut out) = out {
        out.flush()?;
    }
    eprintln!("seeded {} tokens", args.count);
    Ok(())
}
