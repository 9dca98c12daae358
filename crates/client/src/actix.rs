//! `Authenticated`: an actix-web extractor that lets a handler run only for
//! a valid Tessera token.
//!
//! Register the verifier once with `App::app_data(verifier.clone())`; a
//! handler that takes `Authenticated` then sees the token's principal, and
//! the caller gets a problem+json `401`/`403`/`503` otherwise.

use std::ops::Deref;
use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::http::header::{AUTHORIZATION, CONTENT_TYPE};
use actix_web::{FromRequest, HttpRequest, HttpResponse, ResponseError, dev::Payload};
use futures_util::future::LocalBoxFuture;

use crate::principal::Principal;
use crate::problem::AuthError;
use crate::verifier::Verifier;

/// The principal of the request's valid Bearer token. The end client's
/// address passed to Tessera is the TCP peer's: behind a proxy, call
/// [`Verifier::authenticate`] with the address the proxy reports instead.
#[derive(Debug, Clone)]
pub struct Authenticated(pub Arc<Principal>);

impl Authenticated {
    /// The principal, when the token carries `permission`; `403` otherwise.
    pub fn require(&self, permission: &str) -> Result<&Principal, AuthError> {
        self.0.require(permission).map(|()| &*self.0)
    }
}

impl Deref for Authenticated {
    type Target = Principal;

    fn deref(&self) -> &Principal {
        &self.0
    }
}

impl FromRequest for Authenticated {
    type Error = AuthError;
    type Future = LocalBoxFuture<'static, Result<Self, AuthError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let verifier = req.app_data::<Verifier>().cloned();
        let authorization = req
            .headers()
            .get(AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let client_ip = req.peer_addr().map(|peer| peer.ip());
        Box::pin(async move {
            let Some(verifier) = verifier else {
                tracing::error!("Authenticated used without App::app_data(Verifier)");
                return Err(AuthError::NotConfigured);
            };
            let principal = verifier
                .authenticate(authorization.as_deref(), client_ip)
                .await?;
            Ok(Authenticated(principal))
        })
    }
}

impl ResponseError for AuthError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        response.insert_header((CONTENT_TYPE, "application/problem+json"));
        for &header in self.headers() {
            response.insert_header(header);
        }
        response.body(self.body())
    }
}
