//! `Lab::builder()`: labs written in code, and short constructors for the plan parts they use.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use egresslab_certs::{CaRole, Factory, Profile};

use super::error::LabError;
use super::plan::{
    BindPolicy, ClientAuthPlan, EndpointBehaviour, EndpointPlan, Families, FirewallAction,
    FirewallRule, HttpAnswer, LabPlan, PassthroughPlan, ProxyPlan, TlsPlan, TlsVersions,
    UdpBehaviour, UdpPlan, Vantage,
};
use super::running::{Lab, LaunchOptions};

/// Assembles a [`LabPlan`] in code and starts it.
///
/// ```
/// use egresslab::lab::{EndpointPlan, Lab, ProxyPlan};
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let builder = Lab::builder()
///     .name("branch office")
///     .endpoint(EndpointPlan::http("intranet", &["intranet.egresslab.test"], 80))
///     .proxy(ProxyPlan::new("corp"))
///     .timeline_capacity(1_000);
/// assert_eq!(builder.plan().endpoints.len(), 1);
/// let lab = builder.start().await.unwrap();
/// assert_eq!(lab.timeline().capacity(), 1_000);
/// lab.shutdown().await;
/// # });
/// ```
#[derive(Debug, Default, Clone)]
pub struct LabBuilder {
    plan: LabPlan,
    options: LaunchOptions,
}

impl LabBuilder {
    /// Start from an existing plan.
    pub fn from_plan(plan: LabPlan) -> Self {
        LabBuilder {
            plan,
            options: LaunchOptions::default(),
        }
    }

    /// The lab's name (timeline and reports).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.plan.name = name.into();
        self
    }

    /// Where listeners bind (loopback by default).
    pub fn bind(mut self, policy: BindPolicy) -> Self {
        self.plan.bind = policy;
        self
    }

    /// Put the lab on a network: each host its own address (a claimed 127.x.y.0/24 block by
    /// default), doors on the scenario's ports or ephemeral ones, the DNS server answering each
    /// host's address. Without it everything stays on 127.0.0.1 with ephemeral ports.
    ///
    /// ```
    /// use egresslab::lab::{EndpointPlan, Lab, NetworkOptions};
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let lab = Lab::builder()
    ///     .endpoint(EndpointPlan::http("a", &["a.egresslab.test"], 80))
    ///     .endpoint(EndpointPlan::http("b", &["b.egresslab.test"], 80))
    ///     .network(NetworkOptions::default())
    ///     .start()
    ///     .await
    ///     .unwrap();
    /// let network = lab.network().unwrap();
    /// let (a, b) = (network.host("a.egresslab.test").unwrap(), network.host("b.egresslab.test").unwrap());
    /// assert_ne!(a.ip, b.ip);
    /// assert!(a.ip.is_loopback());
    /// lab.shutdown().await;
    /// # });
    /// ```
    pub fn network(mut self, options: super::net::NetworkOptions) -> Self {
        self.options.network = Some(options);
        self
    }

    /// Serve under the persisted lab CAs of this folder (created on first use, keys 0600; the
    /// folder `egresslab certs ca` shows), so that a root a client trusted once verifies this lab
    /// too. Without it a lab mints throw-away CAs in memory: the library's default, so tests need
    /// no folder and leave nothing behind.
    ///
    /// ```
    /// use egresslab::lab::{EndpointPlan, Lab};
    /// use egresslab_certs::CaRole;
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let folder = tempfile::tempdir().unwrap();
    /// let lab = Lab::builder()
    ///     .endpoint(EndpointPlan::http("a", &["a.egresslab.test"], 80))
    ///     .ca_dir(folder.path())
    ///     .start()
    ///     .await
    ///     .unwrap();
    /// assert_eq!(lab.ca_dir(), Some(folder.path()));
    /// assert_eq!(lab.ca_file(CaRole::Lab), folder.path().join("lab.pem"));
    /// lab.shutdown().await;
    /// # });
    /// ```
    pub fn ca_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.plan.ca_dir = Some(dir.into());
        self
    }

    /// Add an endpoint.
    pub fn endpoint(mut self, endpoint: EndpointPlan) -> Self {
        self.plan.endpoints.push(endpoint);
        self
    }

    /// Add a forward proxy.
    pub fn proxy(mut self, proxy: ProxyPlan) -> Self {
        self.plan.proxies.push(proxy);
        self
    }

    /// Add a firewall rule after the existing ones.
    pub fn rule(mut self, rule: FirewallRule) -> Self {
        self.plan.firewall.push(rule);
        self
    }

    /// Add a firewall rule from its parts.
    pub fn firewall(
        self,
        from: Vantage,
        hosts: impl Into<String>,
        port: Option<u16>,
        action: FirewallAction,
    ) -> Self {
        self.rule(FirewallRule::new(from, hosts, port, action))
    }

    /// Add a UDP responder.
    pub fn udp(mut self, udp: UdpPlan) -> Self {
        self.plan.udp.push(udp);
        self
    }

    /// Put a toxic on one of the lab's listeners from the start: `on` is an endpoint, proxy or UDP
    /// responder name, or `CHILD~PARENT` for a proxy's route to its parent. A name the lab does not
    /// have, or a toxic that does not fit the listener, fails [`LabBuilder::start`].
    pub fn toxic(mut self, on: impl Into<String>, toxic: crate::lab::control::Toxic) -> Self {
        self.plan.toxics.push(crate::lab::ToxicPlan {
            on: on.into(),
            toxic,
        });
        self
    }

    /// Add a real destination proxies may relay to.
    pub fn passthrough(
        mut self,
        hosts: impl Into<String>,
        port: Option<u16>,
        address: SocketAddr,
    ) -> Self {
        self.plan.passthrough.push(PassthroughPlan {
            hosts: hosts.into(),
            port,
            address,
        });
        self
    }

    /// Start the lab DNS server.
    pub fn dns(mut self) -> Self {
        self.plan.names.dns = true;
        self
    }

    /// Force a name to NXDOMAIN.
    pub fn nxdomain(mut self, name: impl Into<String>) -> Self {
        self.plan.names.nxdomain.push(name.into());
        self
    }

    /// The simulated client's DNS suffix (for `wpad.<suffix>`).
    pub fn suffix(mut self, suffix: impl Into<String>) -> Self {
        self.plan.names.suffix = Some(suffix.into());
        self
    }

    /// Give each lab host its own address in 127.0.0.0/8 (in DNS answers and hosts lines).
    pub fn per_host_addresses(mut self) -> Self {
        self.plan.names.per_host_addresses = true;
        self
    }

    /// Use this certificate factory instead of creating one (labs sharing CAs, benches).
    pub fn certs(mut self, certs: Arc<Factory>) -> Self {
        self.options.certs = Some(certs);
        self
    }

    /// Keep at most `events` timeline events in memory (older ones are dropped and counted; a
    /// stream file still gets all). The default is [`crate::lab::timeline::DEFAULT_CAPACITY`].
    pub fn timeline_capacity(mut self, events: usize) -> Self {
        self.options.timeline_capacity = events;
        self
    }

    /// Capture the lab's traffic and TLS secrets as `options` say (a pcapng file, a key log, a
    /// snap length, credential masking); see [`crate::lab::capture`].
    pub fn capture(mut self, options: crate::lab::CaptureOptions) -> Self {
        self.options.capture = options;
        self
    }

    /// The plan assembled so far.
    pub fn plan(&self) -> &LabPlan {
        &self.plan
    }

    /// Start the lab.
    pub async fn start(self) -> Result<Lab, LabError> {
        Lab::launch(self.plan, self.options).await
    }
}

