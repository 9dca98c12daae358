//! The authorization-code grant (RFC 6749 §4.1) with PKCE S256 (RFC 7636),
//! and revocation (RFC 7009). Codes are single-use, bound to a user and a
//! client, stored only as fingerprints, and a replayed code revokes the
//! token first issued from it.

use std::sync::Arc;
use std::time::Duration;

use tessera_domain::tokens::to_document;
use tessera_domain::{
    ApiToken, AuthorizationCode, Canary, ClientId, ClientRevocation, Clock, CodeRepository,
    OAuthClient, RedeemError, SecretString, Timestamp, TokenService, UserId,
};

use crate::pkce;
use crate::registry::{ClientError, ClientService};

const CODE_RANDOM_LEN: usize = 43;
const REDEEM_ATTEMPTS: usize = 3;

#[derive(Debug, Clone, Default)]
pub struct CreateCodeRequest {
    pub client_id: String,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
}

#[derive(Debug, Clone)]
pub struct IssuedCode {
    pub code: SecretString,
    pub user_id: UserId,
    pub client_id: ClientId,
    pub created_on: Timestamp,
    pub expires_at: Timestamp,
}

#[derive(Debug, thiserror::Error)]
pub enum CodeError {
    #[error("{0}")]
    Invalid(String),
    #[error("no OAuth2 client has this id")]
    ClientNotFound,
    #[error("this user is suspended: no token can be granted for them")]
    Suspended,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// The parameters of a token request (RFC 6749 §4.1.3), client
/// authentication already done.
#[derive(Debug, Clone, Default)]
pub struct TokenRequest {
    pub grant_type: Option<String>,
    pub code: Option<String>,
    pub redirect_uri: Option<String>,
    pub code_verifier: Option<String>,
}

/// RFC 6749 §5.2 errors.
#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    #[error("{0}")]
    InvalidRequest(String),
    #[error("{0}")]
    InvalidClient(String),
    #[error("{0}")]
    InvalidGrant(String),
    #[error("{0}")]
    UnsupportedGrantType(String),
    #[error("internal error")]
    Unexpected(#[from] anyhow::Error),
}

impl OAuthError {
    /// The `error` member of the response.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidRequest(_) => "invalid_request",
            Self::InvalidClient(_) => "invalid_client",
            Self::InvalidGrant(_) => "invalid_grant",
            Self::UnsupportedGrantType(_) => "unsupported_grant_type",
            Self::Unexpected(_) => "server_error",
        }
    }
}

pub struct AuthorizationService {
    clients: Arc<ClientService>,
    codes: Arc<dyn CodeRepository>,
    tokens: Arc<TokenService>,
    clock: Arc<dyn Clock>,
    code_ttl: Duration,
}

impl std::fmt::Debug for AuthorizationService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthorizationService")
            .field("code_ttl", &self.code_ttl)
            .finish_non_exhaustive()
    }
}

fn invalid_grant(why: &str) -> OAuthError {
    OAuthError::InvalidGrant(why.to_owned())
}

impl AuthorizationService {
    pub fn new(
        clients: Arc<ClientService>,
        codes: Arc<dyn CodeRepository>,
        tokens: Arc<TokenService>,
        clock: Arc<dyn Clock>,
        code_ttl_secs: u64,
    ) -> Self {
        Self {
            clients,
            codes,
            tokens,
            clock,
            code_ttl: Duration::from_secs(code_ttl_secs),
        }
    }

    pub fn clients(&self) -> &ClientService {
        &self.clients
    }

    /// A code for `user` to hand to `clientID`'s redirect URI.
    pub fn create_code(
        &self,
        user: UserId,
        request: CreateCodeRequest,
    ) -> Result<IssuedCode, CodeError> {
        let client = match self.clients.get(&request.client_id) {
            Ok(client) => client,
            Err(ClientError::NotFound) => return Err(CodeError::ClientNotFound),
            Err(e) => return Err(anyhow::Error::new(e).into()),
        };
        if client.redirect_uri.is_none() {
            return Err(CodeError::Invalid(
                "this client has no redirectUri to send a code to".into(),
            ));
        }
        if self.tokens.is_suspended(user)? {
            return Err(CodeError::Suspended);
        }
        let code_challenge = match (request.code_challenge, request.code_challenge_method) {
            (None, None) => None,
            (Some(challenge), Some(method)) if method == "S256" => {
                if !pkce::is_valid_challenge(&challenge) {
                    return Err(CodeError::Invalid(
                        "codeChallenge must be the base64url SHA-256 of the verifier (43 characters)"
                            .into(),
                    ));
                }
                Some(challenge)
            }
            (_, Some(_)) | (Some(_), None) => {
                return Err(CodeError::Invalid(
                    "codeChallengeMethod must be S256, given with a codeChallenge".into(),
                ));
            }
        };
        let now = self.clock.now();
        // Expired codes go without an operator's help: each new code sweeps.
        self.codes.purge_expired(now)?;
        let code = SecretString::new(tessera_domain::random::alphanumeric("", CODE_RANDOM_LEN));
        let expires_at = now + self.code_ttl;
        self.codes.insert(AuthorizationCode {
            hash: self.tokens.fingerprint(code.expose()),
            user_id: user,
            client_id: client.id.clone(),
            code_challenge,
            created_at: now,
            expires_at,
            used_at: None,
            token_hash: None,
        })?;
        Ok(IssuedCode {
            code,
            user_id: user,
            client_id: client.id,
            created_on: now,
            expires_at,
        })
    }

