//! The OAuth2 endpoints end to end, driven by a standard OAuth2 client library (the
//! `oauth2` crate) over the real HTTP stack.

use std::time::Duration;

use actix_web::http::Method;
use oauth2::basic::{BasicClient, BasicErrorResponseType, BasicTokenType};
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, EndpointNotSet, EndpointSet,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RequestTokenError, TokenResponse, TokenUrl,
};
use serde_json::{Value, json};
use tessera_persistence::Backend;

use crate::clients::{create_client, valid_client};
use crate::helpers::{
    BUILT_IN_SECRET, TestApp, assert_problem, send, send_json, send_raw, spawn_app,
};

crate::both_backends!(oauth:
    pkce_flow_with_client_secret_basic_yields_a_working_token,
    plain_flow_with_client_secret_post_and_a_built_in_client,
    a_reused_code_fails_and_revokes_the_first_token,
    an_expired_code_is_invalid_grant,
    a_code_of_another_client_is_invalid_grant,
    a_different_redirect_uri_is_invalid_grant,
    a_wrong_secret_is_invalid_client,
    a_wrong_or_missing_verifier_is_invalid_grant_and_keeps_the_code,
    a_new_grant_replaces_the_earlier_token,
    revocation_revokes_only_own_tokens,
    token_endpoint_errors_are_oauth_shaped,
    token_endpoint_takes_json_bodies,
    create_code_checks_its_client,
    a_granted_token_gets_the_lifetime_policys_expiry,
    a_granted_token_rotates_itself_and_stays_the_clients_token,
);

type Client = BasicClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct HttpError(String);

/// The library's HTTP calls, made with awc.
async fn http(request: oauth2::HttpRequest) -> Result<oauth2::HttpResponse, HttpError> {
    let client = awc::Client::default();
    let method = awc::http::Method::from_bytes(request.method().as_str().as_bytes())
        .map_err(|e| HttpError(e.to_string()))?;
    let mut outgoing = client.request(method, request.uri().to_string());
    for (name, value) in request.headers() {
        outgoing = outgoing.insert_header((name.as_str(), value.as_bytes()));
    }
    let mut response = outgoing
        .send_body(request.body().clone())
        .await
        .map_err(|e| HttpError(e.to_string()))?;
    let body = response
        .body()
        .await
        .map_err(|e| HttpError(e.to_string()))?;
    let mut builder = oauth2::http::Response::builder().status(response.status().as_u16());
    for (name, value) in response.headers() {
        builder = builder.header(name.as_str(), value.as_bytes());
    }
    builder
        .body(body.to_vec())
        .map_err(|e| HttpError(e.to_string()))
}

fn library_client(app: &TestApp, id: &str, secret: &str, auth: AuthType) -> Client {
    BasicClient::new(ClientId::new(id.to_owned()))
        .set_client_secret(ClientSecret::new(secret.to_owned()))
        .set_auth_uri(AuthUrl::new(app.url("/consent")).expect("url"))
        .set_token_uri(TokenUrl::new(app.url("/api/v1/oauth/token")).expect("url"))
        .set_auth_type(auth)
}

/// A registered client: (id, secret).
async fn registered(app: &TestApp, author: i64) -> (String, String) {
    let created = create_client(app, author, &valid_client()).await;
    (
        created["clientID"].as_str().expect("id").to_owned(),
        created["clientSecret"].as_str().expect("secret").to_owned(),
    )
}

/// What the consent screen does: `create-code` with the user's session.
async fn code_for(
    app: &TestApp,
    user: i64,
    client: &str,
    challenge: Option<&PkceCodeChallenge>,
) -> String {
    let mut body = json!({"clientID": client});
    if let Some(challenge) = challenge {
        body["codeChallenge"] = json!(challenge.as_str());
        body["codeChallengeMethod"] = json!(challenge.method().as_str());
    }
    let reply = send_json(
        app.with_session(Method::POST, "/api/v1/oauth/create-code", user),
        &body,
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.raw);
    assert_eq!(reply.body["userID"], user);
    assert_eq!(reply.body["clientID"], client);
    assert_eq!(reply.body["createdOn"], app.now());
    assert_eq!(reply.body["expiresAt"], app.now() + 600_000);
    reply.body["code"].as_str().expect("code").to_owned()
}

