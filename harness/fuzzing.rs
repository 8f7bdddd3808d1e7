//! Entry points for the fuzz targets in `fuzz/` and the hostile-input property tests: thin wrappers
//! around crate-private parsers, returning plain data so callers need no private types.
//!
//! Not part of the supported API; it exists so the parsers can be fuzzed without making them public.

use crate::lab::plan::{AuthScheme, ProxyAuthPlan};
use crate::lab::proxy::{auth, request};

/// What the proxy's request parser made of some bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// More bytes are needed.
    Incomplete,
    /// A complete head: method, target host, port, and how many bytes it used.
    Request {
        /// The method as sent.
        method: String,
        /// The destination host.
        host: String,
        /// The destination port.
        port: u16,
        /// Bytes of the buffer the head used.
        used: usize,
    },
    /// Refused; the name of the Squid error class (`InvalidUrl`, `HeadersTooLarge`, ...).
    Refused(String),
}

/// Run the proxy's request-head parser on `bytes` with a head limit of `limit` bytes.
pub fn parse_request(bytes: &[u8], limit: usize) -> Parsed {
    match request::parse_limited(bytes, limit) {
        Ok(None) => Parsed::Incomplete,
        Ok(Some((request, used))) => Parsed::Request {
            method: request.method,
            host: request.target.host().to_owned(),
            port: request.target.port(),
            used,
        },
        Err(malformed) => Parsed::Refused(format!("{malformed:?}")),
    }
}

/// Check a `Proxy-Authorization` value against a plan offering every scheme with the one user
/// `user`/`password`; returns the outcome in words (`Accepted`, `Missing`, `Rejected`, `Unsupported`).
pub fn check_proxy_authorization(value: Option<&str>, user: &str, password: &str) -> String {
    let plan = ProxyAuthPlan {
        schemes: vec![AuthScheme::Negotiate, AuthScheme::Ntlm, AuthScheme::Basic],
        realm: "fuzz".to_owned(),
        users: vec![(user.to_owned(), password.to_owned())],
    };
    match auth::check(&plan, value) {
        auth::AuthOutcome::Accepted { .. } => "Accepted",
        auth::AuthOutcome::Missing => "Missing",
        auth::AuthOutcome::Rejected { .. } => "Rejected",
        auth::AuthOutcome::Unsupported { .. } => "Unsupported",
        auth::AuthOutcome::Continue { .. } => "Challenged",
        auth::AuthOutcome::Stale { .. } => "Stale",
    }
    .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrappers_report_what_the_parsers_decide() {
        assert_eq!(
            parse_request(b"CONNECT a.test:8443 HTTP/1.1\r\n\r\n", 1024),
            Parsed::Request {
                method: "CONNECT".into(),
                host: "a.test".into(),
                port: 8443,
                used: 32
            }
        );
        assert_eq!(parse_request(b"CONNECT a", 1024), Parsed::Incomplete);
        assert_eq!(
            parse_request(b"CONNECT a:0 HTTP/1.1\r\n\r\n", 1024),
            Parsed::Refused("InvalidUrl".into())
        );
        assert_eq!(check_proxy_authorization(None, "u", "p"), "Missing");
        assert_eq!(
            check_proxy_authorization(Some("Basic dTpw"), "u", "p"),
            "Accepted"
        );
    }
}
