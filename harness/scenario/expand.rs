//! Step three of loading: turn a validated file into a lab plan, a client description, probes and
//! expectations.

use std::time::Duration;

use crate::check::Probe;
use crate::lab::{
    ClientAuthPlan, EndpointBehaviour, EndpointPlan, FirewallAction, FirewallRule, HttpAnswer,
    InterceptPlan, LabPlan, NamesPlan, ProxyAuthPlan, ProxyFault, ProxyPlan, ProxyRule, TlsPlan,
    TlsVersions, UdpPlan, Vantage,
};

use super::model::{
    self, Behaviour, FirewallActionKey, InnerMethod, Intercept, ProbeKey, ScenarioFile,
};
use super::validate::split_host_port;

/// A loaded scenario: what to start, how the client is set up, what it tries, and what must come out.
#[derive(Debug, Clone)]
pub struct Expanded {
    /// The scenario id (`[scenario] name`).
    pub id: String,
    /// Where it was loaded from (a path or a catalog path).
    pub source: String,
    /// One sentence: what is simulated.
    pub summary: String,
    /// The seed section it reproduces.
    pub seed: String,
    /// Tags for `--filter`.
    pub tags: Vec<String>,
    /// What the lab starts.
    pub plan: LabPlan,
    /// How the simulated client is configured (completed once the lab is up).
    pub client: ClientSpec,
    /// What the client tries.
    pub probes: Vec<ProbeSpec>,
    /// Artifact files to generate before the checks run.
    pub artifacts: ArtifactSpecs,
    /// The verdict that must come out.
    pub expect: Expectations,
}

/// The client as the scenario describes it, before lab addresses are known.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientSpec {
    /// How the client finds its proxy.
    pub proxy: ClientProxy,
    /// Proxy credentials (user, password).
    pub proxy_credentials: Option<(String, String)>,
    /// CA roles the client trusts.
    pub trust: Vec<String>,
    /// Issuer names the client expects; empty means the names of the trusted lab CAs.
    pub expected_issuers: Vec<String>,
    /// The client certificate: profile and names.
    pub client_cert: Option<(String, Vec<String>)>,
    /// TLS versions the client speaks.
    pub tls_versions: TlsVersions,
    /// TCP connect time-out.
    pub connect_timeout: Duration,
    /// Handshake and answer time-out.
    pub io_timeout: Duration,
}

/// How the client finds its proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientProxy {
    /// No proxy.
    Direct,
    /// The named lab proxy.
    Named(String),
    /// The PAC file at `http://HOST:PORT/wpad.dat` (the PAC endpoint's first host and port).
    Pac {
        /// Host.
        host: String,
        /// Port.
        port: u16,
    },
    /// WPAD with this DNS suffix.
    Wpad {
        /// The suffix.
        suffix: String,
    },
}

/// A probe, or what is needed to build one once the lab is up.
#[derive(Debug, Clone, PartialEq)]
pub enum ProbeSpec {
    /// A probe that needs nothing from the lab.
    Ready(Probe),
    /// IKE to `host` on the ports of these UDP responders: (port clients use, responder name).
    Ike {
        /// The VPN server's name.
        host: String,
        /// (port, `[[udp]]` name).
        ports: Vec<(u16, String)>,
    },
    /// A machine certificate store holding certificates of these profiles.
    MachineCertificate {
        /// Profiles minted into the store.
        profiles: Vec<String>,
    },
}

/// Artifact files to generate (the owned form of `[client.artifacts]`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ArtifactSpecs {
    /// `.exe.config`: (enabled attribute, proxy name, bypassonlocal, usesystemdefault).
    pub exe_config: Option<(Option<bool>, Option<String>, bool, bool)>,
    /// `netsh winhttp show proxy`: (proxy name, bypass list).
    pub netsh: Option<(Option<String>, Vec<String>)>,
    /// `TrustSettings.xml`: (literal thumbprint or `None` for the client certificate's, IsInUserStore).
    pub trust_settings: Option<(Option<String>, bool)>,
    /// Event-log text.
    pub event_log: Option<String>,
    /// NPS log rows.
    pub nps_log: Option<Vec<String>>,
    /// VPN profile: (TLSExtensions present, server name, inner EAP method).
    pub vpn_profile: Option<(bool, Option<String>, InnerMethod)>,
}