/// The `error` of a failed exchange.
fn error_of<T: std::fmt::Debug>(
    result: Result<T, RequestTokenError<HttpError, oauth2::basic::BasicErrorResponse>>,
) -> BasicErrorResponseType {
    match result {
        Err(RequestTokenError::ServerResponse(response)) => response.error().clone(),
        other => panic!("expected an OAuth error response, got {other:?}"),
    }
}

async fn whoami(app: &TestApp, token: &str) -> (u16, Value) {
    let reply = app.status_with(token).await;
    (reply.status, reply.body["whoami"].clone())
}

pub async fn pkce_flow_with_client_secret_basic_yields_a_working_token(backend: Backend) {
    let app = spawn_app(backend).await;
    let (id, secret) = registered(&app, 1).await;
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let code = code_for(&app, 7, &id, Some(&challenge)).await;
    let client = library_client(&app, &id, &secret, AuthType::BasicAuth)
        .set_redirect_uri(RedirectUrl::new("https://example.com/callback".into()).expect("url"));
    let token = client
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("exchange");
    assert_eq!(token.token_type(), &BasicTokenType::Bearer);
    let scopes: Vec<_> = token
        .scopes()
        .expect("scope")
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(scopes, ["customise_profile", "submit_score"]);
    let access = token.access_token().secret();
    assert_eq!(whoami(&app, access).await, (200, json!(7)));
    let listed = app.list(7).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["identifier"], "My Client Token");
    assert_eq!(listed[0]["fromAPIClient"], json!(id));
    assert_eq!(listed[0]["token"], json!(access));
}

/// The whole flow for `user` with the built-in client, no PKCE, the
/// secret in the body: the granted access token.
async fn built_in_grant(app: &TestApp, user: i64) -> String {
    let code = code_for(app, user, "CXBuiltIn", None).await;
    let client = library_client(app, "CXBuiltIn", BUILT_IN_SECRET, AuthType::RequestBody);
    let token = client
        .exchange_code(AuthorizationCode::new(code))
        .request_async(&http)
        .await
        .expect("exchange");
    token.access_token().secret().to_owned()
}

pub async fn plain_flow_with_client_secret_post_and_a_built_in_client(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = built_in_grant(&app, 4).await;
    assert_eq!(whoami(&app, &token).await, (200, json!(4)));
}

pub async fn a_reused_code_fails_and_revokes_the_first_token(backend: Backend) {
    let app = spawn_app(backend).await;
    let (id, secret) = registered(&app, 1).await;
    let client = library_client(&app, &id, &secret, AuthType::BasicAuth);
    let code = code_for(&app, 2, &id, None).await;
    let first = client
        .exchange_code(AuthorizationCode::new(code.clone()))
        .request_async(&http)
        .await
        .expect("first exchange");
    assert_eq!(whoami(&app, first.access_token().secret()).await.0, 200);
    let replay = client
        .exchange_code(AuthorizationCode::new(code))
        .request_async(&http)
        .await;
    assert_eq!(error_of(replay), BasicErrorResponseType::InvalidGrant);
    assert_eq!(
        whoami(&app, first.access_token().secret()).await.0,
        401,
        "revoked by the replay"
    );
}

pub async fn an_expired_code_is_invalid_grant(backend: Backend) {
    let app = spawn_app(backend).await;
    let (id, secret) = registered(&app, 1).await;
    let code = code_for(&app, 2, &id, None).await;
    app.clock.advance(Duration::from_millis(600_000));
    let client = library_client(&app, &id, &secret, AuthType::BasicAuth);
    let result = client
        .exchange_code(AuthorizationCode::new(code))
        .request_async(&http)
        .await;
    assert_eq!(error_of(result), BasicErrorResponseType::InvalidGrant);
    assert!(app.list(2).await.is_empty());
}

