//! The client's name mapping: every lab name (wildcards made concrete) with its port and where a direct
//! client really connects. It travels as [`ConnectTo`] values; curl's text forms are made here, at the
//! edge, and nowhere parsed back.

use crate::check::{ConnectTo, Probe, SAMPLE_LABEL};
use crate::lab::pattern::{host_matches, sample_host};
use crate::lab::Lab;

use super::super::expand::{Expanded, ProbeSpec};
use super::super::validate::split_url;

/// Every exact host the scenario's probes and exec URLs name.
fn named_hosts(scenario: &Expanded) -> Vec<String> {
    let host_of = |url: &str| split_url(url).map(|(_, host, _, _)| host);
    let mut hosts = Vec::new();
    for probe in &scenario.probes {
        match probe {
            ProbeSpec::Ready(Probe::Url { url })
            | ProbeSpec::Ready(Probe::Backend { url, .. })
            | ProbeSpec::Ready(Probe::Repeat { url, .. }) => {
                hosts.extend(host_of(url));
            }
            ProbeSpec::Ready(Probe::Tcp { host, .. })
            | ProbeSpec::Ready(Probe::VpnServer { host })
            | ProbeSpec::Ready(Probe::ServiceBus { host }) => hosts.push(host.clone()),
            ProbeSpec::Ready(Probe::Revocation { urls }) => {
                hosts.extend(urls.iter().filter_map(|url| host_of(url)));
            }
            _ => {}
        }
    }
    hosts.extend(
        scenario
            .expect
            .exec
            .iter()
            .filter_map(|e| e.url.as_deref().and_then(host_of)),
    );
    hosts
}

/// The lab's name mapping with wildcard patterns replaced by concrete names: the sample name and every
/// name the scenario uses under the pattern. Names the scenario makes unresolvable are left out.
pub fn concrete_connect_to(lab: &Lab, scenario: &Expanded) -> Vec<ConnectTo> {
    let used = named_hosts(scenario);
    let nxdomain = &scenario.plan.names.nxdomain;
    let mut out: Vec<ConnectTo> = Vec::new();
    for (pattern, port, address) in lab.connect_to() {
        // A name the scenario makes unresolvable must not be mapped around DNS.
        if nxdomain.iter().any(|n| n.eq_ignore_ascii_case(&pattern)) {
            continue;
        }
        let names = if pattern.contains('*') {
            let mut names = vec![sample_host(&pattern, SAMPLE_LABEL)];
            names.extend(used.iter().filter(|h| host_matches(&pattern, h)).cloned());
            names
        } else {
            vec![pattern]
        };
        for host in names {
            // A name only the proxies resolve is not the client's to map.
            if lab.world().is_proxy_only(&host) {
                continue;
            }
            // One mapping per name, port and family: a dual-stack name keeps its v4 and v6 address.
            let family = address.is_ipv6();
            if !out
                .iter()
                .any(|c| c.host == host && c.port == port && c.address.is_ipv6() == family)
            {
                out.push(ConnectTo {
                    host,
                    port,
                    address,
                });
            }
        }
    }
    out
}

/// curl's `--connect-to` value: `HOST:PORT:ADDR:PORT`.
pub fn curl_connect_to(mapping: &ConnectTo) -> String {
    // A socket address prints a v6 address in brackets, as curl wants it.
    format!("{}:{}:{}", mapping.host, mapping.port, mapping.address)
}

/// curl's `--resolve` value: `HOST:PORT:ADDR` (only right when the real port is the one named).
pub fn curl_resolve(mapping: &ConnectTo) -> String {
    match mapping.address.ip() {
        std::net::IpAddr::V6(v6) => format!("{}:{}:[{v6}]", mapping.host, mapping.port),
        ip => format!("{}:{}:{ip}", mapping.host, mapping.port),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn curl_text_forms() {
        let mapping = ConnectTo {
            host: "login.egresslab.test".into(),
            port: 443,
            address: "127.0.0.9:40111".parse().expect("address"),
        };
        assert_eq!(
            curl_connect_to(&mapping),
            "login.egresslab.test:443:127.0.0.9:40111"
        );
        assert_eq!(curl_resolve(&mapping), "login.egresslab.test:443:127.0.0.9");
    }
}
