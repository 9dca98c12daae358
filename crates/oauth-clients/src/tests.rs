//! Unit tests of the registry and the grant on the in-memory store.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use sha2::{Digest, Sha256};
use tessera_domain::testing::{InMemoryStore, TEST_SECRET_KEY};
use tessera_domain::{
    CacheSettings, Keyring, ManualClock, PermissionCatalogue, Timestamp, TokenFormat,
    TokenRepository, TokenService, UserId,
};

use crate::{
    AuthorizationService, BuiltInClientConfig, ClientError, ClientPatch, CodeError, Core,
    CoreSettings, CreateCodeRequest, NewClient, OAuthError, Ports, StaticClientDirectory,
    TokenRequest,
};

const NOW: Timestamp = Timestamp::from_millis(1_764_337_200_000);

struct Fixture {
    store: Arc<InMemoryStore>,
    clock: Arc<ManualClock>,
    tokens: Arc<TokenService>,
    oauth: Arc<AuthorizationService>,
}

fn user(id: i64) -> UserId {
    UserId::new(id).expect("positive")
}

fn fixture(cap: u32) -> Fixture {
    let store = Arc::new(InMemoryStore::default());
    let clock = Arc::new(ManualClock::new(NOW));
    let keyring = Keyring::from_base64(TEST_SECRET_KEY).expect("key");
    let catalogue = PermissionCatalogue::new(["submit_score", "manage_rivals"]).expect("catalogue");
    let built_in = StaticClientDirectory::new(
        &[BuiltInClientConfig {
            client_secret: Some(tessera_domain::SecretString::new("built-in-secret")),
            redirect_uri: Some("https://built.in/cb".into()),
            ..BuiltInClientConfig::new("CXBuiltIn", "Built In", &["submit_score"])
        }],
        &catalogue,
        &keyring,
        NOW,
    )
    .expect("built-ins");
    let core = Core::wire(
        Ports {
            tokens: store.clone(),
            clients: store.clone(),
            codes: store.clone(),
            idempotency: store.clone(),
        },
        CoreSettings {
            keyring,
            format: TokenFormat::new("tsr_").expect("prefix"),
            catalogue,
            built_in,
            client_cap: cap,
            code_ttl_secs: 600,
            cache: CacheSettings::default(),
            max_lifetime_days: 0,
        },
        clock.clone(),
    );
    let (tokens, oauth) = (core.tokens, core.oauth);
    Fixture {
        store,
        clock,
        tokens,
        oauth,
    }
}

fn new_client(name: &str) -> NewClient {
    NewClient {
        name: name.into(),
        permissions: vec!["manage_rivals".into()],
        redirect_uri: Some("https://example.com/cb".into()),
        ..NewClient::default()
    }
}

const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