pub async fn a_code_of_another_client_is_invalid_grant(backend: Backend) {
    let app = spawn_app(backend).await;
    let (id, _) = registered(&app, 1).await;
    let (other_id, other_secret) = registered(&app, 1).await;
    let code = code_for(&app, 2, &id, None).await;
    let other = library_client(&app, &other_id, &other_secret, AuthType::BasicAuth);
    let result = other
        .exchange_code(AuthorizationCode::new(code))
        .request_async(&http)
        .await;
    assert_eq!(error_of(result), BasicErrorResponseType::InvalidGrant);
}

pub async fn a_different_redirect_uri_is_invalid_grant(backend: Backend) {
    let app = spawn_app(backend).await;
    let (id, secret) = registered(&app, 1).await;
    let code = code_for(&app, 2, &id, None).await;
    let client = library_client(&app, &id, &secret, AuthType::BasicAuth)
        .set_redirect_uri(RedirectUrl::new("https://evil.example/callback".into()).expect("url"));
    let result = client
        .exchange_code(AuthorizationCode::new(code))
        .request_async(&http)
        .await;
    assert_eq!(error_of(result), BasicErrorResponseType::InvalidGrant);
}

pub async fn a_wrong_secret_is_invalid_client(backend: Backend) {
    let app = spawn_app(backend).await;
    let (id, _) = registered(&app, 1).await;
    let code = code_for(&app, 2, &id, None).await;
    for auth in [AuthType::BasicAuth, AuthType::RequestBody] {
        let client = library_client(&app, &id, "CSwrong", auth);
        let result = client
            .exchange_code(AuthorizationCode::new(code.clone()))
            .request_async(&http)
            .await;
        assert_eq!(error_of(result), BasicErrorResponseType::InvalidClient);
    }
    let unknown = library_client(&app, "CInobody", "CSwrong", AuthType::BasicAuth);
    let result = unknown
        .exchange_code(AuthorizationCode::new(code))
        .request_async(&http)
        .await;
    assert_eq!(error_of(result), BasicErrorResponseType::InvalidClient);
}

pub async fn a_wrong_or_missing_verifier_is_invalid_grant_and_keeps_the_code(backend: Backend) {
    let app = spawn_app(backend).await;
    let (id, secret) = registered(&app, 1).await;
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let code = code_for(&app, 2, &id, Some(&challenge)).await;
    let client = library_client(&app, &id, &secret, AuthType::BasicAuth);
    let missing = client
        .exchange_code(AuthorizationCode::new(code.clone()))
        .request_async(&http)
        .await;
    assert_eq!(error_of(missing), BasicErrorResponseType::InvalidGrant);
    let (_, wrong) = PkceCodeChallenge::new_random_sha256();
    let wrong = client
        .exchange_code(AuthorizationCode::new(code.clone()))
        .set_pkce_verifier(wrong)
        .request_async(&http)
        .await;
    assert_eq!(error_of(wrong), BasicErrorResponseType::InvalidGrant);
    let token = client
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(PkceCodeVerifier::new(verifier.secret().clone()))
        .request_async(&http)
        .await
        .expect("failed attempts did not use the code up");
    assert_eq!(whoami(&app, token.access_token().secret()).await.0, 200);
}

pub async fn a_new_grant_replaces_the_earlier_token(backend: Backend) {
    let app = spawn_app(backend).await;
    let (id, secret) = registered(&app, 1).await;
    let client = library_client(&app, &id, &secret, AuthType::BasicAuth);
    let mut tokens = Vec::new();
    for _ in 0..2 {
        let code = code_for(&app, 3, &id, None).await;
        let token = client
            .exchange_code(AuthorizationCode::new(code))
            .request_async(&http)
            .await
            .expect("exchange");
        tokens.push(token.access_token().secret().clone());
    }
    assert_eq!(whoami(&app, &tokens[0]).await.0, 401);
    assert_eq!(whoami(&app, &tokens[1]).await.0, 200);
    assert_eq!(app.list(3).await.len(), 1);
}

