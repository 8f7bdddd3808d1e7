//! The interception CA as the proxy sees it: a small trait that hands out a ready server
//! configuration per host (as hudsucker's `CertificateAuthority`), and the lab's implementation,
//! which mints leaves with the inspection CA of the certificate factory and caches them bounded in
//! size and age.

use std::sync::Arc;
use std::time::Duration;

use egresslab_certs::{CaRole, Factory};
use rustls::ServerConfig;

use crate::lab::cache::{BoundedCache, CacheCounters};

use super::intercept::{server_config, ProxyTlsError};

/// How many hosts keep a ready interception configuration.
pub(crate) const LEAF_CACHE_CAPACITY: usize = 1_000;
/// How long a cached interception configuration is served before it is minted again.
pub(crate) const LEAF_CACHE_MAX_AGE: Duration = Duration::from_secs(3600);

/// What an intercepting proxy needs from its certificate authority.
pub(crate) trait CertificateAuthority: Send + Sync {
    /// A server configuration that presents a leaf for `host` signed by the authority.
    fn server_config(&self, host: &str) -> Result<Arc<ServerConfig>, ProxyTlsError>;

    /// The authority's common name, recorded as the issuer of what clients are served.
    fn issuer(&self) -> &str;
}

/// The lab's inspection CA: leaves minted by the certificate factory, cached per lower-case host.
pub(crate) struct LabAuthority {
    certs: Arc<Factory>,
    issuer: String,
    leaves: BoundedCache<Arc<ServerConfig>>,
}

impl LabAuthority {
    /// The inspection CA of `certs`, with a cache of [`LEAF_CACHE_CAPACITY`] hosts.
    pub(crate) fn new(certs: Arc<Factory>) -> Self {
        LabAuthority::with_cache(certs, LEAF_CACHE_CAPACITY, LEAF_CACHE_MAX_AGE)
    }

    /// The inspection CA of `certs` with a cache of the given bounds.
    pub(crate) fn with_cache(certs: Arc<Factory>, capacity: usize, max_age: Duration) -> Self {
        let issuer = certs.authority(CaRole::Inspection).common_name().to_owned();
        LabAuthority {
            certs,
            issuer,
            leaves: BoundedCache::new(capacity, max_age),
        }
    }

    /// The cache's counters, shared with the proxy's handle.
    pub(crate) fn counters(&self) -> Arc<CacheCounters> {
        self.leaves.counters()
    }
}

impl CertificateAuthority for LabAuthority {
    fn server_config(&self, host: &str) -> Result<Arc<ServerConfig>, ProxyTlsError> {
        let key = host.to_ascii_lowercase();
        if let Some(config) = self.leaves.get(&key) {
            return Ok(config);
        }
        let inspection = self.certs.authority(CaRole::Inspection);
        let mut minted =
            inspection
                .issue_server_leaf(&key)
                .map_err(|source| ProxyTlsError::Mint {
                    host: key.clone(),
                    source,
                })?;
        // As Squid's ssl-bump does, the signing CA follows the leaf: [leaf, inspection CA].
        minted.served_chain.push(inspection.cert_der().clone());
        let config = Arc::new(server_config(minted, &[b"http/1.1"])?);
        Ok(self.leaves.insert(key, config))
    }

    fn issuer(&self) -> &str {
        &self.issuer
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_configuration_per_host_while_cached() {
        let certs = Arc::new(Factory::ephemeral().unwrap());
        let authority = LabAuthority::new(certs);
        let first = authority.server_config("a.egresslab.test").unwrap();
        let again = authority.server_config("A.egresslab.test").unwrap();
        assert!(Arc::ptr_eq(&first, &again));
        authority.server_config("b.egresslab.test").unwrap();
        let stats = authority.counters().stats();
        assert_eq!((stats.entries, stats.hits, stats.misses), (2, 1, 2));
    }

    #[test]
    fn the_cache_holds_at_most_its_capacity_and_mints_an_evicted_host_again() {
        let certs = Arc::new(Factory::ephemeral().unwrap());
        let authority = LabAuthority::with_cache(certs, 2, LEAF_CACHE_MAX_AGE);
        let first = authority.server_config("a.egresslab.test").unwrap();
        authority.server_config("b.egresslab.test").unwrap();
        authority.server_config("c.egresslab.test").unwrap();
        let stats = authority.counters().stats();
        assert_eq!((stats.entries, stats.evictions), (2, 1));
        let again = authority.server_config("a.egresslab.test").unwrap();
        assert!(
            !Arc::ptr_eq(&first, &again),
            "a was evicted, so minted again"
        );
    }
}
