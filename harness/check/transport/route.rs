//! How one destination is reached (direct or through a proxy tunnel), and opening a stream along it.

use super::proxy::{self, OpenError, ProxyUrl};
use super::socks;
use super::tcp::{self, BoxIo};
use crate::check::config::ClientConfig;
use crate::check::finding::Finding;

/// How one destination is reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// Straight to the destination.
    Direct,
    /// Through a proxy: CONNECT for an HTTP(S) one, the SOCKS5 exchange for a SOCKS5 one.
    Proxy(ProxyUrl),
}

impl std::fmt::Display for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Route::Direct => f.write_str("direct"),
            Route::Proxy(p) => write!(f, "via proxy {p}"),
        }
    }
}

/// Open a byte stream to (host, port) along `route`; on success, every finding on the way (DNS, TCP).
pub(crate) async fn open(
    config: &ClientConfig,
    route: &Route,
    host: &str,
    port: u16,
) -> Result<(BoxIo, Vec<Finding>), OpenError> {
    match route {
        Route::Direct => match tcp::direct(config, host, port).await {
            Ok((s, f)) => Ok((Box::new(s), f)),
            Err(f) => Err(OpenError::Findings(vec![f])),
        },
        Route::Proxy(p) => match p.socks {
            Some(resolve) => socks::tunnel(config, p, resolve, host, port).await,
            None => proxy::tunnel(config, p, host, port).await,
        },
    }
}
