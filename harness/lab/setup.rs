//! Phase zero of a lab start, before any socket is bound: the plan checked, the certificate factory,
//! the lab's own folder and files, and every TLS configuration (endpoints, `https://` proxy
//! listeners, interception CAs). Anything that cannot be set up fails the start here.

use std::fs::Permissions;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use egresslab_certs::{CaRole, Factory};
use tokio_rustls::TlsAcceptor;

use super::capture::Capture;

use super::cache::CacheCounters;
use super::endpoint::{self, TlsSetup};
use super::error::LabError;
use super::plan::{LabPlan, ProxyPlan};
use super::proxy::{intercept, LabAuthority};

/// What phase zero hands to the later phases.
pub(crate) struct Prepared {
    pub(crate) certs: Arc<Factory>,
    /// The lab's folder, owner-only (0700).
    pub(crate) dir: tempfile::TempDir,
    /// Where the CA certificates are, one `<role>.pem` each.
    pub(crate) ca_files: CaFiles,
    /// Each endpoint's TLS configuration, in plan order (`None` for plain endpoints).
    pub(crate) endpoint_tls: Vec<Option<TlsSetup>>,
    /// Each proxy's TLS, in plan order.
    pub(crate) proxy_tls: Vec<ProxyTls>,
}

/// A proxy's TLS, ready before its port is bound.
#[derive(Clone, Default)]
pub(crate) struct ProxyTls {
    /// The `https://` listener's acceptor, if the proxy has one.
    pub(crate) listener: Option<TlsAcceptor>,
    /// Interception, if the plan asks for it.
    pub(crate) interceptor: Option<Arc<intercept::Interceptor>>,
    /// The interception leaf cache's counters, for the proxy's handle.
    pub(crate) leaf_cache: Option<Arc<CacheCounters>>,
}

/// Check the plan, then set up everything the lab needs before binding.
/// `capture` gets the secrets of the `https://` proxy listeners' handshakes.
pub(crate) fn prepare(
    plan: &LabPlan,
    certs: Option<Arc<Factory>>,
    capture: &Capture,
) -> Result<Prepared, LabError> {
    validate(plan)?;
    // The persisted folder names the CA files itself (they are what `egresslab certs ca` shows);
    // other factories get theirs written into the lab folder, removed with it.
    let (certs, persisted) = match (certs, &plan.ca_dir) {
        (Some(certs), _) => (certs, None),
        (None, Some(dir)) => (
            Arc::new(Factory::open(dir).map_err(LabError::Certs)?),
            Some(dir.clone()),
        ),
        (None, None) => (
            Arc::new(Factory::ephemeral().map_err(LabError::Certs)?),
            None,
        ),
    };
    let dir = tempfile::Builder::new()
        .prefix("egresslab-")
        .permissions(Permissions::from_mode(0o700))
        .tempdir()
        .map_err(|source| LabError::Write {
            path: std::env::temp_dir(),
            source,
        })?;
    let ca_files = match persisted {
        Some(folder) => CaFiles::Persisted(folder),
        None => {
            write_ca_files(dir.path(), &certs)?;
            CaFiles::InLab(dir.path().to_path_buf())
        }
    };
    let endpoint_tls = plan
        .endpoints
        .iter()
        .map(|endpoint| {
            endpoint
                .tls
                .as_ref()
                .map(|tls| endpoint::tls::setup(endpoint, tls, &certs))
                .transpose()
        })
        .collect::<Result<Vec<_>, _>>()?;
    let proxy_tls = plan
        .proxies
        .iter()
        .map(|proxy| proxy_tls(proxy, &certs, capture))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Prepared {
        certs,
        dir,
        ca_files,
        endpoint_tls,
        proxy_tls,
    })
}

