//! The one async boundary between handlers and the synchronous services:
//! every service call that may touch the database runs here, on the
//! blocking pool within the database deadline (`AppState::blocking`), so no
//! handler hands work to the pool itself. The outer `Result` is the
//! boundary's (`503` past the deadline, a panicked call), the inner one the
//! service's, which each handler maps into the error shape it speaks.

use tessera_domain::{
    ApiToken, AuditEvent, Canary, CreateTokenError, CreateTokenRequest, DeleteTokenError,
    IdempotencyKey, OAuthClient, PatchTokenError, Principal, RevocationPage, RotateRequest,
    RotateTokenError, Sighting, TokenHash, TokenPatch, TokenService, TokenSource, UserId,
    VerifyError,
};
use tessera_oauth_clients::{
    AuthorizationService, ClientError, ClientPatch, ClientView, CodeError, CreateCodeRequest,
    IssuedCode, NewClient, OAuthError, TokenRequest,
};

use crate::batches::{Batches, Missed};
use crate::error::ApiError;
use crate::state::AppState;

/// An `Idempotency-Key` with the fingerprint of the body it came with.
type Keyed = Option<(IdempotencyKey, [u8; 32])>;

/// What the boundary answers: its own failure outside, the service's inside.
type Called<T, E> = Result<Result<T, E>, ApiError>;

