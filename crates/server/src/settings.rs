//! Layered configuration: `config/default.toml`, then
//! `config/{TESSERA_ENV}.toml`, then `--config FILE`, then
//! `TESSERA__SECTION__KEY` variables. Unknown keys are errors.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use config::{Config, Environment as EnvironmentVariables, File, FileFormat};
use serde::Deserialize;
use tessera_domain::SecretString;
use tessera_domain::webhooks::{Receiver, Subscription, WebhookSecret, receiver_name};
use tessera_http_adapter::SessionSettings;
use tessera_oauth_clients::BuiltInClientConfig;
use tessera_persistence::DatabaseSettings;

/// The development values of `config/default.toml`; production refuses them.
pub const DEV_SESSION_SECRET: &str = "tessera-development-session-secret-do-not-use";
pub const DEV_SECRET_KEY: &str = "dGVzc2VyYS1kZXZlbG9wbWVudC1rZXktZG8tbm90LXVzZSE=";
/// Shortest `session.secret` production accepts (HS256 wants ≥ 256 bits).
pub const MIN_SESSION_SECRET_BYTES: usize = 32;
/// The embedded database of `config/default.toml`: fine for development,
/// refused in production (one file, one instance, on the container's disk).
pub const DEV_DATABASE_URL: &str = "sqlite://data/tessera.db";
/// The environment whose checks are strict.
pub const PRODUCTION: &str = "production";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub session: SessionSettings,
    pub security: SecuritySettings,
    pub tokens: TokenSettings,
    pub permissions: Vec<String>,
    #[serde(default)]
    pub oauth: OAuthSettings,
    #[serde(default)]
    pub log: LogSettings,
    #[serde(default)]
    pub cache: CacheSection,
    #[serde(default)]
    pub revocations: RevocationSettings,
    /// `[[webhooks]]`: where audit events are POSTed.
    #[serde(default)]
    pub webhooks: Vec<WebhookSettings>,
    /// From `TESSERA_ENV` (not a configuration key).
    #[serde(skip)]
    pub environment: Environment,
}

/// Which settings apply, parsed once from `TESSERA_ENV` against the
/// configuration folder: the development defaults (unset), production
/// (whose checks refuse development secrets), or another environment whose
/// file exists. A value of this type names a real environment, so no typo
/// can reach the layering or skip the production checks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Environment {
    #[default]
    Development,
    Production,
    /// Another `config/{name}.toml` (a staging, say).
    Named(String),
}

impl Environment {
    /// `TESSERA_ENV`'s value (`None` or empty: development), checked
    /// against the files of `config_dir`.
    pub fn resolve(config_dir: &Path, value: Option<&str>) -> anyhow::Result<Self> {
        let Some(name) = value.filter(|v| !v.is_empty()) else {
            return Ok(Self::Development);
        };
        check_environment(config_dir, name)?;
        Ok(match name {
            PRODUCTION => Self::Production,
            other => Self::Named(other.to_owned()),
        })
    }

    /// The name of its file in the configuration folder, if it has one.
    fn file_stem(&self) -> Option<&str> {
        match self {
            Self::Development => None,
            Self::Production => Some(PRODUCTION),
            Self::Named(name) => Some(name),
        }
    }

    /// The name logs show.
    pub fn name(&self) -> &str {
        self.file_stem().unwrap_or("development")
    }
}

/// The `[revocations]` section: the feed for relying services.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevocationSettings {
    /// How long revoked fingerprints stay in the feed.
    #[serde(default = "default_retention")]
    pub retention_secs: u64,
    /// The longest a feed request waits for something new.
    #[serde(default = "default_long_poll")]
    pub long_poll_secs: u64,
}

impl Default for RevocationSettings {
    fn default() -> Self {
        Self {
            retention_secs: default_retention(),
            long_poll_secs: default_long_poll(),
        }
    }
}

fn default_retention() -> u64 {
    7 * 24 * 3600
}

fn default_long_poll() -> u64 {
    20
}

/// The `[cache]` section: the per-instance verification cache.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheSection {
    /// Verified tokens held; `0` disables the cache.
    #[serde(default = "default_cache_entries")]
    pub max_entries: u64,
    #[serde(default = "default_positive_ttl")]
    pub positive_ttl_secs: u64,
    #[serde(default = "default_negative_ttl")]
    pub negative_ttl_secs: u64,
    /// The revocation deadline: cached verifications are served only while
    /// this instance's revocation view is younger.
    #[serde(default = "default_max_staleness")]
    pub max_staleness_ms: u64,
    /// While the database is unreachable, keep accepting cached valid
    /// tokens (availability over the revocation deadline).
    #[serde(default)]
    pub serve_stale_on_outage: bool,
}