/// The TLS listener and the interception CA of one proxy.
fn proxy_tls(
    plan: &ProxyPlan,
    certs: &Arc<Factory>,
    capture: &Capture,
) -> Result<ProxyTls, LabError> {
    let failed = |part: &'static str| {
        move |source| LabError::ProxyTls {
            proxy: plan.name.clone(),
            part,
            source: Box::new(source),
        }
    };
    let listener = plan
        .tls_profile
        .map(|profile| {
            intercept::listener_config(certs, profile)
                .map(|config| TlsAcceptor::from(capture.server_config(config)))
        })
        .transpose()
        .map_err(failed("TLS listener"))?;
    let mut ready = ProxyTls {
        listener,
        ..ProxyTls::default()
    };
    if plan.intercept.is_some() {
        let authority = LabAuthority::new(Arc::clone(certs));
        ready.leaf_cache = Some(authority.counters());
        let interceptor = intercept::Interceptor::new(certs, Arc::new(authority))
            .map_err(failed("interception CA"))?;
        ready.interceptor = Some(Arc::new(interceptor));
    }
    Ok(ready)
}

/// Names that must be unique are, and every upstream a proxy names exists.
fn validate(plan: &LabPlan) -> Result<(), LabError> {
    let groups: [(&'static str, Vec<&str>); 3] = [
        (
            "endpoint",
            plan.endpoints.iter().map(|e| e.name.as_str()).collect(),
        ),
        (
            "proxy",
            plan.proxies.iter().map(|p| p.name.as_str()).collect(),
        ),
        ("udp", plan.udp.iter().map(|u| u.name.as_str()).collect()),
    ];
    for (kind, names) in groups {
        let mut seen = std::collections::HashSet::with_capacity(names.len());
        if let Some(name) = names.iter().find(|name| !seen.insert(**name)) {
            return Err(LabError::DuplicateName {
                kind,
                name: (*name).to_owned(),
            });
        }
    }
    let proxies: std::collections::HashSet<&str> =
        plan.proxies.iter().map(|p| p.name.as_str()).collect();
    for proxy in &plan.proxies {
        if let Some(upstream) = &proxy.upstream {
            if !proxies.contains(upstream.as_str()) {
                return Err(LabError::UnknownProxy {
                    name: upstream.clone(),
                });
            }
        }
    }
    let edges = plan
        .proxies
        .iter()
        .map(|p| (p.name.as_str(), p.upstream.as_deref()));
    if let Some(cycle) = super::plan::upstream_cycle(edges) {
        return Err(LabError::UpstreamCycle {
            cycle: cycle.into_iter().map(str::to_owned).collect(),
        });
    }
    Ok(())
}

/// Where a lab's CA certificates are: `<role>.pem` for every role, never a key beside them
/// unless the folder is the persisted CA folder (whose keys are 0600).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CaFiles {
    /// The persisted CA folder the lab opened (`LabPlan::ca_dir`).
    Persisted(PathBuf),
    /// Copies in the lab's own folder, for a factory that lives only in memory.
    InLab(PathBuf),
}

impl CaFiles {
    /// The PEM file of one role's certificate.
    pub(crate) fn file(&self, role: CaRole) -> PathBuf {
        let (CaFiles::Persisted(dir) | CaFiles::InLab(dir)) = self;
        dir.join(format!("{}.pem", role.name()))
    }

    /// The persisted folder, if the CAs come from one.
    pub(crate) fn persisted(&self) -> Option<&Path> {
        match self {
            CaFiles::Persisted(dir) => Some(dir),
            CaFiles::InLab(_) => None,
        }
    }
}

/// Write the public CA certificates into the lab folder, named as in a persisted CA folder.
fn write_ca_files(dir: &Path, certs: &Factory) -> Result<(), LabError> {
    for role in CaRole::ALL {
        let path = dir.join(format!("{}.pem", role.name()));
        std::fs::write(&path, certs.authority(*role).cert_pem())
            .map_err(|source| LabError::Write { path, source })?;
    }
    Ok(())
}

/// Write `contents` to `path` readable by the owner only (0600), whatever the umask: the mode is set
/// when the file is created and again on an existing file before it is overwritten.
pub(crate) fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.set_permissions(Permissions::from_mode(0o600))?;
    file.write_all(contents)
}
