//! Which address and port each part of a networked lab gets, decided before anything is bound.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::block::{self, Claim};
use super::{Addresses, NetworkOptions, PortMode};
use crate::lab::error::LabError;
use crate::lab::plan::{LabPlan, Personality, Vantage};
use crate::lab::routes::lab_names;

/// Where the DNS server, each proxy and each host of one lab go.
#[derive(Debug)]
pub(crate) struct Placement {
    /// The port mode in effect (after any fall-back).
    pub(crate) ports: PortMode,
    /// Why the lab fell back to ephemeral ports, if it did.
    pub(crate) fallback: Option<String>,
    /// The DNS server's address.
    pub(crate) dns: IpAddr,
    /// Each proxy's address, in plan order.
    pub(crate) proxies: Vec<IpAddr>,
    /// Each host pattern's address, most specific first (the DNS server answers the first match);
    /// with a v6 prefix each pattern appears a second time with its v6 address.
    pub(crate) hosts: Vec<(String, IpAddr)>,
    /// The loopback block, held while the lab lives.
    _claim: Option<Claim>,
}

impl Placement {
    /// Lay out `plan` on the addresses `options` give.
    pub(crate) fn new(plan: &LabPlan, options: &NetworkOptions) -> Result<Placement, LabError> {
        let hosts = door_hosts(plan);
        let needed = 1 + plan.proxies.len() + hosts.len();
        let (claim, pool): (Option<Claim>, Vec<IpAddr>) = match &options.addresses {
            Addresses::LoopbackBlock => {
                let claim = block::claim().map_err(|error| LabError::Network {
                    problem: format!("no free /24 block in 127.0.0.0/8 ({error})"),
                })?;
                let pool = claim.hosts().take(needed).collect();
                (Some(claim), pool)
            }
            Addresses::Prefix { network, len } => (None, prefix_hosts(*network, *len, needed)?),
            Addresses::List(list) => (None, list.clone()),
        };
        if pool.len() < needed {
            return Err(LabError::Network {
                problem: format!(
                    "the lab needs {needed} addresses (its DNS server, {} proxies, {} hosts) and {} \
                     were given: give more --bind addresses or a prefix (e.g. --bind 10.9.8.0/24)",
                    plan.proxies.len(),
                    hosts.len(),
                    pool.len()
                ),
            });
        }
        let mut pool = pool.into_iter();
        let mut next = || pool.next().unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
        let dns = next();
        let proxies = plan.proxies.iter().map(|_| next()).collect();
        let v6 = match options.v6_prefix {
            Some((network, len)) => prefix_hosts(IpAddr::V6(network), len, hosts.len())?,
            None => Vec::new(),
        };
        let mut hosts: Vec<(String, IpAddr)> =
            hosts.into_iter().map(|host| (host, next())).collect();
        let v6_hosts: Vec<(String, IpAddr)> = hosts
            .iter()
            .zip(v6)
            .map(|((host, _), ip)| (host.clone(), ip))
            .collect();
        hosts.extend(v6_hosts);
        let (ports, fallback) = effective_ports(options.ports, dns);
        if let Some(why) = &fallback {
            tracing::warn!("{why}");
        }
        Ok(Placement {
            ports,
            fallback,
            dns,
            proxies,
            hosts,
            _claim: claim,
        })
    }

    /// Give each host its address in the lab's routing table, so the lab DNS server answers it.
    pub(crate) fn name_hosts(&self, world: &mut crate::lab::world::World) {
        for (pattern, ip) in &self.hosts {
            world.add_host_address(pattern, *ip);
        }
    }

    /// Where to bind a part whose well-known port is `port`.
    pub(crate) fn at(&self, ip: IpAddr, port: u16) -> SocketAddr {
        match self.ports {
            PortMode::WellKnown => SocketAddr::new(ip, port),
            PortMode::Ephemeral => SocketAddr::new(ip, 0),
        }
    }

    /// Where the DNS server binds.
    pub(crate) fn dns_address(&self) -> SocketAddr {
        self.at(self.dns, 53)
    }

    /// Where the `index`-th proxy of `plan` binds.
    pub(crate) fn proxy_address(&self, plan: &LabPlan, index: usize) -> Option<SocketAddr> {
        let ip = *self.proxies.get(index)?;
        let port = match plan.proxies.get(index)?.personality {
            Personality::Squid => 3128,
            Personality::Generic => 8080,
        };
        Some(self.at(ip, port))
    }
}

/// Well-known ports need privilege: a probe bind on a privileged port says whether the process has
/// it; without it the lab uses ephemeral ports and says why. Other bind errors are left to the real
/// binds, which name the part and address.
fn effective_ports(asked: PortMode, ip: IpAddr) -> (PortMode, Option<String>) {
    if asked != PortMode::WellKnown {
        return (asked, None);
    }
    match std::net::TcpListener::bind(SocketAddr::new(ip, 1)) {
        Err(error) if error.kind() == std::io::ErrorKind::PermissionDenied => (
            PortMode::Ephemeral,
            Some(format!(
                "well-known ports need root or CAP_NET_BIND_SERVICE (binding {ip}:1: {error}); \
                 the lab uses ephemeral ports instead"
            )),
        ),
        _ => (PortMode::WellKnown, None),
    }
}

