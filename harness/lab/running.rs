//! A running lab: start (bind everything, build the routing table, serve), handles, shutdown.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use egresslab_certs::{CaRole, Factory};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::bind::{self, ProxySocket};
use super::builder::LabBuilder;
use super::context::{ProxyContext, Serving};
use super::endpoint::{self, Endpoint, EndpointHandle, Responder};
use super::error::LabError;
use super::firewall::{Firewall, Target};
use super::handles::ProxyHandle;
use super::pattern::host_matches;
use super::plan::{LabPlan, Vantage};
use super::timeline::Timeline;
use super::world::{Route, World};
use super::{dns, proxy, routes, udp};

/// A running lab. Every listener is bound when [`Lab::start`] returns; dropping the lab cancels every
/// task without waiting, [`Lab::shutdown`] also waits until every task ended and every port is free.
#[derive(Debug)]
pub struct Lab {
    plan: LabPlan,
    world: Arc<World>,
    timeline: Timeline,
    endpoints: Vec<EndpointHandle>,
    proxies: Vec<ProxyHandle>,
    udp: Vec<(String, SocketAddr)>,
    dns: Option<SocketAddr>,
    dir: tempfile::TempDir,
    certs: Arc<Factory>,
    ca_bundle: PathBuf,
    /// Which endpoint each endpoint or relay address belongs to.
    owners: Vec<(SocketAddr, SocketAddr)>,
    shutdown: CancellationToken,
    tasks: TaskTracker,
}

impl Lab {
    /// Start a lab from a plan: bind every socket, build the routing table, then serve.
    pub async fn start(plan: LabPlan) -> Result<Lab, LabError> {
        Lab::launch(plan, None).await
    }

    /// Start a lab with an existing certificate factory (shared between labs, e.g. in benches, so no
    /// CA is created per lab).
    pub async fn start_with_certs(plan: LabPlan, certs: Arc<Factory>) -> Result<Lab, LabError> {
        Lab::launch(plan, Some(certs)).await
    }

    /// A builder for labs written in code.
    pub fn builder() -> LabBuilder {
        LabBuilder::default()
    }

