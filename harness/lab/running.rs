//! A running lab: start (in phases: set-up, bind, routes, serve), handles, shutdown.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use egresslab_certs::{CaRole, Factory};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::builder::LabBuilder;
use super::capture::{self, Capture, CaptureOptions};
use super::context::Serving;
use super::control::{Control, ControlError, ControlOptions, Upstreams};
use super::endpoint::{EndpointHandle, TlsSetup};
use super::error::LabError;
use super::firewall::{Firewall, Target};
use super::handles::{self, ProxyHandle};
use super::live::Switchboard;
use super::pattern::host_matches;
use super::plan::{LabPlan, Vantage};
use super::setup::{self, ProxyTls};
use super::spawn::{self, Ready};
use super::timeline::{self, Timeline};
use super::world::{Route, World};
use super::{bind, routes};

/// A running lab. Every listener is bound when [`Lab::start`] returns; dropping the lab cancels every
/// task without waiting, [`Lab::shutdown`] also waits until every task ended and every port is free.
///
/// ```
/// use egresslab::lab::{EndpointPlan, Lab};
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let lab = Lab::builder()
///     .endpoint(EndpointPlan::http("portal", &["portal.egresslab.test"], 80))
///     .start()
///     .await
///     .unwrap();
/// let portal = lab.expect_endpoint("portal");
/// assert!(portal.address().ip().is_loopback());
/// assert_eq!(portal.port(), 80);
/// lab.shutdown().await;
/// # });
/// ```
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
    ca_files: setup::CaFiles,
    /// The lab root's PEM file.
    ca_bundle: PathBuf,
    /// Which endpoint each endpoint or relay address belongs to.
    owners: Vec<(SocketAddr, SocketAddr)>,
    shutdown: CancellationToken,
    tasks: TaskTracker,
    /// What the control API may change while the lab runs.
    live: Switchboard,
    /// The packet capture and key log (off unless asked for).
    capture: Capture,
    /// Where the lab sits on a network, when it was started with network options.
    network: Option<super::net::Attached>,
}

/// How a lab is started beyond its plan.
#[derive(Debug, Clone)]
pub(crate) struct LaunchOptions {
    /// A certificate factory to share; `None` opens the plan's CA folder or mints fresh CAs.
    pub(crate) certs: Option<Arc<Factory>>,
    /// How many events the in-memory timeline keeps.
    pub(crate) timeline_capacity: usize,
    /// What to capture (nothing by default).
    pub(crate) capture: CaptureOptions,
    /// Own addresses, doors and port mode; `None` keeps everything on 127.0.0.1, ephemeral.
    pub(crate) network: Option<super::net::NetworkOptions>,
}

impl Default for LaunchOptions {
    fn default() -> Self {
        LaunchOptions {
            certs: None,
            timeline_capacity: timeline::DEFAULT_CAPACITY,
            capture: CaptureOptions::default(),
            network: None,
        }
    }
}

impl Lab {
    /// Start a lab from a plan: set up its TLS and files, bind every socket, build the routing table,
    /// then serve. Anything that cannot be set up (a certificate, a proxy's TLS listener or
    /// interception CA, a port) is an error here, never a dead listener later.
    pub async fn start(plan: LabPlan) -> Result<Lab, LabError> {
        Lab::launch(plan, LaunchOptions::default()).await
    }

    /// Start a lab with an existing certificate factory (shared between labs, e.g. in benches, so no
    /// CA is created per lab).
    pub async fn start_with_certs(plan: LabPlan, certs: Arc<Factory>) -> Result<Lab, LabError> {
        let options = LaunchOptions {
            certs: Some(certs),
            ..LaunchOptions::default()
        };
        Lab::launch(plan, options).await
    }

    /// A builder for labs written in code.
    pub fn builder() -> LabBuilder {
        LabBuilder::default()
    }