impl Default for CacheSection {
    fn default() -> Self {
        Self {
            max_entries: default_cache_entries(),
            positive_ttl_secs: default_positive_ttl(),
            negative_ttl_secs: default_negative_ttl(),
            max_staleness_ms: default_max_staleness(),
            serve_stale_on_outage: false,
        }
    }
}

impl From<CacheSection> for tessera_domain::CacheSettings {
    fn from(section: CacheSection) -> Self {
        Self {
            max_entries: section.max_entries,
            positive_ttl: std::time::Duration::from_secs(section.positive_ttl_secs),
            negative_ttl: std::time::Duration::from_secs(section.negative_ttl_secs),
            max_staleness: Some(std::time::Duration::from_millis(
                section.max_staleness_ms.max(1),
            )),
            serve_stale_on_outage: section.serve_stale_on_outage,
        }
    }
}

fn default_max_staleness() -> u64 {
    1000
}

fn default_cache_entries() -> u64 {
    200_000
}

fn default_positive_ttl() -> u64 {
    60
}

fn default_negative_ttl() -> u64 {
    5
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    pub host: String,
    pub port: u16,
    /// Peers (CIDRs or addresses) whose `X-Forwarded-For` names the client:
    /// the load balancer in front of the service, nothing else.
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
}

impl ServerSettings {
    /// `trusted_proxies` parsed.
    pub fn trusted_proxies(&self) -> anyhow::Result<tessera_domain::Networks> {
        tessera_domain::Networks::parse(&self.trusted_proxies)
            .map_err(|e| anyhow::anyhow!("invalid configuration: server.trusted_proxies: {e}"))
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecuritySettings {
    pub secret_key: SecretString,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenSettings {
    pub prefix: String,
    /// How often noted uses are written to `lastUsedAt`.
    #[serde(default = "default_usage_flush")]
    pub usage_flush_secs: u64,
    /// The longest a token may live; `0`: no limit.
    #[serde(default)]
    pub max_lifetime_days: u32,
    /// `token.expiring` is appended this many days before a token
    /// expires; `0`: never.
    #[serde(default = "default_expiry_warning_days")]
    pub expiry_warning_days: u32,
}

fn default_expiry_warning_days() -> u32 {
    7
}

fn default_usage_flush() -> u64 {
    5
}

/// One `[[webhooks]]` receiver.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    /// An absolute `https://` (or `http://`) URL.
    pub url: String,
    /// `whsec_` + base64 of at least 24 bytes.
    pub secret: SecretString,
    /// Globs over event types (`token.*`, `client.deleted`, `*`).
    pub events: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuthSettings {
    #[serde(default)]
    pub clients: Vec<BuiltInClientConfig>,
    #[serde(default = "default_code_ttl")]
    pub code_ttl_secs: u64,
    #[serde(default = "default_client_cap")]
    pub client_cap: u32,
}

impl Default for OAuthSettings {
    fn default() -> Self {
        Self {
            clients: Vec::new(),
            code_ttl_secs: default_code_ttl(),
            client_cap: default_client_cap(),
        }
    }
}

fn default_code_ttl() -> u64 {
    600
}

fn default_client_cap() -> u32 {
    10
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    #[serde(default)]
    pub format: LogFormat,
    #[serde(default = "default_level")]
    pub level: String,
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            format: LogFormat::Text,
            level: default_level(),
        }
    }
}

fn default_level() -> String {
    "info".to_owned()
}

/// Where configuration comes from; `from_process` reads the real ones.
#[derive(Debug, Clone)]
pub struct Sources {
    /// The folder holding `default.toml` and `{env}.toml`.
    pub config_dir: PathBuf,
    pub environment: Option<String>,
    pub file: Option<PathBuf>,
}

/// Names the folder of `default.toml` explicitly; otherwise it is found.
pub const CONFIG_DIR_VARIABLE: &str = "TESSERA_CONFIG_DIR";

impl Sources {
    /// The process's configuration: the folder named by
    /// `TESSERA_CONFIG_DIR`, or else the `config/` folder holding a
    /// `default.toml` in the current folder or the nearest of its parents,
    /// so that any folder of a checkout finds the checkout's configuration.
    pub fn from_process(file: Option<PathBuf>) -> anyhow::Result<Self> {
        let named = std::env::var_os(CONFIG_DIR_VARIABLE).filter(|dir| !dir.is_empty());
        let here = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
        Ok(Self {
            config_dir: config_folder(named.map(PathBuf::from), &here)?,
            environment: std::env::var("TESSERA_ENV").ok().filter(|e| !e.is_empty()),
            file,
        })
    }
}

/// The configuration folder: `named` when given (it must hold a
/// `default.toml`), else the nearest `config/default.toml` from `here`
/// upwards, else `here/config` (absent: the settings then come from
/// `--config` and `TESSERA__*` variables alone).
pub fn config_folder(named: Option<PathBuf>, here: &Path) -> anyhow::Result<PathBuf> {
    if let Some(dir) = named {
        anyhow::ensure!(
            dir.join("default.toml").is_file(),
            "{CONFIG_DIR_VARIABLE}={} holds no default.toml: point it at the \
             configuration folder (the checkout's config/)",
            dir.display()
        );
        return Ok(dir);
    }
    Ok(here
        .ancestors()
        .map(|folder| folder.join("config"))
        .find(|dir| dir.join("default.toml").is_file())
        .unwrap_or_else(|| here.join("config")))
}

impl Settings {
    pub fn load(sources: &Sources) -> anyhow::Result<Self> {
        let environment =
            Environment::resolve(&sources.config_dir, sources.environment.as_deref())?;
        let mut builder = Config::builder().add_source(
            File::from(sources.config_dir.join("default.toml"))
                .format(FileFormat::Toml)
                .required(false),
        );
        if let Some(env) = environment.file_stem() {
            builder = builder.add_source(
                File::from(sources.config_dir.join(format!("{env}.toml")))
                    .format(FileFormat::Toml)
                    .required(false),
            );
        }
        if let Some(file) = &sources.file {
            check_readable(file)?;
            builder = builder.add_source(File::from(file.as_path()).format(FileFormat::Toml));
        }
        let mut settings: Self = builder
            .add_source(
                EnvironmentVariables::with_prefix("TESSERA")
                    .prefix_separator("__")
                    .separator("__")
                    .try_parsing(true)
                    // `TESSERA__SERVER__TRUSTED_PROXIES=10.0.0.0/8,10.1.0.7`;
                    // every other variable stays one string.
                    .list_separator(",")
                    .with_list_parse_key("server.trusted_proxies"),
            )
            .build()
            .context("reading configuration")?
            .try_deserialize()
            .with_context(|| {
                let defaults = sources.config_dir.join("default.toml");
                if defaults.is_file() {
                    "invalid configuration".to_owned()
                } else {
                    format!(
                        "invalid configuration: no configuration folder found (looked for \
                         config/default.toml here and in every parent folder); run from the \
                         checkout or set {CONFIG_DIR_VARIABLE}"
                    )
                }
            })?;
        // A list only the server reads, checked now so every command
        // refuses it in one line, before anything starts.
        settings.server.trusted_proxies()?;
        settings.receivers()?;
        if environment == Environment::Production {
            settings.check_production()?;
        }
        settings.environment = environment;
        Ok(settings)
    }