/// RFC 7009 as a client library sends it. (The `oauth2` crate refuses a
/// revocation URL without TLS, so the test speaks the protocol itself.)
async fn revoke(app: &TestApp, id: &str, secret: &str, body: &str) -> crate::helpers::Reply {
    send_raw(
        app.request(Method::POST, "/api/v1/oauth/revoke")
            .insert_header(("Authorization", basic(id, secret))),
        "application/x-www-form-urlencoded",
        body.to_owned(),
    )
    .await
}

pub async fn revocation_revokes_only_own_tokens(backend: Backend) {
    let app = spawn_app(backend).await;
    let (id, secret) = registered(&app, 1).await;
    let (other_id, other_secret) = registered(&app, 1).await;
    let client = library_client(&app, &id, &secret, AuthType::BasicAuth);
    let code = code_for(&app, 3, &id, None).await;
    let token = client
        .exchange_code(AuthorizationCode::new(code))
        .request_async(&http)
        .await
        .expect("exchange");
    let access = token.access_token().secret().clone();
    let body = format!("token={access}&token_type_hint=access_token");

    let other = revoke(&app, &other_id, &other_secret, &body).await;
    assert_eq!((other.status, other.body.clone()), (200, json!({})));
    assert_eq!(
        whoami(&app, &access).await.0,
        200,
        "another client cannot revoke it"
    );

    assert_eq!(
        revoke(&app, &id, "CSwrong", &body).await.body["error"],
        "invalid_client"
    );
    assert_eq!(whoami(&app, &access).await.0, 200);

    assert_eq!(revoke(&app, &id, &secret, &body).await.status, 200);
    assert_eq!(whoami(&app, &access).await.0, 401);
    assert_eq!(
        revoke(&app, &id, &secret, &body).await.status,
        200,
        "idempotent"
    );
    assert_eq!(
        revoke(&app, &id, &secret, "token=garbage").await.status,
        200
    );

    let missing = revoke(&app, &id, &secret, "token_type_hint=access_token").await;
    assert_eq!(
        (missing.status, missing.body["error"].clone()),
        (400, json!("invalid_request"))
    );
}

use crate::helpers::basic;

pub async fn token_endpoint_errors_are_oauth_shaped(backend: Backend) {
    let app = spawn_app(backend).await;
    let (id, secret) = registered(&app, 1).await;
    let auth = basic(&id, &secret);
    let form = "application/x-www-form-urlencoded";
    let post = |body: &str, content_type: &'static str| {
        send_raw(
            app.request(Method::POST, "/api/v1/oauth/token")
                .insert_header(("Authorization", auth.clone())),
            content_type,
            body.to_owned(),
        )
    };
    let cases = [
        (
            post("grant_type=password&username=a&password=b", form).await,
            400,
            "unsupported_grant_type",
        ),
        (post("code=x", form).await, 400, "invalid_request"),
        (
            post("grant_type=authorization_code", form).await,
            400,
            "invalid_request",
        ),
        (
            post("grant_type=authorization_code&code=nope", form).await,
            400,
            "invalid_grant",
        ),
        (
            post("grant_type=authorization_code&code=a&code=b", form).await,
            400,
            "invalid_request",
        ),
        (
            post("grant_type=authorization_code&code=x", "text/plain").await,
            415,
            "invalid_request",
        ),
        (
            post(&"a".repeat(17 * 1024), form).await,
            413,
            "invalid_request",
        ),
        (
            send(app.request(Method::GET, "/api/v1/oauth/token")).await,
            405,
            "invalid_request",
        ),
        (
            send_raw(
                app.request(Method::POST, "/api/v1/oauth/token"),
                form,
                "grant_type=authorization_code&code=x".into(),
            )
            .await,
            401,
            "invalid_client",
        ),
    ];
    for (reply, status, error) in cases {
        assert_eq!(reply.status, status, "{}", reply.raw);
        assert!(
            reply.content_type.starts_with("application/json"),
            "{}",
            reply.content_type
        );
        assert_eq!(reply.body["error"], error, "{}", reply.raw);
        assert!(reply.body["error_description"].is_string());
        assert_eq!(
            reply.headers.get("cache-control").map(|v| v.as_bytes()),
            Some(&b"no-store"[..])
        );
    }
}