    pub(crate) async fn launch(plan: LabPlan, options: LaunchOptions) -> Result<Lab, LabError> {
        let capture = Capture::open(options.capture).map_err(LabError::Capture)?;
        let prepared = setup::prepare(&plan, options.certs, &capture)?;
        let ip = plan.bind.ip();
        if !ip.is_loopback() {
            tracing::warn!(
                %ip,
                "lab binds a non-loopback address: its proxies and endpoints are reachable from other machines"
            );
        }
        let placement = options
            .network
            .as_ref()
            .map(|network| super::net::Placement::new(&plan, network))
            .transpose()?;
        let bound = bind::all(&plan, ip, placement.as_ref())?;
        let endpoint_addresses = bound.endpoint_addresses();
        let twin_addresses = bound.twin_addresses();
        let mut firewall = bind_firewall(&plan, &endpoint_addresses, &twin_addresses, ip).await?;
        let proxy_addresses: Vec<(String, SocketAddr)> = plan
            .proxies
            .iter()
            .zip(&bound.proxies)
            .map(|(proxy, (_, address))| (proxy.name.clone(), *address))
            .collect();
        let mut owners: Vec<(SocketAddr, SocketAddr)> = firewall.relay_targets();
        owners.extend(
            endpoint_addresses
                .iter()
                .chain(twin_addresses.iter().flatten())
                .map(|address| (*address, *address)),
        );
        let mut world = routes::build(
            &plan,
            (firewall.closed_address, firewall.closed_v6),
            std::mem::take(&mut firewall.entries),
            &endpoint_addresses,
            &twin_addresses,
            &proxy_addresses,
        );
        if let Some(placement) = &placement {
            placement.name_hosts(&mut world);
        }
        let world = Arc::new(world);
        let silent = firewall.silent.clone();
        let endpoints = endpoint_handles(
            &plan,
            &world,
            &owners,
            (&endpoint_addresses, &twin_addresses),
            &prepared.endpoint_tls,
        );
        let proxies = proxy_handles(&plan, &proxy_addresses, &prepared.proxy_tls);

        let serving = Serving {
            timeline: Timeline::with_capacity(options.timeline_capacity),
            shutdown: CancellationToken::new(),
            tasks: TaskTracker::new(),
            live: Default::default(),
            capture,
        };
        serving.capture.listening(
            endpoint_addresses
                .iter()
                .chain(twin_addresses.iter().flatten())
                .copied()
                .chain(proxy_addresses.iter().map(|(_, address)| *address))
                .chain(firewall.listening())
                .chain(bound.dns.as_ref().map(|(_, _, address)| *address)),
        );
        capture::start(&serving, firewall.watched());
        let ready = Ready {
            plan: &plan,
            world: &world,
            certs: &prepared.certs,
            endpoint_tls: prepared.endpoint_tls,
            proxy_tls: prepared.proxy_tls,
            bound,
            firewall,
        };
        let served = spawn::spawn(ready, &serving);
        let network = match placement {
            Some(placement) => {
                let doors =
                    super::net::doors::open(&placement, &plan, &world, &silent, &serving).await;
                Some((placement, doors))
            }
            None => None,
        };
        let toxics = super::live::apply_toxics(&serving.live, &plan.toxics);
        let lab = Lab {
            plan,
            world,
            timeline: serving.timeline,
            endpoints,
            proxies,
            udp: served.udp,
            dns: served.dns,
            dir: prepared.dir,
            certs: prepared.certs,
            ca_bundle: prepared.ca_files.file(CaRole::Lab),
            ca_files: prepared.ca_files,
            owners,
            shutdown: serving.shutdown,
            tasks: serving.tasks,
            live: serving.live,
            capture: serving.capture,
            network: None,
        };
        let mut lab = lab;
        if let Some((placement, doors)) = network {
            match doors {
                Ok(doors) => {
                    lab.network = Some(super::net::Attached::new(
                        placement,
                        doors,
                        &lab.proxies,
                        lab.dns,
                    ))
                }
                Err(error) => {
                    lab.shutdown().await;
                    return Err(error);
                }
            }
        }
        if let Err(error) = toxics {
            lab.shutdown().await;
            return Err(error);
        }
        Ok(lab)
    }

    /// Where the lab sits on a network (each host's address and doors, the DNS server, the port
    /// mode), when it was started with [`crate::lab::NetworkOptions`].
    pub fn network(&self) -> Option<&super::net::NetworkInfo> {
        self.network.as_ref().map(|attached| &attached.info)
    }

    /// An endpoint by name.
    pub fn endpoint(&self, name: &str) -> Option<&EndpointHandle> {
        self.endpoints.iter().find(|endpoint| endpoint.name == name)
    }

    /// An endpoint by name, for tests that know it exists.
    ///
    /// # Panics
    ///
    /// When the lab has no endpoint of that name; the message lists the names there are.
    pub fn expect_endpoint(&self, name: &str) -> &EndpointHandle {
        self.endpoint(name).unwrap_or_else(|| {
            let known = self.endpoints.iter().map(EndpointHandle::name);
            panic!("{}", handles::missing("endpoint", name, known))
        })
    }

    /// Every endpoint, in plan order.
    pub fn endpoints(&self) -> &[EndpointHandle] {
        &self.endpoints
    }

    /// A proxy by name.
    pub fn proxy(&self, name: &str) -> Option<&ProxyHandle> {
        self.proxies.iter().find(|proxy| proxy.name == name)
    }

