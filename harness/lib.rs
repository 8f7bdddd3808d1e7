//! egresslab: a network proxy and connectivity simulator test harness.
//!
//! - [`lab`] starts a small fake world (endpoints, proxies, firewalls, names, UDP) and records a timeline.
//! - [`check`] diagnoses connectivity and certificates the way a careful engineer would, against any network.
//! - [`scenario`] reads scenario files into a lab plan, a client profile and expectations, and runs
//!   them as a [`scenario::Live`] scenario: from a Rust test, from `egresslab run` or `egresslab up`.
//! - [`digest`] is HTTP Digest arithmetic, [`ntlm`] is NTLM and SPNEGO, both sides, shared by the lab's proxy and the checks.
//! - [`socks`] is the SOCKS5 wire format (RFC 1928, RFC 1929), both sides, shared the same way.
//! - [`web`] serves a running lab's live view to a browser (`egresslab up --web`).

pub mod check;
pub mod digest;
#[doc(hidden)]
pub mod fuzzing;
pub mod lab;
pub mod ntlm;
pub mod scenario;
pub mod socks;
pub mod web;

pub use egresslab_certs as certs;

/// The README's examples, compiled and run by `cargo test --doc` so they cannot go stale.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
