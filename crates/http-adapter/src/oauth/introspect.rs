//! `POST /api/v1/oauth/introspect` (RFC 7662): a resource server asks
//! whether a token is active and for whom. The hot path: a cached token is
//! answered without leaving the worker thread.

use std::net::IpAddr;
use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Serialize, Serializer};
use tessera_domain::{
    ClientId, PermissionSet, Principal, Sighting, Timestamp, TokenHash, UserId, VerifyError,
};
use tessera_oauth_clients::OAuthError;

use crate::auth::verify_token;
use crate::client_auth::{no_store, read_params, resource_server_of};
use crate::error::OAuthFailure;
use crate::reply::{Object, Written, json_written};
use crate::state::AppState;

/// RFC 7662 §2.2: `{"active": false}` alone for an unknown, expired,
/// revoked or malformed token.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(example = json!({
    "active": true, "scope": "submit_score", "client_id": "CXFervidex", "sub": "1",
    "iat": 1_764_337_200, "token_type": "Bearer",
    "fingerprint": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
}))]
pub struct Introspection {
    active: bool,
    /// The token's permissions, space-separated.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "serialize_scope"
    )]
    #[schema(nullable = false, value_type = Option<String>)]
    scope: Option<Arc<PermissionSet>>,
    /// The OAuth2 client the token was issued from, if any.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "serialize_client_id"
    )]
    #[schema(nullable = false, value_type = Option<String>)]
    client_id: Option<ClientId>,
    /// The user id, as a string.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "serialize_sub"
    )]
    #[schema(nullable = false, value_type = Option<String>)]
    sub: Option<UserId>,
    /// Expiry in Unix seconds; absent for a token that never expires.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    exp: Option<i64>,
    /// Creation in Unix seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    iat: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, value_type = String, example = "Bearer")]
    token_type: Option<&'static str>,
    /// The token's keyed fingerprint, as the revocation feed names it.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "serialize_fingerprint"
    )]
    #[schema(nullable = false, value_type = Option<String>)]
    fingerprint: Option<TokenHash>,
}

// The answer keeps the principal's parts and turns them into text only as
// it is written: no string is built for the scope, the user id or the
// fingerprint on the way (resource servers ask on every request of theirs).
// serde, which writes the answers that need escaping, gets the text here.
type Serialized<S> = Result<<S as Serializer>::Ok, <S as Serializer>::Error>;

fn text<S: Serializer>(text: Option<impl AsRef<str>>, serializer: S) -> Serialized<S> {
    match text {
        Some(text) => serializer.serialize_str(text.as_ref()),
        None => serializer.serialize_none(),
    }
}

fn serialize_scope<S: Serializer>(scope: &Option<Arc<PermissionSet>>, s: S) -> Serialized<S> {
    text(scope.as_deref().map(PermissionSet::scope), s)
}

fn serialize_client_id<S: Serializer>(client_id: &Option<ClientId>, s: S) -> Serialized<S> {
    text(client_id.as_ref().map(ClientId::as_str), s)
}

fn serialize_sub<S: Serializer>(sub: &Option<UserId>, s: S) -> Serialized<S> {
    text(sub.map(|sub| sub.to_string()), s)
}

fn serialize_fingerprint<S: Serializer>(fingerprint: &Option<TokenHash>, s: S) -> Serialized<S> {
    text(fingerprint.as_ref().map(TokenHash::to_hex), s)
}

/// The parameters of an introspection (RFC 7662 §2.1), as a form or as a
/// JSON object of strings.
#[derive(utoipa::ToSchema)]
#[expect(
    dead_code,
    reason = "describes for OpenAPI what `read_params` reads; never built"
)]
pub struct IntrospectParams {
    /// The token to look at.
    token: String,
    /// Accepted and ignored: there is one kind of token.
    #[schema(required = false, example = "access_token")]
    token_type_hint: String,
    /// A resource server's id, with `client_secret`, instead of HTTP Basic.
    #[schema(required = false)]
    client_id: String,
    #[schema(required = false)]
    client_secret: String,
    /// The address of the end client that presented the token. A token
    /// restricted to addresses is active only when this is one of them;
    /// without it (or with one that is not an address) such a token is
    /// inactive (fail closed).
    #[schema(required = false, example = "192.0.2.7")]
    client_ip: String,
}

impl Introspection {
    fn inactive() -> Self {
        Self {
            active: false,
            scope: None,
            client_id: None,
            sub: None,
            exp: None,
            iat: None,
            token_type: None,
            fingerprint: None,
        }
    }