impl AppState {
    async fn on_tokens<T: Send + 'static>(
        &self,
        work: impl FnOnce(&TokenService) -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let tokens = self.tokens.clone();
        self.blocking(move || work(&tokens)).await
    }

    /// `item`'s answer from `batches`, within the database deadline.
    async fn batched<I: Send + 'static, A: Send + 'static>(
        &self,
        batches: &Batches<I, A>,
        item: I,
    ) -> Result<A, ApiError> {
        batches
            .answer(item, self.deadline)
            .await
            .map_err(|missed| match missed {
                Missed::TimedOut => crate::body::past_deadline(self.deadline),
                Missed::Lost => ApiError::Unexpected(anyhow::anyhow!("its batch failed")),
            })
    }

    async fn on_oauth<T: Send + 'static>(
        &self,
        work: impl FnOnce(&AuthorizationService) -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let oauth = self.oauth.clone();
        self.blocking(move || work(&oauth)).await
    }

    pub(crate) async fn create_token(
        &self,
        user: UserId,
        request: CreateTokenRequest,
        key: Keyed,
    ) -> Called<ApiToken, CreateTokenError> {
        // With a key (its claim is its own transaction), or for a client
        // (which looks the client up and may replace an expired token): alone.
        if key.is_some() || matches!(request.source, TokenSource::Client(_)) {
            return self
                .on_tokens(move |tokens| tokens.create_once(user, request, key))
                .await;
        }
        let alone = request.clone();
        match self.batched(&self.creations, (user, request)).await {
            // Its user's lock was held (a suspension under way): it waits
            // for it on its own, not in a batch.
            Ok(Err(CreateTokenError::Busy)) => {
                self.on_tokens(move |tokens| tokens.create(user, alone))
                    .await
            }
            answered => answered,
        }
    }

    pub(crate) async fn list_tokens(&self, user: UserId) -> Called<Vec<ApiToken>, anyhow::Error> {
        self.on_tokens(move |tokens| tokens.list(user)).await
    }

    pub(crate) async fn delete_token(
        &self,
        user: UserId,
        token: String,
    ) -> Called<(), DeleteTokenError> {
        self.on_tokens(move |tokens| tokens.delete(user, &token))
            .await
    }

    pub(crate) async fn update_token(
        &self,
        user: UserId,
        id: String,
        patch: TokenPatch,
    ) -> Called<ApiToken, PatchTokenError> {
        self.on_tokens(move |tokens| tokens.update(user, &id, patch))
            .await
    }

    pub(crate) async fn rotate_owned(
        &self,
        user: UserId,
        id: String,
        request: RotateRequest,
    ) -> Called<ApiToken, RotateTokenError> {
        self.on_tokens(move |tokens| tokens.rotate_owned(user, &id, request))
            .await
    }

    /// Whether `token` may rotate itself from `origin`; its fingerprint.
    pub(crate) async fn rotation_credential(
        &self,
        token: String,
        origin: Option<std::net::IpAddr>,
    ) -> Called<TokenHash, RotateTokenError> {
        self.on_tokens(move |tokens| tokens.rotation_credential(&token, origin))
            .await
    }

    pub(crate) async fn rotate_presented(
        &self,
        hash: TokenHash,
        request: RotateRequest,
    ) -> Called<ApiToken, RotateTokenError> {
        self.on_tokens(move |tokens| tokens.rotate_presented(hash, request))
            .await
    }

    /// The store's answer for a token the cache could not give, looked up
    /// with the other misses of the moment.
    pub(crate) async fn verify_stored(
        &self,
        hash: TokenHash,
        sighting: Sighting<'static>,
    ) -> Called<Principal, VerifyError> {
        self.batched(&self.misses, (hash, sighting)).await
    }

    pub(crate) async fn create_client(
        &self,
        user: UserId,
        new: NewClient,
        key: Keyed,
    ) -> Called<ClientView, ClientError> {
        self.on_oauth(move |oauth| oauth.clients().create_once(user, new, key))
            .await
    }

    pub(crate) async fn list_clients(&self, user: UserId) -> Called<Vec<ClientView>, ClientError> {
        self.on_oauth(move |oauth| oauth.clients().list_own(user))
            .await
    }

    pub(crate) async fn get_client(&self, id: String) -> Called<OAuthClient, ClientError> {
        self.on_oauth(move |oauth| oauth.clients().get(&id)).await
    }

    pub(crate) async fn update_client(
        &self,
        user: UserId,
        id: String,
        patch: ClientPatch,
    ) -> Called<ClientView, ClientError> {
        self.on_oauth(move |oauth| oauth.clients().update(user, &id, patch))
            .await
    }

    pub(crate) async fn reset_client_secret(
        &self,
        user: UserId,
        id: String,
    ) -> Called<ClientView, ClientError> {
        self.on_oauth(move |oauth| oauth.clients().reset_secret(user, &id))
            .await
    }

    pub(crate) async fn delete_client(&self, user: UserId, id: String) -> Called<(), ClientError> {
        self.on_oauth(move |oauth| oauth.clients().delete(user, &id))
            .await
    }

    /// The client with this id and secret, if any.
    pub(crate) async fn authenticate_client(
        &self,
        id: String,
        secret: String,
    ) -> Called<Option<OAuthClient>, anyhow::Error> {
        self.on_oauth(move |oauth| oauth.clients().authenticate(&id, &secret))
            .await
    }

    pub(crate) async fn create_code(
        &self,
        user: UserId,
        request: CreateCodeRequest,
    ) -> Called<IssuedCode, CodeError> {
        self.on_oauth(move |oauth| oauth.create_code(user, request))
            .await
    }

    pub(crate) async fn exchange_code(
        &self,
        client: OAuthClient,
        request: TokenRequest,
    ) -> Called<ApiToken, OAuthError> {
        self.on_oauth(move |oauth| oauth.exchange(&client, request))
            .await
    }

    pub(crate) async fn revoke_for_client(
        &self,
        client: OAuthClient,
        token: Option<String>,
    ) -> Called<Option<Canary>, OAuthError> {
        self.on_oauth(move |oauth| oauth.revoke(&client, token.as_deref()))
            .await
    }

    /// The revocation log after `cursor`, at most `limit` entries.
    pub(crate) async fn audit_events(
        &self,
        user: UserId,
        after: u64,
        limit: usize,
    ) -> Called<Vec<AuditEvent>, anyhow::Error> {
        let log = self.audit.clone();
        self.blocking(move || log.events(user, after, limit)).await
    }

    pub(crate) async fn revocations_after(
        &self,
        cursor: i64,
        limit: usize,
    ) -> Called<RevocationPage, anyhow::Error> {
        let log = self.revocations.clone();
        self.blocking(move || log.after(cursor, limit)).await
    }
}