/// The verdict that must come out.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Expectations {
    /// Codes that must appear.
    pub diagnoses: Vec<String>,
    /// Codes that must not appear.
    pub absent: Vec<String>,
    /// No finding at error level.
    pub healthy: bool,
    /// External-command expectations, by client.
    pub exec: Vec<ExecExpectation>,
}

/// What an external command must do.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExecExpectation {
    /// The client (first word of the command) this applies to.
    pub client: String,
    /// The URL the command is pointed at; `None` means the first `url` probe.
    pub url: Option<String>,
    /// Exit status.
    pub exit_code: Option<i32>,
    /// Substrings of stdout.
    pub stdout_contains: Vec<String>,
    /// Substrings of stderr.
    pub stderr_contains: Vec<String>,
    /// Regex on stdout.
    pub stdout_matches: Option<String>,
    /// Regex on stderr.
    pub stderr_matches: Option<String>,
}

/// The PAC script served for `pac = { proxy = NAME }`. `${proxy:NAME}` is replaced by the lab with the
/// proxy's `host:port` when it serves the file.
pub fn pac_script(proxy: Option<&str>) -> String {
    let answer = match proxy {
        Some(name) => format!("PROXY ${{proxy:{name}}}"),
        None => "DIRECT".to_owned(),
    };
    format!("function FindProxyForURL(url, host) {{\n  return \"{answer}\";\n}}\n")
}

/// Expand a validated file.
pub fn expand(source: &str, file: ScenarioFile) -> Expanded {
    let id = file.scenario.name.get_ref().clone();
    let plan = LabPlan {
        name: id.clone(),
        endpoints: file.endpoint.iter().map(endpoint).collect(),
        proxies: file.proxy.iter().map(proxy).collect(),
        firewall: file.firewall.iter().map(firewall).collect(),
        names: NamesPlan {
            dns: file.names.dns,
            nxdomain: file.names.nxdomain.clone(),
            suffix: file.names.suffix.clone(),
            per_host_addresses: file.names.per_host_addresses,
        },
        udp: file
            .udp
            .iter()
            .map(|u| UdpPlan {
                name: u.name.get_ref().clone(),
                host: u.host.clone(),
                port: *u.port.get_ref(),
                behaviour: u.behaviour,
            })
            .collect(),
        ..LabPlan::default()
    };
    let client = client(&file);
    let probes = file
        .client
        .probes
        .iter()
        .map(|p| probe(&file, p.get_ref()))
        .collect();
    let a = &file.client.artifacts;
    let artifacts = ArtifactSpecs {
        exe_config: a.exe_config.as_ref().map(|e| {
            (
                e.proxy_enabled,
                e.proxy.as_ref().map(|p| p.get_ref().clone()),
                e.bypass_on_local,
                e.use_system_default,
            )
        }),
        netsh: a.netsh.as_ref().map(|n| {
            (
                n.proxy.as_ref().map(|p| p.get_ref().clone()),
                n.bypass.clone(),
            )
        }),
        trust_settings: a.trust_settings.as_ref().map(|t| {
            (
                t.thumbprint
                    .as_ref()
                    .map(|t| t.get_ref().to_ascii_uppercase()),
                t.is_in_user_store,
            )
        }),
        event_log: a.event_log.as_ref().map(|log| log.text()),
        nps_log: a.nps_log.clone(),
        vpn_profile: a
            .vpn_profile
            .as_ref()
            .map(|v| (v.tls_extensions, v.server.clone(), v.inner_method)),
    };
    let e = &file.expect;
    let expect = Expectations {
        diagnoses: e.diagnoses.iter().map(|c| c.get_ref().clone()).collect(),
        absent: e.absent.iter().map(|c| c.get_ref().clone()).collect(),
        healthy: e.healthy,
        exec: e
            .exec
            .iter()
            .map(|x| ExecExpectation {
                client: x.client.clone(),
                url: x.url.clone(),
                exit_code: x.exit_code,
                stdout_contains: x.stdout_contains.clone(),
                stderr_contains: x.stderr_contains.clone(),
                stdout_matches: x.stdout_matches.as_ref().map(|m| m.get_ref().clone()),
                stderr_matches: x.stderr_matches.as_ref().map(|m| m.get_ref().clone()),
            })
            .collect(),
    };
    Expanded {
        id,
        source: source.to_owned(),
        summary: file.scenario.summary.clone(),
        seed: file.scenario.seed.clone(),
        tags: file.scenario.tags.clone(),
        plan,
        client,
        probes,
        artifacts,
        expect,
    }
}