    pub(crate) async fn launch(
        plan: LabPlan,
        certs: Option<Arc<Factory>>,
    ) -> Result<Lab, LabError> {
        validate(&plan)?;
        let certs = match (certs, &plan.ca_dir) {
            (Some(certs), _) => certs,
            (None, Some(dir)) => Arc::new(Factory::open(dir).map_err(LabError::Certs)?),
            (None, None) => Arc::new(Factory::ephemeral().map_err(LabError::Certs)?),
        };
        let ip = plan.bind.ip();
        if !ip.is_loopback() {
            tracing::warn!(
                %ip,
                "lab binds a non-loopback address: its proxies and endpoints are reachable from other machines"
            );
        }
        let dir = tempfile::Builder::new()
            .prefix("egresslab-")
            .tempdir()
            .map_err(|source| LabError::Write {
                path: std::env::temp_dir(),
                source,
            })?;
        let ca_bundle = write_ca_files(dir.path(), &certs)?;
        let mut tls_setups = Vec::with_capacity(plan.endpoints.len());
        for endpoint in &plan.endpoints {
            let setup = match &endpoint.tls {
                Some(tls) => Some(endpoint::tls::setup(endpoint, tls, &certs)?),
                None => None,
            };
            tls_setups.push(setup);
        }

        // Phase 1: bind everything.
        let mut endpoint_sockets = Vec::with_capacity(plan.endpoints.len());
        for endpoint in &plan.endpoints {
            endpoint_sockets.push(bind::endpoint(ip, &endpoint.name)?);
        }
        let mut proxy_sockets = Vec::with_capacity(plan.proxies.len());
        for proxy in &plan.proxies {
            proxy_sockets.push(bind::proxy(ip, &proxy.name, proxy.down)?);
        }
        let dns_sockets = if plan.names.dns {
            Some(bind::dns(ip)?)
        } else {
            None
        };
        let mut udp_sockets = Vec::with_capacity(plan.udp.len());
        for responder in &plan.udp {
            udp_sockets.push(bind::udp(ip, &format!("udp {}", responder.name))?);
        }
        let endpoint_addresses: Vec<SocketAddr> = endpoint_sockets
            .iter()
            .map(|(_, address)| *address)
            .collect();
        let targets: Vec<Target<'_>> = plan
            .endpoints
            .iter()
            .zip(&endpoint_addresses)
            .map(|(endpoint, address)| Target {
                hosts: &endpoint.hosts,
                port: endpoint.port,
                address: *address,
            })
            .collect();
        let mut firewall = Firewall::bind(&plan.firewall, &targets, ip).await?;

        // Phase 2: the routing table.
        let proxy_addresses: Vec<(String, SocketAddr)> = plan
            .proxies
            .iter()
            .zip(&proxy_sockets)
            .map(|(proxy, (_, address))| (proxy.name.clone(), *address))
            .collect();
        let mut owners: Vec<(SocketAddr, SocketAddr)> = firewall.relay_targets();
        owners.extend(
            endpoint_addresses
                .iter()
                .map(|address| (*address, *address)),
        );
        let world = Arc::new(routes::build(
            &plan,
            firewall.closed_address,
            std::mem::take(&mut firewall.entries),
            &endpoint_addresses,
            &proxy_addresses,
        ));
        let endpoints = plan
            .endpoints
            .iter()
            .zip(&endpoint_addresses)
            .zip(&tls_setups)
            .map(|((endpoint, listen_address), tls)| EndpointHandle {
                name: endpoint.name.clone(),
                hosts: endpoint.hosts.clone(),
                port: endpoint.port,
                address: endpoint.hosts.first().map_or(*listen_address, |host| {
                    client_address(&world, &owners, host, endpoint.port, *listen_address)
                }),
                listen_address: *listen_address,
                certificate: tls.as_ref().and_then(|tls| tls.leaf.clone()),
            })
            .collect();
        let proxies = plan
            .proxies
            .iter()
            .zip(&proxy_addresses)
            .map(|(proxy, (name, address))| ProxyHandle {
                name: name.clone(),
                address: *address,
                tls: proxy.tls_profile.is_some(),
                down: proxy.down,
            })
            .collect();

        // Phase 3: serve.
        let serving = Serving {
            timeline: Timeline::new(),
            shutdown: CancellationToken::new(),
            tasks: TaskTracker::new(),
        };
        let bound = plan.endpoints.iter().zip(endpoint_sockets).zip(tls_setups);
        for ((endpoint, (listener, _)), tls) in bound {
            let endpoint = Endpoint {
                plan: Arc::new(endpoint.clone()),
                listener,
                responder: Arc::new(Responder::for_lab(
                    endpoint.behaviour.clone(),
                    certs.clone(),
                    &world,
                )),
                tls,
            };
            serving
                .tasks
                .spawn(endpoint::serve(endpoint, serving.clone()));
        }
        let mut held_down = Vec::new();
        for (plan, (socket, _)) in plan.proxies.iter().zip(proxy_sockets) {
            match socket {
                ProxySocket::Down(socket) => held_down.push(socket),
                ProxySocket::Listening(listener) => {
                    let ctx = ProxyContext {
                        plan: Arc::new(plan.clone()),
                        world: world.clone(),
                        timeline: serving.timeline.clone(),
                        certs: certs.clone(),
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
        let dns = dns_sockets.map(|(socket, tcp, address)| {
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
        for (responder, (socket, address)) in plan.udp.iter().zip(udp_sockets) {
            udp_addresses.push((responder.name.clone(), address));
            serving
                .tasks
                .spawn(udp::serve(socket, responder.clone(), serving.clone()));
        }
        firewall.spawn(&serving);

        Ok(Lab {
            plan,
            world,
            timeline: serving.timeline,
            endpoints,
            proxies,
            udp: udp_addresses,
            dns,
            dir,
            certs,
            ca_bundle,
            owners,
            shutdown: serving.shutdown,
            tasks: serving.tasks,
        })
    }

    /// An endpoint by name.
    pub fn endpoint(&self, name: &str) -> Option<&EndpointHandle> {
        self.endpoints.iter().find(|endpoint| endpoint.name == name)
    }

    /// Every endpoint, in plan order.
    pub fn endpoints(&self) -> &[EndpointHandle] {
        &self.endpoints
    }

    /// A proxy by name.
    pub fn proxy(&self, name: &str) -> Option<&ProxyHandle> {
        self.proxies.iter().find(|proxy| proxy.name == name)
    }

    /// Every proxy, in plan order.
    pub fn proxies(&self) -> &[ProxyHandle] {
        &self.proxies
    }

    /// For every endpoint host (wildcards as written), its port and where a direct client really
    /// connects: the `--connect-to` mapping of a client outside any proxy.
    pub fn connect_to(&self) -> Vec<(String, u16, SocketAddr)> {
        self.endpoints
            .iter()
            .flat_map(|endpoint| {
                endpoint.hosts.iter().map(move |host| {
                    let address = client_address(
                        &self.world,
                        &self.owners,
                        host,
                        endpoint.port,
                        endpoint.listen_address,
                    );
                    (host.clone(), endpoint.port, address)
                })
            })
            .collect()
    }

    /// Where a connection from `from` to `host:port` leads.
    pub fn route(&self, host: &str, port: u16, from: &Vantage) -> Route {
        self.world.route(host, port, from)
    }

    /// The lab's routing table.
    pub fn world(&self) -> &Arc<World> {
        &self.world
    }

    /// The lab DNS server's address (UDP, and TCP on the same port), if the plan asked for one.
    pub fn dns_address(&self) -> Option<SocketAddr> {
        self.dns
    }

    /// A UDP responder's address by name.
    pub fn udp(&self, name: &str) -> Option<SocketAddr> {
        self.udp
            .iter()
            .find(|(responder, _)| responder == name)
            .map(|(_, address)| *address)
    }

    /// The lab's own folder (CA bundle and other files); removed when the lab is dropped.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The lab's certificate factory.
    pub fn certs(&self) -> &Arc<Factory> {
        &self.certs
    }

    /// A CA certificate of the lab as PEM.
    pub fn ca_pem(&self, role: CaRole) -> String {
        self.certs.authority(role).cert_pem()
    }

    /// A PEM file holding the lab root: the trust store of a client that trusts the lab. Beside it in
    /// [`Lab::dir`]: `inspection.pem`, `untrusted.pem`, `connector-registration.pem` (never keys).
    pub fn ca_bundle_path(&self) -> &Path {
        &self.ca_bundle
    }

    /// Everything that happened so far.
    pub fn timeline(&self) -> &Timeline {
        &self.timeline
    }

    /// The plan the lab was started from.
    pub fn plan(&self) -> &LabPlan {
        &self.plan
    }

    /// Hosts-file lines for the lab's names (wildcards cannot be listed and appear as comments).
    pub fn hosts_lines(&self) -> Vec<String> {
        routes::lab_names(&self.plan)
            .into_iter()
            .map(
                |name| match (name.contains('*'), self.world.address_of(&name)) {
                    (false, Some(ip)) => format!("{ip} {name}"),
                    _ => format!("# {name}: list each name you use"),
                },
            )
            .collect()
    }

    /// `curl` arguments that send every non-wildcard endpoint name to where a direct client lands:
    /// `--connect-to host:port:ip:realport` pairs (ports differ, so `--resolve` alone cannot do it).
    pub fn curl_resolve_args(&self) -> Vec<String> {
        self.connect_to()
            .into_iter()
            .filter(|(host, _, _)| !host.contains('*'))
            .flat_map(|(host, port, address)| {
                [
                    "--connect-to".to_owned(),
                    format!("{host}:{port}:{}:{}", address.ip(), address.port()),
                ]
            })
            .collect()
    }

    /// Stop the lab: cancel every task, wait until all ended, and so free every port.
    pub async fn shutdown(self) {
        self.shutdown.cancel();
        self.tasks.close();
        self.tasks.wait().await;
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.shutdown.cancel();
        self.tasks.close();
    }
}

/// Write the public CA certificates into the lab folder; returns the lab root's file.
fn write_ca_files(dir: &Path, certs: &Factory) -> Result<PathBuf, LabError> {
    let files = [
        ("lab.pem", CaRole::Lab),
        ("inspection.pem", CaRole::Inspection),
        ("untrusted.pem", CaRole::Untrusted),
        ("connector-registration.pem", CaRole::ConnectorRegistration),
    ];
    for (file, role) in files {
        let path = dir.join(file);
        std::fs::write(&path, certs.authority(role).cert_pem())
            .map_err(|source| LabError::Write { path, source })?;
    }
    Ok(dir.join("lab.pem"))
}

/// Where a direct client lands for `host:port` on the endpoint listening at `own`: the first routing
/// entry for the client that is not another endpoint's (or a middlebox in front of another endpoint),
/// so endpoints sharing a name and port each get their own answer.
fn client_address(
    world: &World,
    owners: &[(SocketAddr, SocketAddr)],
    host: &str,
    port: u16,
    own: SocketAddr,
) -> SocketAddr {
    for entry in world.entries() {
        let applies = entry.from.covers(&Vantage::Client)
            && entry.port.is_none_or(|p| p == port)
            && host_matches(&entry.hosts, host);
        if !applies {
            continue;
        }
        match owners.iter().find(|(address, _)| *address == entry.address) {
            Some((_, owner)) if *owner != own => continue,
            _ => return entry.address,
        }
    }
    own
}

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
    Ok(())
}
