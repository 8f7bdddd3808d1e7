//! Phase two of a lab start: the routing table, from the plan and the addresses bound in phase one.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use super::plan::{EndpointBehaviour, LabPlan, Vantage};
use super::world::{RouteEntry, World};

/// Build the world: firewall entries first (rule order), then each endpoint's own entries, then
/// pass-through destinations; every lab name declared; proxies registered.
pub(crate) fn build(
    plan: &LabPlan,
    (closed, closed_v6): (SocketAddr, Option<SocketAddr>),
    firewall: Vec<RouteEntry>,
    endpoints: &[SocketAddr],
    twins: &[Option<SocketAddr>],
    proxies: &[(String, SocketAddr)],
) -> World {
    let mut world = World::new(Some(closed));
    if let Some(closed_v6) = closed_v6 {
        world.set_closed_v6(closed_v6);
    }
    for entry in firewall {
        world.push(entry);
    }
    world.end_firewall_entries();
    for ((endpoint, address), twin) in plan.endpoints.iter().zip(endpoints).zip(twins) {
        for host in &endpoint.hosts {
            world.declare_name(host);
            // One entry per family the endpoint answers in; the address says which.
            for address in std::iter::once(*address).chain(*twin) {
                world.push(RouteEntry {
                    from: Vantage::Any,
                    hosts: host.clone(),
                    port: Some(endpoint.port),
                    address,
                    rule: None,
                });
            }
        }
    }
    for passthrough in &plan.passthrough {
        world.declare_name(&passthrough.hosts);
        world.push(RouteEntry {
            from: Vantage::Any,
            hosts: passthrough.hosts.clone(),
            port: passthrough.port,
            address: passthrough.address,
            rule: None,
        });
    }
    if let Some(wpad) = wpad_name(plan) {
        let pac = plan
            .endpoints
            .iter()
            .zip(endpoints)
            .find(|(endpoint, _)| matches!(endpoint.behaviour, EndpointBehaviour::Pac { .. }));
        if let Some((endpoint, address)) = pac {
            world.declare_name(&wpad);
            world.push(RouteEntry {
                from: Vantage::Any,
                hosts: wpad,
                port: Some(endpoint.port),
                address: *address,
                rule: None,
            });
        }
    }
    for udp in &plan.udp {
        world.declare_name(&udp.host);
    }
    for name in &plan.names.nxdomain {
        world.declare_nxdomain(name);
    }
    for name in &plan.names.proxy_only {
        world.declare_proxy_only(name);
    }
    for (name, address) in proxies {
        world.add_proxy(name, *address);
    }
    if plan.names.per_host_addresses {
        for (index, host) in lab_names(plan).iter().enumerate() {
            world.add_host_address(host, own_address(index));
        }
    }
    world
}

/// `wpad.<suffix>` when the plan serves a PAC file and names a client suffix.
pub(crate) fn wpad_name(plan: &LabPlan) -> Option<String> {
    let serves_pac = plan
        .endpoints
        .iter()
        .any(|endpoint| matches!(endpoint.behaviour, EndpointBehaviour::Pac { .. }));
    let suffix = plan.names.suffix.as_deref()?.trim_matches('.');
    (serves_pac && !suffix.is_empty()).then(|| format!("wpad.{suffix}"))
}

/// Every host pattern the lab answers for, in plan order, without repeats.
pub(crate) fn lab_names(plan: &LabPlan) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    let all = plan
        .endpoints
        .iter()
        .flat_map(|endpoint| endpoint.hosts.iter().cloned())
        .chain(plan.udp.iter().map(|udp| udp.host.clone()))
        .chain(wpad_name(plan));
    for name in all {
        if !names.iter().any(|known| known.eq_ignore_ascii_case(&name)) {
            names.push(name);
        }
    }
    names
}

/// The `index`-th per-host address: 127.0.1.1, 127.0.1.2, ...
fn own_address(index: usize) -> IpAddr {
    let third = u8::try_from(1 + index / 254).unwrap_or(u8::MAX);
    let fourth = u8::try_from(1 + index % 254).unwrap_or(u8::MAX);
    IpAddr::V4(Ipv4Addr::new(127, 0, third, fourth))
}
