//! Phase three of a lab start: serve. Every socket bound in phase one gets its task on the lab's
//! tracker; nothing here can fail, so once this runs the lab is up.

use std::net::SocketAddr;
use std::sync::Arc;

use egresslab_certs::Factory;

use super::bind::{Bound, ProxySocket};
use super::context::{ProxyContext, Serving};
use super::endpoint::{self, Endpoint, Responder, TlsSetup};
use super::firewall::Firewall;
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
    let sockets = plan.endpoints.iter().zip(bound.endpoints).zip(endpoint_tls);
    for ((endpoint, (listener, _)), tls) in sockets {
        let endpoint = Endpoint {
            plan: Arc::new(endpoint.clone()),
            listener,
            responder: Arc::new(Responder::for_lab(
                endpoint.behaviour.clone(),
                certs.clone(),
                world,
            )),
            tls,
        };
        serving
            .tasks
            .spawn(endpoint::serve(endpoint, serving.clone()));
    }
    spawn_proxies(plan, world, bound.proxies, proxy_tls, serving);
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
        serving
            .tasks
            .spawn(udp::serve(socket, responder.clone(), serving.clone()));
    }
    firewall.spawn(serving);
    Served {
        dns,
        udp: udp_addresses,
    }
}

/// Serve every proxy that is up; hold the sockets of those that are down until shutdown.
fn spawn_proxies(
    plan: &LabPlan,
    world: &Arc<World>,
    sockets: Vec<(ProxySocket, SocketAddr)>,
    tls: Vec<ProxyTls>,
    serving: &Serving,
) {
    let mut held_down = Vec::new();
    for ((plan, (socket, _)), tls) in plan.proxies.iter().zip(sockets).zip(tls) {
        match socket {
            ProxySocket::Down(socket) => held_down.push(socket),
            ProxySocket::Listening(listener) => {
                let ctx = ProxyContext {
                    plan: Arc::new(plan.clone()),
                    world: world.clone(),
                    timeline: serving.timeline.clone(),
                    tls,
                    shutdown: serving.shutdown.clone(),
                    tasks: serving.tasks.clone(),
                };
                serving.tasks.spawn(proxy::serve(listener, ctx));
            }
        }
    }
    let token = serving.shutdown.clone();
    serving.tasks.spawn(async move {
        token.cancelled().await;
        drop(held_down);
    });
}
