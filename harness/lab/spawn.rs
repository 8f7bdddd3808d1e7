//! Phase three of a lab start: serve. Every socket bound in phase one gets its task on the lab's
//! tracker; nothing here can fail, so once this runs the lab is up.

use std::net::SocketAddr;
use std::sync::Arc;

use egresslab_certs::Factory;

use super::bind::{Bound, ProxySocket};
use super::context::{ProxyContext, Serving};
use super::endpoint::{self, Endpoint, Responder, TlsSetup};
use super::firewall::Firewall;
use super::live::proxy::ProxyState;
use super::live::{Gate, GateKind, GatedListener, LiveEndpoint, LiveProxy};
use super::plan::LabPlan;
use super::setup::ProxyTls;
use super::world::World;
use super::{dns, proxy, udp};

/// Where the services that have no handle of their own ended up.
pub(crate) struct Served {
    /// The lab DNS server's address, if it runs.
    pub(crate) dns: Option<SocketAddr>,
    /// Each UDP responder's name and address.
    pub(crate) udp: Vec<(String, SocketAddr)>,
}

/// What the serving phase needs from the earlier ones.
pub(crate) struct Ready<'a> {
    pub(crate) plan: &'a LabPlan,
    pub(crate) world: &'a Arc<World>,
    pub(crate) certs: &'a Arc<Factory>,
    pub(crate) endpoint_tls: Vec<Option<TlsSetup>>,
    pub(crate) proxy_tls: Vec<ProxyTls>,
    pub(crate) bound: Bound,
    pub(crate) firewall: Firewall,
}

/// Spawn every serving task of the lab on `serving`'s tracker.
pub(crate) fn spawn(ready: Ready<'_>, serving: &Serving) -> Served {
    let Ready {
        plan,
        world,
        certs,
        endpoint_tls,
        proxy_tls,
        bound,
        firewall,
    } = ready;
    let sockets = plan
        .endpoints
        .iter()
        .zip(bound.endpoints)
        .zip(bound.twins)
        .zip(endpoint_tls);
    for (((endpoint, (listener, address)), twin), tls) in sockets {
        let plan = Arc::new(endpoint.clone());
        let live = Arc::new(LiveEndpoint::new(Arc::clone(&plan), tls, Arc::clone(certs)));
        serving.live.add_endpoint(Arc::clone(&live));
        let responder = Arc::new(Responder::for_lab(
            endpoint.behaviour.clone(),
            certs.clone(),
            world,
        ));
        // A dual-stack endpoint's v6 listener serves the same endpoint behind a gate of its own
        // (`NAME@v6`), so the control API can take one family down without the other.
        let listeners = std::iter::once((endpoint.name.clone(), listener, address))
            .chain(twin.map(|(listener, address)| (twin_gate(&endpoint.name), listener, address)));
        for (name, listener, address) in listeners {
            let gate = gate(serving, &name, GateKind::Endpoint, address, true);
            let endpoint = Endpoint {
                plan: Arc::clone(&plan),
                listener: GatedListener::new(gate, Some(listener), None),
                responder: Arc::clone(&responder),
                tls: live.subscribe(),
            };
            serving
                .tasks
                .spawn(endpoint::serve(endpoint, serving.clone()));
        }
    }
    spawn_proxies(plan, world, certs, bound.proxies, proxy_tls, serving);
    let dns = bound.dns.map(|(socket, tcp, address)| {
        serving
            .tasks
            .spawn(dns::serve_udp(socket, world.clone(), serving.clone()));
        if let Some(listener) = tcp {
            serving
                .tasks
                .spawn(dns::serve_tcp(listener, world.clone(), serving.clone()));
        }
        address
    });
    let mut udp_addresses = Vec::with_capacity(plan.udp.len());
    for (responder, (socket, address)) in plan.udp.iter().zip(bound.udp) {
        udp_addresses.push((responder.name.clone(), address));
        let gate = gate(serving, &responder.name, GateKind::Udp, address, true);
        serving
            .tasks
            .spawn(udp::serve(socket, responder.clone(), gate, serving.clone()));
    }
    firewall.spawn(serving);
    Served {
        dns,
        udp: udp_addresses,
    }
}

/// The gate name of a dual-stack endpoint's v6 listener.
pub(crate) fn twin_gate(endpoint: &str) -> String {
    format!("{endpoint}@v6")
}

/// A gate for one listener, registered on the lab's switchboard.
fn gate(
    serving: &Serving,
    name: &str,
    kind: GateKind,
    address: SocketAddr,
    enabled: bool,
) -> Arc<Gate> {
    let gate = Arc::new(Gate::new(
        name.to_owned(),
        kind,
        address,
        enabled,
        serving.live.seed_cell(),
        serving.clone(),
    ));
    serving.live.add_gate(Arc::clone(&gate));
    gate
}

/// Serve every proxy: one that is down holds its port, refusing, until the control API turns it on.
fn spawn_proxies(
    plan: &LabPlan,
    world: &Arc<World>,
    certs: &Arc<Factory>,
    sockets: Vec<(ProxySocket, SocketAddr)>,
    tls: Vec<ProxyTls>,
    serving: &Serving,
) {
    let addresses: Vec<(String, SocketAddr)> = plan
        .proxies
        .iter()
        .zip(&sockets)
        .map(|(p, (_, address))| (p.name.clone(), *address))
        .collect();
    for ((plan, (socket, address)), tls) in plan.proxies.iter().zip(sockets).zip(tls) {
        let (listener, held, up) = match socket {
            ProxySocket::Down(socket) => (None, Some(socket), false),
            ProxySocket::Listening(listener) => (Some(listener), None, true),
        };
        let gate = gate(serving, &plan.name, GateKind::Proxy, address, up);
        let route = plan.upstream.as_ref().and_then(|parent| {
            let (_, parent_address) = addresses.iter().find(|(name, _)| name == parent)?;
            let name = format!("{}~{parent}", plan.name);
            Some(self::gate(
                serving,
                &name,
                GateKind::Route,
                *parent_address,
                true,
            ))
        });
        let live = Arc::new(LiveProxy::new(
            ProxyState {
                plan: Arc::new(plan.clone()),
                interceptor: tls.interceptor.clone(),
            },
            Arc::clone(certs),
        ));
        serving.live.add_proxy(Arc::clone(&live));
        let ctx = ProxyContext {
            world: world.clone(),
            timeline: serving.timeline.clone(),
            tls,
            shutdown: serving.shutdown.clone(),
            tasks: serving.tasks.clone(),
            live,
            route,
        };
        serving
            .tasks
            .spawn(proxy::serve(GatedListener::new(gate, listener, held), ctx));
    }
}