impl EndpointPlan {
    /// A plain HTTP endpoint answering `200 ok` for `hosts` on `port`.
    pub fn http(name: impl Into<String>, hosts: &[&str], port: u16) -> Self {
        EndpointPlan {
            name: name.into(),
            hosts: hosts.iter().map(|host| (*host).to_owned()).collect(),
            port,
            tls: None,
            behaviour: EndpointBehaviour::default(),
            families: Families::V4,
        }
    }

    /// An HTTPS endpoint on port 443 with a certificate of `profile`, TLS 1.2 and 1.3.
    pub fn https(name: impl Into<String>, hosts: &[&str], profile: Profile) -> Self {
        EndpointPlan {
            tls: Some(TlsPlan {
                profile,
                versions: TlsVersions::Both,
                client_auth: None,
            }),
            ..EndpointPlan::http(name, hosts, 443)
        }
    }

    /// Change the port.
    pub fn on_port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Change the behaviour.
    pub fn behaviour(mut self, behaviour: EndpointBehaviour) -> Self {
        self.behaviour = behaviour;
        self
    }

    /// Answer every request with this HTTP answer.
    pub fn answer(self, answer: HttpAnswer) -> Self {
        self.behaviour(EndpointBehaviour::Http(answer))
    }

    /// Limit the TLS versions (no effect on a plain endpoint).
    pub fn versions(mut self, versions: TlsVersions) -> Self {
        if let Some(tls) = &mut self.tls {
            tls.versions = versions;
        }
        self
    }

    /// Require a client certificate issued by this CA role (no effect on a plain endpoint).
    pub fn client_auth(mut self, ca: CaRole) -> Self {
        if let Some(tls) = &mut self.tls {
            tls.client_auth = Some(ClientAuthPlan { ca });
        }
        self
    }
}

impl UdpPlan {
    /// A UDP responder for `host:port`.
    pub fn new(
        name: impl Into<String>,
        host: impl Into<String>,
        port: u16,
        behaviour: UdpBehaviour,
    ) -> Self {
        UdpPlan {
            name: name.into(),
            host: host.into(),
            port,
            behaviour,
        }
    }
}

impl FirewallRule {
    /// A rule from its parts.
    pub fn new(
        from: Vantage,
        hosts: impl Into<String>,
        port: Option<u16>,
        action: FirewallAction,
    ) -> Self {
        FirewallRule {
            from,
            hosts: hosts.into(),
            port,
            action,
            family: None,
        }
    }
}