fn challenge(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

fn grant(code: &str, verifier: Option<&str>) -> TokenRequest {
    TokenRequest {
        grant_type: Some("authorization_code".into()),
        code: Some(code.into()),
        redirect_uri: None,
        code_verifier: verifier.map(Into::into),
    }
}

#[test]
fn created_client_has_ids_secret_and_validated_fields() {
    let f = fixture(10);
    let view = f
        .oauth
        .clients()
        .create(user(1), new_client("  Mine  "))
        .expect("created");
    assert!(view.client.id.as_str().starts_with("CI"));
    let secret = view.secret.expect("secret shown to the owner");
    assert!(secret.expose().starts_with("CS"));
    assert_eq!(view.client.name, "Mine");
    assert_eq!(view.client.author, Some(user(1)));
    assert_eq!(view.client.created_at, NOW);
    let listed = f.oauth.clients().list_own(user(1)).expect("list");
    assert_eq!(listed[0].secret.as_ref(), Some(&secret));
    assert!(
        f.oauth
            .clients()
            .list_own(user(2))
            .expect("list")
            .is_empty()
    );
}

#[test]
fn invalid_client_fields_are_refused() {
    let f = fixture(10);
    let clients = f.oauth.clients();
    let cases = [
        NewClient {
            name: "ab".into(),
            ..new_client("x")
        },
        NewClient {
            permissions: vec![],
            ..new_client("Valid")
        },
        NewClient {
            permissions: vec!["fly".into()],
            ..new_client("Valid")
        },
        NewClient {
            redirect_uri: Some("ftp://x".into()),
            ..new_client("Valid")
        },
        NewClient {
            webhook_uri: Some("/relative".into()),
            ..new_client("Valid")
        },
        NewClient {
            api_key_template: Some("no placeholder".into()),
            ..new_client("Valid")
        },
        NewClient {
            api_key_filename: Some("a/b".into()),
            ..new_client("Valid")
        },
    ];
    for case in cases {
        assert!(matches!(
            clients.create(user(1), case),
            Err(ClientError::Invalid(_))
        ));
    }
    assert!(clients.list_own(user(1)).expect("list").is_empty());
}

#[test]
fn the_cap_counts_existing_clients() {
    let f = fixture(2);
    let clients = f.oauth.clients();
    let first = clients.create(user(1), new_client("One")).expect("one");
    clients.create(user(1), new_client("Two")).expect("two");
    assert!(matches!(
        clients.create(user(1), new_client("Three")),
        Err(ClientError::CapReached(2))
    ));
    clients
        .delete(user(1), first.client.id.as_str())
        .expect("delete");
    clients
        .create(user(1), new_client("Three"))
        .expect("a slot was freed");
}

#[test]
fn only_the_author_changes_a_client_and_built_ins_never() {
    let f = fixture(10);
    let clients = f.oauth.clients();
    let id = clients
        .create(user(1), new_client("Mine"))
        .expect("created")
        .client
        .id;
    let patch = ClientPatch {
        name: Some("Renamed".into()),
        ..ClientPatch::default()
    };
    assert!(matches!(
        clients.update(user(2), id.as_str(), patch.clone()),
        Err(ClientError::Forbidden(_))
    ));
    assert!(matches!(
        clients.reset_secret(user(2), id.as_str()),
        Err(ClientError::Forbidden(_))
    ));
    assert!(matches!(
        clients.delete(user(2), id.as_str()),
        Err(ClientError::Forbidden(_))
    ));
    assert!(matches!(
        clients.update(user(1), "CXBuiltIn", patch.clone()),
        Err(ClientError::Forbidden(_))
    ));
    assert!(matches!(
        clients.delete(user(1), "CXBuiltIn"),
        Err(ClientError::Forbidden(_))
    ));
    assert!(matches!(
        clients.update(user(1), "CInope", patch.clone()),
        Err(ClientError::NotFound)
    ));
    let updated = clients.update(user(1), id.as_str(), patch).expect("owner");
    assert_eq!(updated.client.name, "Renamed");
    let cleared = clients
        .update(
            user(1),
            id.as_str(),
            ClientPatch {
                redirect_uri: Some(None),
                ..ClientPatch::default()
            },
        )
        .expect("clear");
    assert_eq!(cleared.client.redirect_uri, None);
}

#[test]
fn secrets_authenticate_in_constant_time_and_reset_invalidates_the_old_one() {
    let f = fixture(10);
    let clients = f.oauth.clients();
    let view = clients
        .create(user(1), new_client("Mine"))
        .expect("created");
    let id = view.client.id.as_str().to_owned();
    let old = view.secret.expect("secret");
    assert!(
        clients
            .authenticate(&id, old.expose())
            .expect("auth")
            .is_some()
    );
    assert!(
        clients
            .authenticate(&id, "CSwrong")
            .expect("auth")
            .is_none()
    );
    assert!(
        clients
            .authenticate("CInope", old.expose())
            .expect("auth")
            .is_none()
    );
    assert!(
        clients
            .authenticate("CXBuiltIn", "built-in-secret")
            .expect("auth")
            .is_some()
    );
    let new = clients
        .reset_secret(user(1), &id)
        .expect("reset")
        .secret
        .expect("secret");
    assert_ne!(new, old);
    assert!(
        clients
            .authenticate(&id, old.expose())
            .expect("auth")
            .is_none()
    );
    assert!(
        clients
            .authenticate(&id, new.expose())
            .expect("auth")
            .is_some()
    );
}

#[test]
fn pkce_code_exchanges_once_and_a_replay_revokes_the_token() {
    let f = fixture(10);
    let client = f.oauth.clients().get("CXBuiltIn").expect("built-in");
    let issued = f
        .oauth
        .create_code(
            user(7),
            CreateCodeRequest {
                client_id: "CXBuiltIn".into(),
                code_challenge: Some(challenge(VERIFIER)),
                code_challenge_method: Some("S256".into()),
            },
        )
        .expect("code");
    assert_eq!(issued.expires_at, NOW + Duration::from_secs(600));
    let code = issued.code.expose().to_owned();
    // Failures do not use the code up.
    assert!(matches!(
        f.oauth.exchange(&client, grant(&code, None)),
        Err(OAuthError::InvalidGrant(_))
    ));
    assert!(matches!(
        f.oauth.exchange(
            &client,
            grant(&code, Some("wrong-verifier-wrong-verifier-wrong-verifier"))
        ),
        Err(OAuthError::InvalidGrant(_))
    ));
    let mut wrong_redirect = grant(&code, Some(VERIFIER));
    wrong_redirect.redirect_uri = Some("https://evil.example/cb".into());
    assert!(matches!(
        f.oauth.exchange(&client, wrong_redirect),
        Err(OAuthError::InvalidGrant(_))
    ));
    let token = f
        .oauth
        .exchange(&client, grant(&code, Some(VERIFIER)))
        .expect("exchange");
    assert_eq!(token.identifier, "Built In Token");
    assert_eq!(token.user_id, user(7));
    assert!(f.tokens.verify(token.token.expose()).is_ok());
    // A replay fails and revokes what the code gave.
    assert!(matches!(
        f.oauth.exchange(&client, grant(&code, Some(VERIFIER))),
        Err(OAuthError::InvalidGrant(_))
    ));
    assert!(f.tokens.verify(token.token.expose()).is_err());
}

#[test]
fn a_code_is_bound_to_its_client_and_expires() {
    let f = fixture(10);
    let other = f
        .oauth
        .clients()
        .create(user(1), new_client("Other"))
        .expect("client");
    let built_in = f.oauth.clients().get("CXBuiltIn").expect("built-in");
    let request = CreateCodeRequest {
        client_id: "CXBuiltIn".into(),
        ..CreateCodeRequest::default()
    };
    let code = f
        .oauth
        .create_code(user(3), request.clone())
        .expect("code")
        .code
        .expose()
        .to_owned();
    assert!(matches!(
        f.oauth.exchange(&other.client, grant(&code, None)),
        Err(OAuthError::InvalidGrant(_))
    ));
    f.clock.advance(Duration::from_millis(600_000));
    assert!(matches!(
        f.oauth.exchange(&built_in, grant(&code, None)),
        Err(OAuthError::InvalidGrant(_))
    ));
    // A new code sweeps the expired one away.
    f.clock.advance(Duration::from_millis(1));
    f.oauth.create_code(user(3), request).expect("another code");
    assert!(matches!(
        f.oauth.exchange(&built_in, grant(&code, None)),
        Err(OAuthError::InvalidGrant(_))
    ));
}

#[test]
fn a_new_grant_replaces_the_users_earlier_token_from_that_client() {
    let f = fixture(10);
    let client = f.oauth.clients().get("CXBuiltIn").expect("built-in");
    let request = CreateCodeRequest {
        client_id: "CXBuiltIn".into(),
        ..CreateCodeRequest::default()
    };
    let first_code = f
        .oauth
        .create_code(user(3), request.clone())
        .expect("code")
        .code;
    let first = f
        .oauth
        .exchange(&client, grant(first_code.expose(), None))
        .expect("first");
    let second_code = f.oauth.create_code(user(3), request).expect("code").code;
    let second = f
        .oauth
        .exchange(&client, grant(second_code.expose(), None))
        .expect("second");
    assert!(f.tokens.verify(first.token.expose()).is_err());
    assert!(f.tokens.verify(second.token.expose()).is_ok());
    assert_eq!(f.store.list_for_user(user(3)).expect("list").len(), 1);
}

#[test]
fn create_code_checks_client_redirect_and_pkce_parameters() {
    let f = fixture(10);
    let no_redirect = f
        .oauth
        .clients()
        .create(
            user(1),
            NewClient {
                redirect_uri: None,
                ..new_client("No Redirect")
            },
        )
        .expect("client");
    let attempt = |client_id: &str, challenge: Option<String>, method: Option<&str>| {
        f.oauth.create_code(
            user(1),
            CreateCodeRequest {
                client_id: client_id.into(),
                code_challenge: challenge,
                code_challenge_method: method.map(Into::into),
            },
        )
    };
    assert!(matches!(
        attempt("CInope", None, None),
        Err(CodeError::ClientNotFound)
    ));
    assert!(matches!(
        attempt(no_redirect.client.id.as_str(), None, None),
        Err(CodeError::Invalid(_))
    ));
    assert!(matches!(
        attempt("CXBuiltIn", Some(challenge(VERIFIER)), Some("plain")),
        Err(CodeError::Invalid(_))
    ));
    assert!(matches!(
        attempt("CXBuiltIn", Some(challenge(VERIFIER)), None),
        Err(CodeError::Invalid(_))
    ));
    assert!(matches!(
        attempt("CXBuiltIn", None, Some("S256")),
        Err(CodeError::Invalid(_))
    ));
    assert!(matches!(
        attempt("CXBuiltIn", Some("short".into()), Some("S256")),
        Err(CodeError::Invalid(_))
    ));
    assert!(attempt("CXBuiltIn", Some(challenge(VERIFIER)), Some("S256")).is_ok());
}

#[test]
fn token_requests_need_the_right_grant_type_and_a_code() {
    let f = fixture(10);
    let client = f.oauth.clients().get("CXBuiltIn").expect("built-in");
    let mut request = grant("x", None);
    request.grant_type = None;
    assert!(matches!(
        f.oauth.exchange(&client, request.clone()),
        Err(OAuthError::InvalidRequest(_))
    ));
    request.grant_type = Some("password".into());
    assert!(matches!(
        f.oauth.exchange(&client, request),
        Err(OAuthError::UnsupportedGrantType(_))
    ));
    let mut no_code = grant("", None);
    no_code.code = None;
    assert!(matches!(
        f.oauth.exchange(&client, no_code),
        Err(OAuthError::InvalidRequest(_))
    ));
    assert!(matches!(
        f.oauth.exchange(&client, grant("unknown", None)),
        Err(OAuthError::InvalidGrant(_))
    ));
}

#[test]
fn revocation_touches_only_the_clients_own_tokens() {
    let f = fixture(10);
    let client = f.oauth.clients().get("CXBuiltIn").expect("built-in");
    let other = f
        .oauth
        .clients()
        .create(user(1), new_client("Other"))
        .expect("client")
        .client;
    let request = CreateCodeRequest {
        client_id: "CXBuiltIn".into(),
        ..CreateCodeRequest::default()
    };
    let code = f.oauth.create_code(user(3), request).expect("code").code;
    let token = f
        .oauth
        .exchange(&client, grant(code.expose(), None))
        .expect("token")
        .token;
    f.oauth
        .revoke(&other, Some(token.expose()))
        .expect("not an error");
    assert!(
        f.tokens.verify(token.expose()).is_ok(),
        "another client cannot revoke it"
    );
    f.oauth
        .revoke(&client, Some("garbage"))
        .expect("unknown tokens are fine");
    assert!(matches!(
        f.oauth.revoke(&client, None),
        Err(OAuthError::InvalidRequest(_))
    ));
    f.oauth
        .revoke(&client, Some(token.expose()))
        .expect("revoked");
    assert!(f.tokens.verify(token.expose()).is_err());
}

#[test]
fn deleting_a_client_deletes_its_tokens() {
    let f = fixture(10);
    let view = f
        .oauth
        .clients()
        .create(user(1), new_client("Doomed"))
        .expect("client");
    let id = view.client.id.as_str().to_owned();
    let request = CreateCodeRequest {
        client_id: id.clone(),
        ..CreateCodeRequest::default()
    };
    let code = f.oauth.create_code(user(4), request).expect("code").code;
    let token = f
        .oauth
        .exchange(&view.client, grant(code.expose(), None))
        .expect("token")
        .token;
    f.oauth.clients().delete(user(1), &id).expect("delete");
    assert!(f.tokens.verify(token.expose()).is_err());
}