    /// A proxy by name, for tests that know it exists.
    ///
    /// ```
    /// use egresslab::lab::{Lab, ProxyPlan};
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let lab = Lab::builder().proxy(ProxyPlan::new("corp")).start().await.unwrap();
    /// assert!(lab.proxy("branch").is_none());
    /// let missing = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
    ///     lab.expect_proxy("branch");
    /// }));
    /// let message = missing.unwrap_err();
    /// assert!(message.downcast_ref::<String>().unwrap().ends_with("it has: corp"));
    /// # });
    /// ```
    ///
    /// # Panics
    ///
    /// When the lab has no proxy of that name; the message lists the names there are.
    pub fn expect_proxy(&self, name: &str) -> &ProxyHandle {
        self.proxy(name).unwrap_or_else(|| {
            let known = self.proxies.iter().map(ProxyHandle::name);
            panic!("{}", handles::missing("proxy", name, known))
        })
    }

    /// Every proxy, in plan order.
    pub fn proxies(&self) -> &[ProxyHandle] {
        &self.proxies
    }

    /// For every endpoint host (wildcards as written), its port and where a direct client really
    /// connects: the `--connect-to` mapping of a client outside any proxy. A dual-stack endpoint's
    /// hosts appear twice, the v4 address first, then the v6 one. A name only the proxies resolve
    /// (`[names] proxy_only`) is left out: the client cannot resolve it.
    pub fn connect_to(&self) -> Vec<(String, u16, SocketAddr)> {
        self.endpoints
            .iter()
            .flat_map(|endpoint| {
                let world = &self.world;
                let own = std::iter::once(endpoint.listen_address)
                    .chain(endpoint.listen_address_v6())
                    .collect::<Vec<_>>();
                endpoint
                    .hosts
                    .iter()
                    .filter(|host| !world.is_proxy_only(host))
                    .flat_map(move |host| {
                        own.clone().into_iter().map(move |listener| {
                            let address = client_address(
                                &self.world,
                                &self.owners,
                                host,
                                endpoint.port,
                                listener,
                            );
                            (host.clone(), endpoint.port, address)
                        })
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

    /// A UDP responder's address by name, for tests that know it exists.
    ///
    /// # Panics
    ///
    /// When the lab has no UDP responder of that name; the message lists the names there are.
    pub fn expect_udp(&self, name: &str) -> SocketAddr {
        self.udp(name).unwrap_or_else(|| {
            let known = self.udp.iter().map(|(name, _)| name.as_str());
            panic!("{}", handles::missing("UDP responder", name, known))
        })
    }

    /// Write a private file (a key, a credential) into [`Lab::dir`]: created owner-only (0600), in a
    /// folder that is itself owner-only (0700). `name` is a plain file name.
    pub fn write_private_file(&self, name: &str, contents: &[u8]) -> Result<PathBuf, LabError> {
        let path = self.dir.path().join(name);
        setup::write_private(&path, contents).map_err(|source| LabError::Write {
            path: path.clone(),
            source,
        })?;
        Ok(path)
    }

    /// The lab's own folder (CA bundle and other files), readable by its owner only (0700); removed
    /// when the lab is dropped.
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

    /// A PEM file holding the lab root: the trust store of a client that trusts the lab. It is in
    /// the persisted CA folder when the lab opened one ([`Lab::ca_dir`]), else in [`Lab::dir`]
    /// (removed with the lab); [`Lab::ca_file`] names the other roles' files beside it.
    pub fn ca_bundle_path(&self) -> &Path {
        &self.ca_bundle
    }

    /// The PEM file of one CA role's certificate (`<role>.pem`, never a key), where
    /// [`Lab::ca_bundle_path`] is.
    pub fn ca_file(&self, role: CaRole) -> PathBuf {
        self.ca_files.file(role)
    }

    /// The persisted CA folder this lab's CAs come from (`LabPlan::ca_dir`), or `None` when they
    /// were minted for this lab only (the library's default) or shared in memory.
    pub fn ca_dir(&self) -> Option<&Path> {
        self.ca_files.persisted()
    }

    /// Everything that happened so far.
    pub fn timeline(&self) -> &Timeline {
        &self.timeline
    }

    /// The lab's packet capture (off unless [`LabBuilder::capture`] asked for one): its status and
    /// the stream index of a connection.
    pub fn capture(&self) -> &Capture {
        &self.capture
    }

    /// Start the Toxiproxy-compatible control API of this lab (see [`super::control`]). Links made
    /// through it may relay to this lab's endpoints and proxies (by name, or an endpoint host with
    /// its port) and to loopback addresses, nowhere else. It stops when the lab stops.
    pub fn start_control(&self, options: ControlOptions) -> Result<Control, ControlError> {
        let mut upstreams = Upstreams::default();
        for endpoint in &self.endpoints {
            upstreams
                .names
                .push((endpoint.name().to_owned(), endpoint.address()));
            for host in endpoint.hosts().iter().filter(|h| !h.contains('*')) {
                upstreams
                    .hosts
                    .push((host.clone(), endpoint.port(), endpoint.address()));
            }
        }
        for proxy in &self.proxies {
            upstreams
                .names
                .push((proxy.name().to_owned(), proxy.address()));
        }
        let serving = Serving {
            timeline: self.timeline.clone(),
            shutdown: self.shutdown.clone(),
            tasks: self.tasks.clone(),
            live: self.live.clone(),
            capture: self.capture.clone(),
        };
        Control::start(options, upstreams, serving, Arc::clone(&self.world))
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
                    // A socket address prints a v6 address in brackets, as curl wants it.
                    format!("{host}:{port}:{address}"),
                ]
            })
            .collect()
    }

    /// Stop the lab: cancel every task, wait until all ended, and so free every port.
    ///
    /// ```
    /// use egresslab::lab::{EndpointPlan, Lab};
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let lab = Lab::builder()
    ///     .endpoint(EndpointPlan::http("portal", &["portal.egresslab.test"], 80))
    ///     .start()
    ///     .await
    ///     .unwrap();
    /// let address = lab.expect_endpoint("portal").listen_address();
    /// lab.shutdown().await;
    /// // The port is free again at once: it can be bound by someone else.
    /// std::net::TcpListener::bind(address).unwrap();
    /// # });
    /// ```
    pub async fn shutdown(self) {
        self.shutdown.cancel();
        self.tasks.close();
        self.tasks.wait().await;
        self.capture.finish();
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.shutdown.cancel();
        self.tasks.close();
        self.capture.flush();
    }
}

/// The firewall's listeners, relays and closed port, in front of the endpoints bound at `addresses`.
async fn bind_firewall(
    plan: &LabPlan,
    addresses: &[SocketAddr],
    twins: &[Option<SocketAddr>],
    ip: IpAddr,
) -> Result<Firewall, LabError> {
    let targets: Vec<Target<'_>> = plan
        .endpoints
        .iter()
        .zip(addresses.iter().zip(twins))
        .flat_map(|(endpoint, (address, twin))| {
            std::iter::once(*address)
                .chain(*twin)
                .map(|address| Target {
                    hosts: &endpoint.hosts,
                    port: endpoint.port,
                    address,
                })
        })
        .collect();
    Firewall::bind(&plan.firewall, &targets, ip).await
}

/// Each endpoint's handle: where it listens and where a direct client lands for its first host.
fn endpoint_handles(
    plan: &LabPlan,
    world: &World,
    owners: &[(SocketAddr, SocketAddr)],
    (addresses, twins): (&[SocketAddr], &[Option<SocketAddr>]),
    tls: &[Option<TlsSetup>],
) -> Vec<EndpointHandle> {
    let client = |endpoint: &super::plan::EndpointPlan, own: SocketAddr| {
        endpoint.hosts.first().map_or(own, |host| {
            client_address(world, owners, host, endpoint.port, own)
        })
    };
    plan.endpoints
        .iter()
        .zip(addresses.iter().zip(twins))
        .zip(tls)
        .map(|((endpoint, (listen_address, twin)), tls)| EndpointHandle {
            name: endpoint.name.clone(),
            hosts: endpoint.hosts.clone(),
            port: endpoint.port,
            address: client(endpoint, *listen_address),
            listen_address: *listen_address,
            v6: twin.map(|twin| (client(endpoint, twin), twin)),
            certificate: tls.as_ref().and_then(|tls| tls.leaf.clone()),
        })
        .collect()
}

/// Each proxy's handle.
fn proxy_handles(
    plan: &LabPlan,
    addresses: &[(String, SocketAddr)],
    tls: &[ProxyTls],
) -> Vec<ProxyHandle> {
    plan.proxies
        .iter()
        .zip(addresses)
        .zip(tls)
        .map(|((proxy, (name, address)), tls)| ProxyHandle {
            name: name.clone(),
            address: *address,
            tls: proxy.tls_profile.is_some(),
            socks: proxy.kind == super::plan::ProxyKind::Socks5,
            down: proxy.down,
            leaf_cache: tls.leaf_cache.clone(),
        })
        .collect()
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
    // The entry's family is its address's: a v6 listener is reached through v6 entries only.
    for entry in world.entries() {
        let applies = entry.from.covers(&Vantage::Client)
            && entry.port.is_none_or(|p| p == port)
            && entry.address.is_ipv6() == own.is_ipv6()
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