fn endpoint(e: &model::Endpoint) -> EndpointPlan {
    let behaviour = match e.behaviour {
        Behaviour::Http => {
            let mut answer = HttpAnswer::default();
            if let Some(http) = &e.http {
                answer.status = http.status.unwrap_or(answer.status);
                answer.body = http.body.clone().unwrap_or(answer.body);
                answer.delay = Duration::from_millis(http.delay_ms);
                answer.headers = http
                    .headers
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
            }
            EndpointBehaviour::Http(answer)
        }
        Behaviour::Echo => EndpointBehaviour::Echo,
        Behaviour::Revocation => EndpointBehaviour::Revocation,
        Behaviour::Pac => EndpointBehaviour::Pac {
            script: pac_script(
                e.pac
                    .as_ref()
                    .and_then(|p| p.proxy.as_ref())
                    .map(|p| p.get_ref().as_str()),
            ),
        },
    };
    EndpointPlan {
        name: e.name.get_ref().clone(),
        hosts: e.hosts.iter().map(|h| h.get_ref().clone()).collect(),
        port: *e.port.get_ref(),
        tls: e.tls.as_ref().map(|t| TlsPlan {
            profile: t.profile.get_ref().clone(),
            versions: t.versions,
            client_auth: t.client_auth.as_ref().map(|ca| ClientAuthPlan {
                ca: ca.get_ref().clone(),
            }),
        }),
        behaviour,
    }
}

fn proxy(p: &model::Proxy) -> ProxyPlan {
    let mut plan = ProxyPlan::new(p.name.get_ref().clone());
    plan.personality = p.personality;
    if let Some(rules) = &p.rules {
        plan.rules = rules
            .iter()
            .map(|r| ProxyRule {
                hosts: r.hosts.clone(),
                ports: r.ports.clone(),
                action: r.action,
            })
            .collect();
    }
    plan.squid_default_ports = p.squid_default_ports;
    plan.auth = p.auth.as_ref().map(|a| ProxyAuthPlan {
        schemes: a.schemes.clone(),
        realm: a.realm.clone().unwrap_or_else(|| "egresslab".to_owned()),
        users: a
            .users
            .iter()
            .map(|(u, pw)| (u.clone(), pw.clone()))
            .collect(),
    });
    plan.intercept = match &p.intercept {
        None | Some(Intercept::Flag(false)) => None,
        Some(Intercept::Flag(true)) => Some(InterceptPlan {
            passthrough: Vec::new(),
        }),
        Some(Intercept::Table(t)) => Some(InterceptPlan {
            passthrough: t.passthrough.clone(),
        }),
    };
    plan.upstream = p.upstream.as_ref().map(|u| u.get_ref().clone());
    plan.tls_profile = p.tls_profile.as_ref().map(|t| t.get_ref().clone());
    plan.fault = p.fault.map(|f| match f {
        model::Fault::CloseAfterConnect => ProxyFault::CloseAfterConnect,
        model::Fault::Garbage => ProxyFault::Garbage,
        model::Fault::Status(status) => ProxyFault::Status(status),
        model::Fault::SlowMs(ms) => ProxyFault::SlowAnswer(Duration::from_millis(ms)),
    });
    if let Some(ms) = p.connect_timeout_ms {
        plan.connect_timeout = Duration::from_millis(ms);
    }
    plan.down = p.down;
    plan
}

