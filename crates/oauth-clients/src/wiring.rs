//! The application's services wired from their ports: the one place that
//! decides how the token service, the client registry and the code grant
//! share one cache, keyring and clock. The server, the operators' commands
//! and every test harness build their services here, so they cannot drift
//! apart.

use std::sync::Arc;

use tessera_domain::{
    CacheSettings, ClientRepository, Clock, CodeRepository, IdempotencyStore, Keyring,
    PermissionCatalogue, TokenCache, TokenFormat, TokenRepository, TokenService,
};

use crate::authorization::AuthorizationService;
use crate::built_in::StaticClientDirectory;
use crate::registry::ClientService;

/// The storage ports, from one database (or one in-memory fake).
#[derive(Clone)]
pub struct Ports {
    pub tokens: Arc<dyn TokenRepository>,
    pub clients: Arc<dyn ClientRepository>,
    pub codes: Arc<dyn CodeRepository>,
    pub idempotency: Arc<dyn IdempotencyStore>,
}

impl std::fmt::Debug for Ports {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ports").finish_non_exhaustive()
    }
}

/// Everything but the ports and the clock the services are made of.
#[derive(Debug)]
pub struct CoreSettings {
    pub keyring: Keyring,
    pub format: TokenFormat,
    pub catalogue: PermissionCatalogue,
    pub built_in: StaticClientDirectory,
    /// Registered clients per user (`oauth.client_cap`).
    pub client_cap: u32,
    pub code_ttl_secs: u64,
    pub cache: CacheSettings,
    /// `tokens.max_lifetime_days` (`0`: no policy).
    pub max_lifetime_days: u32,
}

/// One instance's services, sharing one verification cache.
#[derive(Debug, Clone)]
pub struct Core {
    pub tokens: Arc<TokenService>,
    pub clients: Arc<ClientService>,
    pub oauth: Arc<AuthorizationService>,
    pub cache: Arc<TokenCache>,
}

impl Core {
    pub fn wire(ports: Ports, settings: CoreSettings, clock: Arc<dyn Clock>) -> Self {
        // Everything that deletes tokens invalidates this one cache.
        let cache = Arc::new(TokenCache::new(settings.cache));
        let clients = Arc::new(
            ClientService::new(
                settings.built_in,
                ports.clients,
                settings.keyring.clone(),
                settings.catalogue.clone(),
                clock.clone(),
                settings.client_cap,
                cache.clone(),
            )
            .with_idempotency(ports.idempotency.clone()),
        );
        let tokens = Arc::new(
            TokenService::new(
                ports.tokens,
                clients.clone(),
                settings.keyring,
                settings.format,
                settings.catalogue,
                clock.clone(),
                cache.clone(),
            )
            .with_idempotency(ports.idempotency)
            .with_max_lifetime_days(settings.max_lifetime_days),
        );
        let oauth = Arc::new(AuthorizationService::new(
            clients.clone(),
            ports.codes,
            tokens.clone(),
            clock,
            settings.code_ttl_secs,
        ));
        Self {
            tokens,
            clients,
            oauth,
            cache,
        }
    }
}
