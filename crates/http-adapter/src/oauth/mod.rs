//! The OAuth2 endpoints. `create-code` is a Self-Key
//! endpoint with problem+json errors; `token` and `revoke` speak RFC 6749
//! §5.2 errors, since OAuth2 client libraries parse that shape.

pub mod create_code;
pub mod introspect;
pub mod revoke;
pub mod token;
