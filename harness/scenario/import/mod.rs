//! `egresslab import`: a customer's proxy configuration turned into a scenario that reproduces it.
//!
//! [`squid`] reads a squid.conf (following `include`) into a scenario whose proxy decides with
//! Squid's own access semantics; [`pac`] adds a customer's PAC file, served as written on WPAD.
//! What the lab does not model is listed with its file and line, never dropped silently.

pub mod pac;
mod reader;
pub mod squid;

pub use squid::{import, import_file, import_named, Ignored, Import, ImportError};