    fn of(principal: Principal) -> Self {
        Self {
            active: true,
            scope: Some(principal.permissions),
            client_id: principal.from_api_client,
            sub: Some(principal.user_id),
            exp: principal.expires_at.map(Timestamp::whole_secs),
            iat: Some(principal.created_at.whole_secs()),
            token_type: Some("Bearer"),
            fingerprint: Some(principal.hash),
        }
    }
}

/// Resource servers ask on every request of theirs.
impl Written for Introspection {
    fn write(&self, object: &mut Object) {
        object.bool("active", self.active);
        if let Some(scope) = &self.scope {
            object.joined("scope", scope.iter());
        }
        if let Some(client_id) = &self.client_id {
            object.string("client_id", client_id.as_str());
        }
        if let Some(sub) = self.sub {
            object.int_string("sub", sub.get());
        }
        if let Some(exp) = self.exp {
            object.int("exp", exp);
        }
        if let Some(iat) = self.iat {
            object.int("iat", iat);
        }
        if let Some(token_type) = self.token_type {
            object.string("token_type", token_type);
        }
        if let Some(fingerprint) = &self.fingerprint {
            let digits = fingerprint.hex_digits();
            object.string(
                "fingerprint",
                std::str::from_utf8(&digits).unwrap_or_default(),
            );
        }
    }
}

/// Introspect a token
///
/// RFC 7662, for resource servers: a built-in client marked
/// `resource_server`, authenticated by HTTP Basic or by `client_id` and
/// `client_secret` in the body. Errors are RFC 6749 §5.2 documents.
#[utoipa::path(
    post,
    path = "/api/v1/oauth/introspect",
    tag = "oauth",
    request_body(
        description = "Form or JSON; the resource server's credentials may be in it instead of \
            HTTP Basic",
        content(
            (IntrospectParams = "application/x-www-form-urlencoded"),
            (IntrospectParams = "application/json"),
        ),
    ),
    security(("clientBasic" = []), ()),
    responses(
        (status = 200, description = "Whether the token is active, and for whom",
            body = Introspection, headers(("Cache-Control" = String, description = "`no-store`"))),
        crate::responses::OAuthErrors,
    )
)]
pub async fn introspect_token(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, actix_web::Error> {
    let params = read_params(&req, payload).await?;
    let resource_server = resource_server_of(&req, &params, &state)?;
    crate::client_auth::reject_control(&params, &[])?;
    let token = params
        .get("token")
        .filter(|t| !t.is_empty())
        .ok_or_else(|| OAuthFailure(OAuthError::InvalidRequest("token is required".into())))?;
    // An address that does not parse is an unknown one: a token restricted
    // to addresses is then inactive (fail closed), any other unaffected.
    let client_ip = params
        .get("client_ip")
        .and_then(|text| text.parse::<IpAddr>().ok());
    let sighting = Sighting::resource_server(resource_server.id.as_str(), client_ip);
    let by = Some(resource_server.id.as_str());
    let answer = verify_token(&state, &req, token, sighting, by, || client_ip)
        .await
        .map_err(OAuthFailure::from)?;
    let document = match answer {
        Ok(principal) => Introspection::of(principal),
        Err(VerifyError::Unexpected(e)) => return Err(OAuthFailure::from(e).into()),
        Err(_) => Introspection::inactive(),
    };
    Ok(no_store(json_written(&document)))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use tessera_domain::{ClientId, PermissionSet, TokenHash, UserId};

    use super::Introspection;
    use crate::reply::{assert_written_as_serde, written};

    fn active(scope: &[&str], client_id: Option<&str>, exp: Option<i64>) -> Introspection {
        Introspection {
            active: true,
            scope: Some(Arc::new(PermissionSet::from_trusted(
                scope.iter().map(|name| (*name).to_owned()),
            ))),
            client_id: client_id.map(ClientId::new),
            sub: Some(UserId::new(i64::MAX).expect("a user id")),
            exp,
            iat: Some(1_764_337_200),
            token_type: Some("Bearer"),
            fingerprint: Some(TokenHash([0x9f; 32])),
        }
    }

    #[test]
    fn the_written_answer_is_what_serde_writes() {
        let documents = [
            Introspection::inactive(),
            active(&["submit_score"], None, None),
            active(&[], Some("CXFervidex"), Some(-1)),
            active(
                &["delete_score", "submit_score"],
                Some("CX✓é\u{7f}"),
                Some(i64::MAX),
            ),
        ];
        for document in &documents {
            assert_written_as_serde(document);
        }
        for needs_escaping in ["say \"hi\"", "back\\slash", "new\nline"] {
            let document = active(&["submit_score"], Some(needs_escaping), None);
            assert_eq!(
                written(&document),
                None,
                "{needs_escaping:?} is left to serde"
            );
        }
    }
}
