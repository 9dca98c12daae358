//! `tessera-client`: what a service that accepts Tessera tokens needs to
//! check them in microseconds instead of a round trip, without holding on
//! to a revoked token.
//!
//! A [`Verifier`] asks Tessera by introspection (RFC 7662, with the
//! resource server's credentials) and keeps each answer in a local cache.
//! A background task follows Tessera's revocation feed and drops revoked
//! tokens from that cache as they are announced. The cache is only used
//! while the verifier can prove it has seen every revocation up to
//! `max_staleness` ago — the same rule a Tessera instance applies to its own
//! cache; past that, every check asks Tessera, and answers
//! [`Refusal::Unavailable`] (`503`) when Tessera does not answer.
//!
//! ```no_run
//! # async fn demo() -> Result<(), tessera_client::BuildError> {
//! use tessera_client::Verifier;
//! let verifier = Verifier::builder("http://127.0.0.1:8080", "CXShop", "its-secret")
//!     .build()?;
//! match verifier.verify("tsr_…", None).await {
//!     Ok(principal) if principal.has("submit_score") => { /* proceed */ }
//!     Ok(_) => { /* 403 */ }
//!     Err(refusal) => { /* refusal.status(): 401 or 503 */ }
//! }
//! # Ok(()) }
//! ```
//!
//! Features: `actix` (default) adds the [`Authenticated`] extractor;
//! `tower` adds [`RequireToken`], a tower `Layer` for axum or hyper
//! services; `rustls` lets the verifier reach Tessera over HTTPS.

mod cache;
mod config;
mod feed;
mod introspect;
mod principal;
mod problem;
mod state;
mod verifier;

#[cfg(feature = "actix")]
mod actix;
#[cfg(feature = "tower")]
mod tower;

#[cfg(feature = "actix")]
pub use actix::Authenticated;
pub use config::{BuildError, Builder};
pub use principal::Principal;
pub use problem::{AuthError, Refusal, bearer_token};
pub use state::Stats;
#[cfg(feature = "tower")]
pub use tower::{RequireToken, RequireTokenService};
pub use verifier::Verifier;
