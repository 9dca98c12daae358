//! `RequireToken`: a tower `Layer` that lets a request through only with a
//! valid Tessera token, for axum, hyper or tonic services.
//!
//! The inner service finds the principal in the request's extensions as
//! `Arc<Principal>`; refused requests get the same problem+json answers as
//! the actix extractor.

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{HeaderMap, HeaderValue, Request, Response, StatusCode, header};
use tower_layer::Layer;
use tower_service::Service;

use crate::problem::AuthError;
use crate::verifier::Verifier;

/// Reads the end client's address from a request (axum:
/// `|ext, _| ext.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip())`).
pub type ClientIpFn = fn(&http::Extensions, &HeaderMap) -> Option<IpAddr>;

/// The layer: `ServiceBuilder::new().layer(RequireToken::new(verifier))`.
#[derive(Debug, Clone)]
pub struct RequireToken {
    verifier: Verifier,
    permission: Option<Arc<str>>,
    client_ip: Option<ClientIpFn>,
}

impl RequireToken {
    pub fn new(verifier: Verifier) -> Self {
        Self {
            verifier,
            permission: None,
            client_ip: None,
        }
    }

    /// Also require `permission` (`403` without it).
    pub fn permission(mut self, permission: &str) -> Self {
        self.permission = Some(permission.into());
        self
    }

    /// How to find the end client's address; without it none is passed,
    /// and tokens restricted to addresses are refused.
    pub fn client_ip(mut self, read: ClientIpFn) -> Self {
        self.client_ip = Some(read);
        self
    }
}

impl<S> Layer<S> for RequireToken {
    type Service = RequireTokenService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireTokenService {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service [`RequireToken`] wraps around another.
#[derive(Debug, Clone)]
pub struct RequireTokenService<S> {
    inner: S,
    layer: RequireToken,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for RequireTokenService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send,
    ReqBody: Send + 'static,
    ResBody: From<String>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Response<ResBody>, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        // The clone that was made ready is the one to call.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let layer = self.layer.clone();
        let authorization = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let client_ip = layer
            .client_ip
            .and_then(|read| read(request.extensions(), request.headers()));
        Box::pin(async move {
            let checked = layer
                .verifier
                .authenticate(authorization.as_deref(), client_ip)
                .await;
            let principal = checked.and_then(|principal| match &layer.permission {
                Some(permission) => principal.require(permission).map(|()| principal),
                None => Ok(principal),
            });
            match principal {
                Ok(principal) => {
                    request.extensions_mut().insert(principal);
                    inner.call(request).await
                }
                Err(refusal) => Ok(refused(&refusal)),
            }
        })
    }
}

fn refused<B: From<String>>(error: &AuthError) -> Response<B> {
    let mut response = Response::new(B::from(error.body()));
    *response.status_mut() =
        StatusCode::from_u16(error.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    for &(name, value) in error.headers() {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}
