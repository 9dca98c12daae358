//! The OAuth2 client registry. For now it serves the built-in clients of
//! configuration (`[[oauth.clients]]`, contract §8), which exist from
//! configuration alone and cannot be changed through the API.

use std::collections::HashMap;

use serde::Deserialize;
use tessera_domain::permission::PermissionCatalogue;
use tessera_domain::{ClientDirectory, OAuthClient, SecretString};

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
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientConfigError {
    #[error("oauth.clients: client_id must be 1-64 ASCII letters, digits, '_' or '-' (got {0:?})")]
    BadId(String),
    #[error("oauth.clients: client_id {0:?} appears twice")]
    DuplicateId(String),
    #[error("oauth.clients: client {0:?} needs a name of 3-80 characters")]
    BadName(String),
    #[error("oauth.clients: client {client:?} asks for unknown permission {permission:?}")]
    UnknownPermission { client: String, permission: String },
}

/// Built-in clients, validated against the permission catalogue at startup
/// so a misconfigured client stops the service instead of failing later.
#[derive(Debug, Default)]
pub struct StaticClientDirectory {
    clients: HashMap<String, OAuthClient>,
}

impl StaticClientDirectory {
    pub fn new(
        configs: &[BuiltInClientConfig],
        catalogue: &PermissionCatalogue,
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
            let name_len = config.name.trim().chars().count();
            if !(3..=80).contains(&name_len) {
                return Err(ClientConfigError::BadName(id.clone()));
            }
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
                ..OAuthClient::minimal(id, config.name.trim(), permissions)
            };
            if clients.insert(id.clone(), client).is_some() {
                return Err(ClientConfigError::DuplicateId(id.clone()));
            }
        }
        Ok(Self { clients })
    }
}

impl ClientDirectory for StaticClientDirectory {
    fn find(&self, id: &str) -> anyhow::Result<Option<OAuthClient>> {
        Ok(self.clients.get(id).cloned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalogue() -> PermissionCatalogue {
        PermissionCatalogue::new(["submit_score", "manage_rivals"]).expect("catalogue")
    }

    fn config(id: &str, name: &str, permissions: &[&str]) -> BuiltInClientConfig {
        BuiltInClientConfig {
            client_id: id.to_owned(),
            name: name.to_owned(),
            permissions: permissions.iter().map(|p| (*p).to_owned()).collect(),
            client_secret: None,
            redirect_uri: None,
            api_key_template: None,
            api_key_filename: None,
        }
    }

    #[test]
    fn configured_clients_are_found_by_id() {
        let directory = StaticClientDirectory::new(
            &[config("CXFervidex", "Fervidex", &["submit_score"])],
            &catalogue(),
        )
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
        let error = StaticClientDirectory::new(&[config("CXA", "Alpha", &["fly"])], &catalogue())
            .expect_err("unknown permission");
        assert!(error.to_string().contains("fly"));
    }

    #[test]
    fn duplicate_ids_and_bad_names_are_errors() {
        let twice = [config("CXA", "Alpha", &[]), config("CXA", "Beta", &[])];
        assert_eq!(
            StaticClientDirectory::new(&twice, &catalogue()).map(|_| ()),
            Err(ClientConfigError::DuplicateId("CXA".into()))
        );
        assert!(StaticClientDirectory::new(&[config("CXA", "ab", &[])], &catalogue()).is_err());
        assert!(StaticClientDirectory::new(&[config("C X", "Alpha", &[])], &catalogue()).is_err());
    }
}
