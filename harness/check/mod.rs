//! Diagnostic checks: what a careful engineer runs, as code.
//!
//! Checks see only what a real client sees (addresses, sockets, handshakes, HTTP answers, files); they
//! never import from the lab, so the same checks run against a real network.

pub mod config;

pub use config::*;