    /// The webhook receivers, checked: a URL that is not absolute `http(s)`,
    /// a malformed secret, a pattern that matches no event type, or a URL
    /// given twice is an error naming the receiver.
    pub fn receivers(&self) -> anyhow::Result<Vec<Receiver>> {
        let mut receivers: Vec<Receiver> = Vec::new();
        for (i, webhook) in self.webhooks.iter().enumerate() {
            // The URL itself is never repeated: it may hold the receiver's
            // own secret.
            let at = format!("webhooks[{i}]");
            let url = url::Url::parse(&webhook.url)
                .map_err(|e| anyhow::anyhow!("{at}: url is not an absolute URL: {e}"))?;
            if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
                bail!("{at}: url must be an http:// or https:// URL with a host");
            }
            if !url.username().is_empty() || url.password().is_some() {
                bail!(
                    "{at}: url must not carry a user name or password: the signature \
                     (webhook-signature) is what authenticates Tessera to a receiver"
                );
            }
            let name = receiver_name(&url);
            if receivers.iter().any(|r| r.url == url) {
                bail!("{at} ({name}): this url is configured twice");
            }
            let secret = WebhookSecret::parse(webhook.secret.expose())
                .map_err(|e| anyhow::anyhow!("{at} ({name}): secret: {e}"))?;
            let subscription = Subscription::new(&name, &webhook.events)
                .map_err(|e| anyhow::anyhow!("{at} ({name}): events: {e}"))?;
            receivers.push(Receiver {
                subscription,
                url,
                secret,
            });
        }
        Ok(receivers)
    }

    /// The environment's name for logs: `TESSERA_ENV`, or `development`.
    pub fn environment_name(&self) -> &str {
        self.environment.name()
    }

