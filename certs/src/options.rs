//! Options for building a factory: the lab root's name constraints.

use std::net::IpAddr;

use rcgen::{CidrSubnet, GeneralSubtree, NameConstraints};

/// DNS subtrees the lab root may issue for by default: the domains of the seeds, the
/// lab-reserved suffix and `localhost`.
pub const DEFAULT_PERMITTED_DNS: &[&str] = &[
    "msappproxy.net",
    "servicebus.windows.net",
    "windows.net",
    "microsoftonline.com",
    "microsoftonline-p.com",
    "msauth.net",
    "msauthimages.net",
    "msecnd.net",
    "msftauth.net",
    "msftauthimages.net",
    "phonefactor.net",
    "azure.com",
    "msft.net",
    "windowsupdate.com",
    "digicert.com",
    "microsoft.com",
    "msocsp.com",
    crate::LAB_SUFFIX,
    "localhost",
];

/// How a factory builds its CAs. Only affects CAs it creates; a persisted root keeps the
/// constraints it was created with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FactoryOptions {
    /// Permitted DNS subtrees of the lab root; each also permits its subdomains.
    pub permitted_dns: Vec<String>,
    /// Permitted IP ranges of the lab root (address, prefix length).
    pub permitted_ips: Vec<(IpAddr, u8)>,
    /// When false the lab root carries no name constraints at all.
    pub constrain_names: bool,
}

impl Default for FactoryOptions {
    fn default() -> Self {
        FactoryOptions {
            permitted_dns: DEFAULT_PERMITTED_DNS
                .iter()
                .map(|s| s.to_string())
                .collect(),
            permitted_ips: vec![
                (IpAddr::from([127, 0, 0, 0]), 8),
                (IpAddr::from(std::net::Ipv6Addr::LOCALHOST), 128),
            ],
            constrain_names: true,
        }
    }
}

impl FactoryOptions {
    /// Options whose lab root has no name constraints (it can then vouch for any name).
    pub fn unconstrained() -> Self {
        FactoryOptions {
            constrain_names: false,
            ..Self::default()
        }
    }

    /// Adds a permitted DNS subtree.
    pub fn permit_dns(mut self, domain: impl Into<String>) -> Self {
        self.permitted_dns.push(domain.into());
        self
    }

    pub(crate) fn name_constraints(&self) -> Option<NameConstraints> {
        if !self.constrain_names {
            return None;
        }
        let mut permitted: Vec<GeneralSubtree> = self
            .permitted_dns
            .iter()
            .map(|d| GeneralSubtree::DnsName(d.clone()))
            .collect();
        permitted.extend(self.permitted_ips.iter().map(|(ip, prefix)| {
            GeneralSubtree::IpAddress(CidrSubnet::from_addr_prefix(*ip, *prefix))
        }));
        Some(NameConstraints {
            permitted_subtrees: permitted,
            excluded_subtrees: Vec::new(),
        })
    }
}
