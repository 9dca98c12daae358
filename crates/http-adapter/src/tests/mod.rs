//! The HTTP adapter's own suite: the real `crate::app` driven through
//! actix-web's test harness, over the domain's in-memory fakes (no
//! database), checking what callers see: the
//! Self-Key status table, the order of checks, the create body rules, the
//! documents, RFC 9457 errors, `/api/v1/status`, the probes, and that the
//! OpenAPI document describes exactly the routes the app serves.
//!
//! `TEST_LOG=1` shows the application's log lines while tests run.

mod audit;
mod canary;
mod create;
mod documents;
mod harness;
mod openapi;
mod order;
mod probes;
mod problems;
mod self_key;
mod status;
