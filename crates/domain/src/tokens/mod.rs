//! The token service: every rule about tokens in one place, above
//! the ports, split by job — issuing, verifying, what owners do with their
//! tokens, and the usage log. Methods are synchronous because the storage
//! adapters are; the HTTP adapter runs them off the async executor.

mod document;
mod issue;
mod owner;
mod rotate;
mod service;
mod usage;
mod verify;

pub use document::{ApiToken, to_document};
pub use issue::{CreateTokenError, CreateTokenRequest, TokenSource};
pub use owner::{DeleteTokenError, PatchTokenError, TokenPatch};
pub use rotate::{MAX_OVERLAP_SECS, RotateRequest, RotateTokenError};
pub use service::TokenService;
pub use usage::{MAX_USED_IPS, STATUS_SITE, Sighting, USAGE_RESOLUTION, most_recent_first};
pub use verify::{Lookup, VerifyError};

#[cfg(test)]
mod canary_tests;
#[cfg(test)]
mod lifecycle_tests;
#[cfg(test)]
mod tests;