    /// Production must not run on the public development secrets nor on
    /// the development database; every such setting is named at once, so
    /// an operator fixes them in one round.
    pub fn check_production(&self) -> anyhow::Result<()> {
        let mut problems = Vec::new();
        let session = self.session.secret.expose();
        if session == DEV_SESSION_SECRET || session.len() < MIN_SESSION_SECRET_BYTES {
            problems.push(format!(
                "session.secret is unset, the development value or shorter than \
                 {MIN_SESSION_SECRET_BYTES} bytes (set TESSERA__SESSION__SECRET)"
            ));
        }
        let key = self.security.secret_key.expose();
        // The keyring's own check: base64 of at least 32 bytes.
        if key.trim() == DEV_SECRET_KEY || tessera_domain::Keyring::from_base64(key).is_err() {
            problems.push(
                "security.secret_key is unset, the development value or not base64 of at \
                 least 32 bytes (set TESSERA__SECURITY__SECRET_KEY)"
                    .to_owned(),
            );
        }
        if self.database.url.expose().trim() == DEV_DATABASE_URL {
            problems.push(format!(
                "database.url is still the development database {DEV_DATABASE_URL} \
                 (set TESSERA__DATABASE__URL to postgres://…)"
            ));
        }
        if problems.is_empty() {
            return Ok(());
        }
        anyhow::bail!("refusing to start in production: {}", problems.join("; "))
    }
}

/// `TESSERA_ENV` must name a file of the configuration folder: a typo
/// (`prod`, `Production`) must never start with development settings.
fn check_environment(config_dir: &Path, env: &str) -> anyhow::Result<()> {
    let file = config_dir.join(format!("{env}.toml"));
    let valid_name = !env.is_empty()
        && env
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if valid_name && file.is_file() {
        return Ok(());
    }
    let mut known: Vec<String> = std::fs::read_dir(config_dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|entry| {
                    let name = entry.file_name().into_string().ok()?;
                    let stem = name.strip_suffix(".toml")?;
                    (stem != "default").then(|| stem.to_owned())
                })
                .collect()
        })
        .unwrap_or_default();
    known.sort();
    anyhow::bail!(
        "TESSERA_ENV={env:?} names no environment: {} has no {env}.toml (environments there: {})",
        config_dir.display(),
        if known.is_empty() {
            "none".to_owned()
        } else {
            known.join(", ")
        }
    )
}

fn check_readable(file: &Path) -> anyhow::Result<()> {
    std::fs::metadata(file)
        .map(|_| ())
        .with_context(|| format!("cannot read configuration file {}", file.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo_config() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config")
    }

    #[test]
    fn default_toml_holds_the_development_secrets_production_refuses() {
        let text =
            std::fs::read_to_string(repo_config().join("default.toml")).expect("default.toml");
        assert!(text.contains(DEV_SESSION_SECRET));
        assert!(text.contains(DEV_SECRET_KEY));
        assert!(text.contains(&format!("url = \"{DEV_DATABASE_URL}\"")));
    }

    #[test]
    fn an_environment_without_a_file_is_an_error_naming_the_known_ones() {
        let error = check_environment(&repo_config(), "prod").expect_err("no prod.toml");
        let text = error.to_string();
        assert!(text.contains("\"prod\""), "{text}");
        assert!(text.contains("production"), "{text}");
        assert!(!text.contains("default"), "{text}");
        check_environment(&repo_config(), "production").expect("production.toml exists");
        assert_eq!(
            Environment::resolve(&repo_config(), Some("production")).expect("exists"),
            Environment::Production
        );
        assert_eq!(
            Environment::resolve(&repo_config(), Some("")).expect("empty is unset"),
            Environment::Development
        );
        assert!(Environment::resolve(&repo_config(), Some("Production")).is_err());
        assert!(check_environment(&repo_config(), "../config/production").is_err());
    }

    #[test]
    fn any_folder_of_the_checkout_finds_the_checkouts_configuration() {
        let found = config_folder(None, &repo_config().join("../crates/server/src"))
            .expect("found")
            .canonicalize()
            .expect("exists");
        assert_eq!(found, repo_config().canonicalize().expect("exists"));
        let outside = tempfile::tempdir().expect("a folder");
        assert_eq!(
            config_folder(None, outside.path()).expect("not an error"),
            outside.path().join("config"),
            "no configuration above: the settings come from --config and variables"
        );
    }

    #[test]
    fn a_named_configuration_folder_must_hold_default_toml() {
        assert_eq!(
            config_folder(Some(repo_config()), Path::new("/")).expect("named"),
            repo_config()
        );
        let empty = tempfile::tempdir().expect("a folder");
        let error = config_folder(Some(empty.path().to_owned()), &repo_config())
            .expect_err("no default.toml there")
            .to_string();
        assert!(error.contains(CONFIG_DIR_VARIABLE), "{error}");
        assert!(error.contains("default.toml"), "{error}");
    }
}