/// Every host pattern that gets its own address: the client's firewall rules' hosts first (a rule
/// narrower than an endpoint's wildcard needs its own door), then every lab name; no repeats.
fn door_hosts(plan: &LabPlan) -> Vec<String> {
    let mut hosts: Vec<String> = Vec::new();
    let rules = plan
        .firewall
        .iter()
        .filter(|rule| rule.from.covers(&Vantage::Client) && rule.hosts != "*")
        .map(|rule| rule.hosts.clone());
    for host in rules.chain(lab_names(plan)) {
        if !hosts.iter().any(|known| known.eq_ignore_ascii_case(&host)) {
            hosts.push(host);
        }
    }
    hosts
}

/// The first `count` host addresses of a prefix (v4: from `.1`, without the broadcast address).
fn prefix_hosts(network: IpAddr, len: u8, count: usize) -> Result<Vec<IpAddr>, LabError> {
    let bad = |expected: &str| LabError::Network {
        problem: format!("--bind {network}/{len}: {expected}"),
    };
    let count = u128::try_from(count).unwrap_or(u128::MAX);
    match network {
        IpAddr::V4(v4) => {
            if len > 30 {
                return Err(bad("a v4 prefix of /30 or shorter was expected"));
            }
            let base = u32::from(v4) & (u32::MAX << (32 - u32::from(len)));
            let size = 1u128 << (32 - u32::from(len));
            let usable = size.saturating_sub(2).min(count);
            Ok((1..=usable)
                .filter_map(|offset| u32::try_from(offset).ok())
                .map(|offset| IpAddr::V4(Ipv4Addr::from(base + offset)))
                .collect())
        }
        IpAddr::V6(v6) => {
            if len > 126 {
                return Err(bad("a v6 prefix of /126 or shorter was expected"));
            }
            let base = u128::from(v6) & (u128::MAX << (128 - u32::from(len)));
            let size = 1u128.checked_shl(128 - u32::from(len)).unwrap_or(u128::MAX);
            let usable = size.saturating_sub(1).min(count);
            Ok((1..=usable)
                .map(|offset| IpAddr::V6(Ipv6Addr::from(base + offset)))
                .collect())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::plan::{EndpointPlan, FirewallAction, FirewallRule, ProxyPlan};

    fn plan() -> LabPlan {
        let mut plan = LabPlan::default();
        plan.endpoints
            .push(EndpointPlan::http("cloud", &["*.msappproxy.net"], 443));
        plan.endpoints.push(EndpointPlan::http(
            "login",
            &["login.microsoftonline.com"],
            443,
        ));
        plan.proxies.push(ProxyPlan::new("corp"));
        plan.firewall.push(FirewallRule {
            from: Vantage::Client,
            hosts: "bad.msappproxy.net".to_owned(),
            port: Some(443),
            action: FirewallAction::Drop,
            family: None,
        });
        plan
    }

    #[test]
    fn every_part_gets_its_own_address_and_rules_come_first() {
        let options = NetworkOptions {
            ports: PortMode::Ephemeral,
            addresses: Addresses::Prefix {
                network: "10.9.8.0".parse().unwrap(),
                len: 24,
            },
            v6_prefix: None,
        };
        let placement = Placement::new(&plan(), &options).unwrap();
        assert_eq!(placement.dns, "10.9.8.1".parse::<IpAddr>().unwrap());
        assert_eq!(
            placement.proxies,
            vec!["10.9.8.2".parse::<IpAddr>().unwrap()]
        );
        let names: Vec<&str> = placement.hosts.iter().map(|(h, _)| h.as_str()).collect();
        assert_eq!(
            names,
            [
                "bad.msappproxy.net",
                "*.msappproxy.net",
                "login.microsoftonline.com"
            ]
        );
        assert_eq!(placement.hosts[2].1, "10.9.8.5".parse::<IpAddr>().unwrap());
        assert_eq!(placement.dns_address().port(), 0);
    }

    #[test]
    fn too_few_addresses_is_an_error_that_says_how_many() {
        let options = NetworkOptions {
            ports: PortMode::Ephemeral,
            addresses: Addresses::List(vec!["10.0.0.1".parse().unwrap()]),
            v6_prefix: None,
        };
        let error = Placement::new(&plan(), &options).unwrap_err().to_string();
        assert!(error.contains("needs 5 addresses"), "{error}");
    }

    #[test]
    fn a_too_long_prefix_is_refused() {
        let error = prefix_hosts("10.0.0.0".parse().unwrap(), 31, 3).unwrap_err();
        assert!(error.to_string().contains("/30 or shorter"), "{error}");
        let v6 = prefix_hosts("fd00::".parse().unwrap(), 64, 2).unwrap();
        assert_eq!(v6[1], "fd00::2".parse::<IpAddr>().unwrap());
    }
}
