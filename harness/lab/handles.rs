//! Typed handles to the parts of a running lab that are not endpoints.

use std::net::SocketAddr;

/// Where a proxy of a running lab listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyHandle {
    pub(crate) name: String,
    pub(crate) address: SocketAddr,
    pub(crate) tls: bool,
    pub(crate) down: bool,
}

impl ProxyHandle {
    /// The proxy's name in the plan.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its listening address (for a proxy that is down: a bound port that refuses connections).
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The proxy URL a client is configured with: `http://127.0.0.1:PORT` or `https://...` for a TLS
    /// listener.
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.address)
    }

    /// Whether the plan says the proxy is down.
    pub fn is_down(&self) -> bool {
        self.down
    }
}
