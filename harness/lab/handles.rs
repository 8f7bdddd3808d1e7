//! Typed handles to the parts of a running lab that are not endpoints.

use std::net::SocketAddr;
use std::sync::Arc;

use super::cache::{CacheCounters, CacheStats};

/// Where a proxy of a running lab listens.
///
/// ```
/// use egresslab::lab::{Lab, ProxyPlan};
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let lab = Lab::builder().proxy(ProxyPlan::new("corp")).start().await.unwrap();
/// let corp = lab.expect_proxy("corp");
/// assert_eq!(corp.url(), format!("http://{}", corp.address()));
/// assert!(!corp.is_down());
/// lab.shutdown().await;
/// # });
/// ```
#[derive(Debug, Clone)]
pub struct ProxyHandle {
    pub(crate) name: String,
    pub(crate) address: SocketAddr,
    pub(crate) tls: bool,
    pub(crate) socks: bool,
    pub(crate) down: bool,
    pub(crate) leaf_cache: Option<Arc<CacheCounters>>,
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

    /// The proxy URL a client is configured with: `http://127.0.0.1:PORT`, `https://...` for a TLS
    /// listener, `socks5h://...` for a SOCKS5 proxy (the proxy resolves names; see
    /// [`ProxyHandle::socks_url`] for the client resolving them).
    pub fn url(&self) -> String {
        if self.socks {
            return self.socks_url(true);
        }
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.address)
    }

    /// A SOCKS5 proxy's URL: `socks5h://` when the proxy resolves names (`proxy_resolves`), else
    /// `socks5://` (the client resolves them and sends addresses), as curl and PySocks read them.
    ///
    /// ```
    /// use egresslab::lab::{Lab, ProxyKind, ProxyPlan};
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let mut plan = ProxyPlan::new("corp");
    /// plan.kind = ProxyKind::Socks5;
    /// let lab = Lab::builder().proxy(plan).start().await.unwrap();
    /// let corp = lab.expect_proxy("corp");
    /// assert!(corp.is_socks());
    /// assert_eq!(corp.url(), format!("socks5h://{}", corp.address()));
    /// assert_eq!(corp.socks_url(false), format!("socks5://{}", corp.address()));
    /// lab.shutdown().await;
    /// # });
    /// ```
    pub fn socks_url(&self, proxy_resolves: bool) -> String {
        let scheme = if proxy_resolves { "socks5h" } else { "socks5" };
        format!("{scheme}://{}", self.address)
    }

    /// Whether the proxy speaks SOCKS5 rather than HTTP.
    pub fn is_socks(&self) -> bool {
        self.socks
    }

    /// Whether the plan says the proxy is down.
    pub fn is_down(&self) -> bool {
        self.down
    }

    /// For an intercepting proxy, what its cache of interception leaves holds and did (hits,
    /// misses, evictions): the cache is bounded in size and age, so memory stays flat.
    pub fn leaf_cache(&self) -> Option<CacheStats> {
        self.leaf_cache.as_deref().map(CacheCounters::stats)
    }
}

/// Two handles are equal when they name the same proxy at the same place (the cache's counters move).
impl PartialEq for ProxyHandle {
    fn eq(&self, other: &Self) -> bool {
        (&self.name, self.address, self.tls, self.down)
            == (&other.name, other.address, other.tls, other.down)
    }
}

impl Eq for ProxyHandle {}

/// For the `expect_*` lookups: the panic message naming what was asked and what there is.
pub(crate) fn missing<'a>(kind: &str, name: &str, known: impl Iterator<Item = &'a str>) -> String {
    let known: Vec<&str> = known.collect();
    if known.is_empty() {
        format!("the lab has no {kind} named {name:?}; it has none")
    } else {
        format!(
            "the lab has no {kind} named {name:?}; it has: {}",
            known.join(", ")
        )
    }
}
