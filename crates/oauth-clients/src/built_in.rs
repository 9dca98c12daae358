//! Built-in clients (`[[oauth.clients]]`): they exist from
//! configuration alone, have no author and cannot be changed through the API.

use std::collections::HashMap;

use serde::Deserialize;
use tessera_domain::permission::PermissionCatalogue;
use tessera_domain::{
    ClientDirectory, ClientName, Keyring, OAuthClient, SecretString, Timestamp, TokenHash,
};

/// One `[[oauth.clients]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuiltInClientConfig {
    pub client_id: String,
    pub name: String,
    pub permissions: Vec<String>,
    #[serde(default)]
    pub client_secret: Option<SecretString>,
    #[serde(default)]
    pub redirect_uri: Option<String>,
    #[serde(default)]
    pub api_key_template: Option<String>,
    #[serde(default)]
    pub api_key_filename: Option<String>,
    /// A resource server may introspect tokens and read the revocation feed
    /// (it then needs a `client_secret`).
    #[serde(default)]
    pub resource_server: bool,
}

impl BuiltInClientConfig {
    /// A client with only an id, a name and permissions (no secret, no
    /// URIs), as configuration gives at the least.
    pub fn new(client_id: &str, name: &str, permissions: &[&str]) -> Self {
        Self {
            client_id: client_id.to_owned(),
            name: name.to_owned(),
            permissions: permissions.iter().map(|p| (*p).to_owned()).collect(),
            client_secret: None,
            redirect_uri: None,
            api_key_template: None,
            api_key_filename: None,
            resource_server: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientConfigError {
    #[error("oauth.clients: client_id must be 1-64 ASCII letters, digits, '_' or '-' (got {0:?})")]
    BadId(String),
    #[error("oauth.clients: client_id {0:?} appears twice")]
    DuplicateId(String),
    #[error(
        "oauth.clients: client {0:?} needs a name of 3-80 characters, without control characters"
    )]
    BadName(String),
    #[error("oauth.clients: resource server {0:?} needs a client_secret")]
    ResourceServerWithoutSecret(String),
    #[error("oauth.clients: client {client:?} asks for unknown permission {permission:?}")]
    UnknownPermission { client: String, permission: String },
}

/// Built-in clients, validated against the permission catalogue at startup
/// so a misconfigured client stops the service instead of failing later.
#[derive(Debug, Default)]
pub struct StaticClientDirectory {
    clients: HashMap<String, BuiltIn>,
}

#[derive(Debug)]
pub(crate) struct BuiltIn {
    pub(crate) client: OAuthClient,
    /// Fingerprint of the configured secret; `None` when it has none (it
    /// then serves only `clientID` token creation).
    pub(crate) secret_hash: Option<TokenHash>,
    pub(crate) resource_server: bool,
}

impl StaticClientDirectory {
    /// `keyring` fingerprints the configured secrets once, at startup;
    /// `created_at` is what the documents show (the service's start).
    pub fn new(
        configs: &[BuiltInClientConfig],
        catalogue: &PermissionCatalogue,
        keyring: &Keyring,
        created_at: Timestamp,
    ) -> Result<Self, ClientConfigError> {
        let mut clients = HashMap::new();
        for config in configs {
            let id = &config.client_id;
            let id_ok = !id.is_empty()
                && id.len() <= 64
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
            if !id_ok {
                return Err(ClientConfigError::BadId(id.clone()));
            }
            // The rule registered clients' names follow, control characters
            // included.
            let name = ClientName::parse(&config.name)
                .map_err(|_| ClientConfigError::BadName(id.clone()))?;
            let permissions = catalogue
                .resolve(&config.permissions)
                .map_err(|permission| ClientConfigError::UnknownPermission {
                    client: id.clone(),
                    permission,
                })?;
            let client = OAuthClient {
                redirect_uri: config.redirect_uri.clone(),
                api_key_template: config.api_key_template.clone(),
                api_key_filename: config.api_key_filename.clone(),
                created_at,
                ..OAuthClient::minimal(id, &name, permissions)
            };
            let secret_hash = config
                .client_secret
                .as_ref()
                .map(|secret| keyring.fingerprint(secret.expose()));
            if config.resource_server && secret_hash.is_none() {
                return Err(ClientConfigError::ResourceServerWithoutSecret(id.clone()));
            }
            let built_in = BuiltIn {
                client,
                secret_hash,
                resource_server: config.resource_server,
            };
            if clients.insert(id.clone(), built_in).is_some() {
                return Err(ClientConfigError::DuplicateId(id.clone()));
            }
        }
        Ok(Self { clients })
    }
}

impl StaticClientDirectory {
    pub(crate) fn get(&self, id: &str) -> Option<&BuiltIn> {
        self.clients.get(id)
    }

    /// The built-in clients by id (configuration order is not kept).
    pub(crate) fn clients(&self) -> impl Iterator<Item = &OAuthClient> {
        let mut clients: Vec<&OAuthClient> = self.clients.values().map(|b| &b.client).collect();
        clients.sort_by(|a, b| a.id.as_str().cmp(b.id.as_str()));
        clients.into_iter()
    }
}

impl ClientDirectory for StaticClientDirectory {
    fn find(&self, id: &str) -> anyhow::Result<Option<OAuthClient>> {
        Ok(self.clients.get(id).map(|b| b.client.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keyring() -> Keyring {
        Keyring::from_base64(tessera_domain::testing::TEST_SECRET_KEY).expect("key")
    }

    fn directory(
        configs: &[BuiltInClientConfig],
    ) -> Result<StaticClientDirectory, ClientConfigError> {
        StaticClientDirectory::new(configs, &catalogue(), &keyring(), Timestamp::EPOCH)
    }

    fn catalogue() -> PermissionCatalogue {
        PermissionCatalogue::new(["submit_score", "manage_rivals"]).expect("catalogue")
    }

    #[test]
    fn configured_clients_are_found_by_id() {
        let directory = directory(&[BuiltInClientConfig::new(
            "CXFervidex",
            "Fervidex",
            &["submit_score"],
        )])
        .expect("valid");
        let client = directory
            .find("CXFervidex")
            .expect("lookup")
            .expect("present");
        assert_eq!(client.name, "Fervidex");
        assert_eq!(
            client.permissions.iter().collect::<Vec<_>>(),
            ["submit_score"]
        );
        assert_eq!(directory.find("CXOther").expect("lookup"), None);
    }

    #[test]
    fn unknown_permission_in_configuration_is_an_error() {
        let error = directory(&[BuiltInClientConfig::new("CXA", "Alpha", &["fly"])])
            .expect_err("unknown permission");
        assert!(error.to_string().contains("fly"));
    }

    #[test]
    fn duplicate_ids_and_bad_names_are_errors() {
        let twice = [
            BuiltInClientConfig::new("CXA", "Alpha", &[]),
            BuiltInClientConfig::new("CXA", "Beta", &[]),
        ];
        assert_eq!(
            directory(&twice).map(|_| ()),
            Err(ClientConfigError::DuplicateId("CXA".into()))
        );
        assert!(directory(&[BuiltInClientConfig::new("CXA", "ab", &[])]).is_err());
        assert!(
            directory(&[BuiltInClientConfig::new("CXA", "Al\u{7}pha", &[])]).is_err(),
            "the registered clients' rule: no control characters"
        );
        assert!(directory(&[BuiltInClientConfig::new("C X", "Alpha", &[])]).is_err());
    }
}
