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
    /// Fingerprints of the HTTP Basic `Authorization` values that name each
    /// resource server and its secret exactly as clients write them, so an
    /// introspection is authenticated by one fingerprint of the header
    /// instead of decoding it (see [`basic_authorizations`]).
    basic: Vec<(TokenHash, String)>,
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
        let mut basic = Vec::new();
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
            if let (true, Some(secret)) = (config.resource_server, &config.client_secret) {
                for value in basic_authorizations(id, secret.expose()) {
                    basic.push((keyring.fingerprint(&value), id.clone()));
                }
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
        Ok(Self { clients, basic })
    }
}

/// The `Authorization` values a client writes for `id` and `secret` by RFC
/// 6749 §2.3.1 (each form-encoded, then base64): with the secret encoded,
/// and with it as it is where no decoder would change it (no `%`, no `+`).
/// Decoded by the general rule, each gives back exactly `id` and `secret`.
/// None for a secret with a control character, which that rule refuses.
fn basic_authorizations(id: &str, secret: &str) -> Vec<String> {
    use base64::Engine as _;
    if secret.chars().any(char::is_control) {
        return Vec::new();
    }
    let encoded: String = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
    let mut secrets = vec![encoded];
    if !secret.contains(['%', '+']) && secrets[0] != secret {
        secrets.push(secret.to_owned());
    }
    secrets
        .iter()
        .map(|secret| {
            let pair = format!("{id}:{secret}");
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(pair)
            )
        })
        .collect()
}

impl StaticClientDirectory {
    pub(crate) fn get(&self, id: &str) -> Option<&BuiltIn> {
        self.clients.get(id)
    }

    /// The resource server whose `Authorization` value has the fingerprint
    /// `presented`; every fingerprint is compared, in constant time.
    pub(crate) fn by_basic(&self, presented: &TokenHash) -> Option<&OAuthClient> {
        use subtle::ConstantTimeEq as _;
        let mut found = None;
        for (expected, id) in &self.basic {
            if bool::from(expected.0.ct_eq(&presented.0)) {
                found = Some(id);
            }
        }
        found
            .and_then(|id| self.clients.get(id))
            .map(|built_in| &built_in.client)
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

    /// RFC 6749 §2.3.1 read back: base64, then each side of the first `:`
    /// form-decoded (`+` a space, then percent-decoding). By the form
    /// parser: these values hold no raw `&` or `=`, so each side is one name.
    fn decoded(value: &str) -> (String, String) {
        use base64::Engine as _;
        let encoded = value.strip_prefix("Basic ").expect("Basic");
        let pair = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .expect("base64");
        let pair = String::from_utf8(pair).expect("UTF-8");
        let (id, secret) = pair.split_once(':').expect("a colon");
        let form_decoded = |text: &str| {
            let mut parts = url::form_urlencoded::parse(text.as_bytes());
            let (name, value) = parts.next().expect("one part");
            assert!(value.is_empty() && parts.next().is_none(), "{text}");
            name.into_owned()
        };
        (form_decoded(id), form_decoded(secret))
    }

    #[test]
    fn a_resource_server_is_found_by_its_exact_basic_header() {
        let secrets = ["plain-secret_1", "a+b c%20:&=x", "s\u{fc}\u{df}?/#"];
        let configs: Vec<BuiltInClientConfig> = secrets
            .iter()
            .enumerate()
            .map(|(at, secret)| BuiltInClientConfig {
                client_secret: Some(SecretString::new(*secret)),
                resource_server: true,
                ..BuiltInClientConfig::new(&format!("CXRs{at}"), "Resource", &[])
            })
            .chain([BuiltInClientConfig {
                client_secret: Some(SecretString::new("app-secret")),
                ..BuiltInClientConfig::new("CXApp", "Application", &[])
            }])
            .collect();
        let directory = directory(&configs).expect("valid");
        let keyring = keyring();
        for (at, secret) in secrets.iter().enumerate() {
            let id = format!("CXRs{at}");
            let values = basic_authorizations(&id, secret);
            assert!(!values.is_empty(), "{secret:?}");
            for value in &values {
                // Each value means this id and secret to the general rule...
                assert_eq!(decoded(value), (id.clone(), (*secret).to_owned()));
                // ...and finds this resource server.
                let found = directory.by_basic(&keyring.fingerprint(value));
                assert_eq!(found.map(|client| client.id.as_str()), Some(id.as_str()));
            }
        }
        // Encoded, and as it is where decoding would leave it alone.
        assert_eq!(basic_authorizations("CXRs0", secrets[0]).len(), 1);
        assert_eq!(basic_authorizations("CXRs1", secrets[1]).len(), 1);
        assert_eq!(basic_authorizations("CXRs2", secrets[2]).len(), 2);
        let wrong = basic_authorizations("CXRs0", "plain-secret_2");
        assert_eq!(directory.by_basic(&keyring.fingerprint(&wrong[0])), None);
        let application = basic_authorizations("CXApp", "app-secret");
        assert_eq!(
            directory.by_basic(&keyring.fingerprint(&application[0])),
            None,
            "not a resource server"
        );
        assert!(
            basic_authorizations("CXRs0", "tab\tsecret").is_empty(),
            "the general rule refuses control characters"
        );
    }
}