    /// Exchanges a code for a token for the authenticated `client`. A
    /// failed exchange does not use the code up, except a replay.
    pub fn exchange(
        &self,
        client: &OAuthClient,
        request: TokenRequest,
    ) -> Result<ApiToken, OAuthError> {
        match request.grant_type.as_deref() {
            None => return Err(OAuthError::InvalidRequest("grant_type is required".into())),
            Some("authorization_code") => {}
            Some(other) => {
                return Err(OAuthError::UnsupportedGrantType(format!(
                    "grant_type {other:?} is not supported; use authorization_code"
                )));
            }
        }
        let code = request
            .code
            .filter(|c| !c.is_empty())
            .ok_or_else(|| OAuthError::InvalidRequest("code is required".into()))?;
        let hash = self.tokens.fingerprint(&code);
        let stored = self
            .codes
            .find(&hash)?
            .ok_or_else(|| invalid_grant("unknown authorization code"))?;
        if stored.client_id != client.id {
            return Err(invalid_grant("the code was issued to another client"));
        }
        if stored.used_at.is_some() {
            self.revoke_issued(&hash)?;
            tracing::warn!(client = %client.id, "authorization code replayed; its token is revoked");
            return Err(invalid_grant("the code was used already"));
        }
        if stored.expires_at <= self.clock.now() {
            return Err(invalid_grant("the code expired"));
        }
        if let Some(redirect_uri) = &request.redirect_uri
            && client.redirect_uri.as_ref() != Some(redirect_uri)
        {
            return Err(invalid_grant(
                "redirect_uri differs from the registered one",
            ));
        }
        if let Some(challenge) = &stored.code_challenge {
            let verified = request
                .code_verifier
                .as_deref()
                .is_some_and(|v| pkce::verifies(v, challenge));
            if !verified {
                return Err(invalid_grant("code_verifier is missing or wrong"));
            }
        }
        for _ in 0..REDEEM_ATTEMPTS {
            let (token, record) = self.tokens.new_client_token(stored.user_id, client);
            match self.codes.redeem(&hash, record, self.clock.now()) {
                Ok(redeemed) => {
                    self.tokens.forget(&redeemed.replaced);
                    return Ok(to_document(redeemed.token, token));
                }
                Err(RedeemError::DuplicateHash) => continue,
                Err(RedeemError::AlreadyUsed) => {
                    // Another exchange of the same code won the race: a replay.
                    self.revoke_issued(&hash)?;
                    return Err(invalid_grant("the code was used already"));
                }
                Err(RedeemError::Suspended) => {
                    return Err(invalid_grant("the user is suspended"));
                }
                Err(RedeemError::Unexpected(e)) => return Err(e.into()),
            }
        }
        Err(anyhow::anyhow!("could not generate a unique token").into())
    }

    fn revoke_issued(&self, code: &tessera_domain::TokenHash) -> anyhow::Result<()> {
        if let Some(hash) = self.codes.revoke_issued(code, self.clock.now())? {
            self.tokens.forget(&[hash]);
        }
        Ok(())
    }

    /// RFC 7009: revokes `token` if `client` issued it; unknown tokens are
    /// no error. A canary is left alone and returned, to be reported.
    pub fn revoke(
        &self,
        client: &OAuthClient,
        token: Option<&str>,
    ) -> Result<Option<Canary>, OAuthError> {
        let token = token
            .filter(|t| !t.is_empty())
            .ok_or_else(|| OAuthError::InvalidRequest("token is required".into()))?;
        match self.tokens.revoke_for_client(token, &client.id)? {
            ClientRevocation::Canary(canary) => Ok(Some(canary)),
            ClientRevocation::Revoked | ClientRevocation::NotRevoked => Ok(None),
        }
    }
}