fn firewall(f: &model::Firewall) -> FirewallRule {
    let from = match f.from.as_ref().map(|f| f.get_ref().as_str()) {
        None | Some("client") => Vantage::Client,
        Some("any") => Vantage::Any,
        Some("any-proxy") => Vantage::AnyProxy,
        Some(other) => Vantage::Proxy(other.strip_prefix("proxy:").unwrap_or(other).to_owned()),
    };
    FirewallRule {
        from,
        hosts: f.hosts.clone(),
        port: f.port.as_ref().map(|p| *p.get_ref()),
        action: match f.action {
            FirewallActionKey::Allow => FirewallAction::Allow,
            FirewallActionKey::Reject => FirewallAction::Reject,
            FirewallActionKey::Drop => FirewallAction::Drop,
            FirewallActionKey::Hang => FirewallAction::Hang,
            FirewallActionKey::KillTls12 => FirewallAction::KillTls12,
            FirewallActionKey::KillSha512 => FirewallAction::KillSha512,
            FirewallActionKey::ResetAfter(n) => FirewallAction::ResetAfter(n),
        },
    }
}

fn client(file: &ScenarioFile) -> ClientSpec {
    let c = &file.client;
    let proxy = match c.proxy.as_ref().map(|p| p.get_ref().as_str()) {
        None | Some("direct") => ClientProxy::Direct,
        Some("pac") => file
            .endpoint
            .iter()
            .find(|e| e.behaviour == Behaviour::Pac)
            .and_then(|e| Some((e.hosts.first()?.get_ref().clone(), *e.port.get_ref())))
            .map_or(ClientProxy::Direct, |(host, port)| ClientProxy::Pac {
                host,
                port,
            }),
        Some("wpad") => ClientProxy::Wpad {
            suffix: file.names.suffix.clone().unwrap_or_default(),
        },
        Some(name) => ClientProxy::Named(name.to_owned()),
    };
    ClientSpec {
        proxy,
        proxy_credentials: c
            .proxy_credentials
            .as_ref()
            .map(|c| (c.user.clone(), c.password.clone())),
        trust: c.trust.as_ref().map_or_else(
            || vec!["lab".to_owned()],
            |t| t.iter().map(|r| r.get_ref().clone()).collect(),
        ),
        expected_issuers: c.expected_issuers.clone(),
        client_cert: c.client_cert.as_ref().map(|cert| {
            let hosts = cert
                .hosts
                .clone()
                .unwrap_or_else(|| vec!["connector.egresslab.test".to_owned()]);
            (cert.profile.get_ref().clone(), hosts)
        }),
        tls_versions: c.tls_versions,
        connect_timeout: Duration::from_millis(c.connect_timeout_ms.unwrap_or(1_000)),
        io_timeout: Duration::from_millis(c.io_timeout_ms.unwrap_or(3_000)),
    }
}

fn probe(file: &ScenarioFile, key: &ProbeKey) -> ProbeSpec {
    match key {
        ProbeKey::Url(url) => ProbeSpec::Ready(Probe::Url { url: url.clone() }),
        ProbeKey::Tcp(target) => {
            let (host, port) = split_host_port(target).unwrap_or_else(|| (target.clone(), 0));
            ProbeSpec::Ready(Probe::Tcp { host, port })
        }
        ProbeKey::ConnectorEndpoints => ProbeSpec::Ready(Probe::ConnectorEndpoints),
        ProbeKey::Revocation(urls) => ProbeSpec::Ready(Probe::Revocation { urls: urls.clone() }),
        ProbeKey::Backend(b) => ProbeSpec::Ready(Probe::Backend {
            url: b.url.clone(),
            default_timeout: Duration::from_millis(b.default_timeout_ms),
            long_timeout: Duration::from_millis(b.long_timeout_ms),
        }),
        ProbeKey::Ike(host) => ProbeSpec::Ike {
            host: host.clone(),
            ports: file
                .udp
                .iter()
                .filter(|u| u.host.eq_ignore_ascii_case(host))
                .map(|u| (*u.port.get_ref(), u.name.get_ref().clone()))
                .collect(),
        },
        ProbeKey::VpnServer(host) => ProbeSpec::Ready(Probe::VpnServer { host: host.clone() }),
        ProbeKey::MachineCertificate(profiles) => ProbeSpec::MachineCertificate {
            profiles: profiles.clone(),
        },
        ProbeKey::Servicebus(host) => ProbeSpec::Ready(Probe::ServiceBus { host: host.clone() }),
    }
}
