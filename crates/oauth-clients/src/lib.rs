//! OAuth2 for Tessera: the client registry (built-in clients from
//! configuration next to clients users register) and the
//! authorization-code grant with PKCE, on the domain's storage ports.

mod authorization;
mod built_in;
mod pkce;
mod registry;
mod wiring;

pub use authorization::{
    AuthorizationService, CodeError, CreateCodeRequest, IssuedCode, OAuthError, TokenRequest,
};
pub use built_in::{BuiltInClientConfig, ClientConfigError, StaticClientDirectory};
pub use registry::{ClientError, ClientPatch, ClientService, ClientView, NewClient};
pub use wiring::{Core, CoreSettings, Ports};

#[cfg(test)]
mod tests;