pub async fn token_endpoint_takes_json_bodies(backend: Backend) {
    let app = spawn_app(backend).await;
    let (id, secret) = registered(&app, 1).await;
    let code = code_for(&app, 8, &id, None).await;
    let reply = send_json(
        app.request(Method::POST, "/api/v1/oauth/token"),
        &json!({"grant_type": "authorization_code", "code": code, "client_id": id, "client_secret": secret}),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.raw);
    assert_eq!(reply.body["token_type"], "Bearer");
    assert_eq!(reply.body["access_token"], reply.body["token"]);
    assert_eq!(reply.body["identifier"], "My Client Token");
    assert_eq!(reply.body["userID"], 8);
    assert_eq!(reply.body["scope"], "customise_profile submit_score");
    assert_eq!(
        reply.headers.get("cache-control").map(|v| v.as_bytes()),
        Some(&b"no-store"[..])
    );
}

pub async fn create_code_checks_its_client(backend: Backend) {
    let app = spawn_app(backend).await;
    let path = "/api/v1/oauth/create-code";
    assert_problem(
        &send_json(
            app.with_session(Method::POST, path, 1),
            &json!({"clientID": "CInobody"}),
        )
        .await,
        404,
    );
    // CXFervidex has no redirectUri.
    assert_problem(
        &send_json(
            app.with_session(Method::POST, path, 1),
            &json!({"clientID": "CXFervidex"}),
        )
        .await,
        400,
    );
    let bad_pkce = json!({"clientID": "CXBuiltIn", "codeChallenge": "x".repeat(43), "codeChallengeMethod": "plain"});
    assert_problem(
        &send_json(app.with_session(Method::POST, path, 1), &bad_pkce).await,
        400,
    );
}

/// A grant asks for no expiry, so under a lifetime policy
/// its token gets the policy's lifetime.
pub async fn a_granted_token_gets_the_lifetime_policys_expiry(backend: Backend) {
    let app = crate::lifetime::with_policy(backend, 7);
    let token = built_in_grant(&app, 4).await;
    let listed = app.list(4).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["token"], json!(token));
    assert_eq!(
        listed[0]["expiresAt"],
        app.now() + 7 * crate::lifetime::DAY_MS
    );
}

pub async fn a_granted_token_rotates_itself_and_stays_the_clients_token(backend: Backend) {
    let app = spawn_app(backend).await;
    let granted = built_in_grant(&app, 4).await;
    let rotated = send_json(
        app.with_bearer(Method::POST, "/api/v1/tokens/rotate", &granted),
        &json!({"overlapSecs": 30}),
    )
    .await;
    assert_eq!(rotated.status, 200, "{}", rotated.raw);
    assert_eq!(rotated.body["fromAPIClient"], "CXBuiltIn");
    assert_eq!(rotated.body["identifier"], "Built In Token");
    let successor = rotated.body["token"].as_str().expect("token").to_owned();
    assert_eq!(whoami(&app, &successor).await, (200, json!(4)));
    assert_eq!(
        whoami(&app, &granted).await,
        (200, json!(4)),
        "in its overlap"
    );
    // A new grant replaces the client's token: the successor and the
    // superseded one alike.
    let regranted = built_in_grant(&app, 4).await;
    assert_eq!(whoami(&app, &successor).await.0, 401);
    assert_eq!(whoami(&app, &granted).await.0, 401);
    assert_eq!(whoami(&app, &regranted).await, (200, json!(4)));
    assert_eq!(app.list(4).await.len(), 1);
}
