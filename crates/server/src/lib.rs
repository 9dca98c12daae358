//! The wiring of Tessera: configuration, telemetry, and the application
//! that the `tessera` binary and the end-to-end tests both start. This is the
//! only crate where adapters meet.

pub mod background;
pub mod cli;
pub mod metrics;
pub mod operators;
pub mod settings;
pub mod startup;
pub mod telemetry;
pub mod webhooks;

pub use settings::Settings;
pub use startup::Application;
