//! The client crate against a fake Tessera over real HTTP (one test
//! binary: the fake is shared).

mod fake;
mod middleware;
mod verifier;
