//! Step three of loading: turn a parsed file into a lab plan, a client description, probes and
//! expectations, each part converted (checked, its names resolved) by [`convert`](super::convert).

use std::time::Duration;

use egresslab_certs::{CaRole, Profile};

use crate::check::{Code, Probe, TlsVersions};
use crate::lab::LabPlan;

use super::convert::Resolve;
use super::error::ScenarioError;
use super::model::{InnerMethod, ScenarioFile};
use super::validate::Scope;

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
    /// Through a SOCKS5 proxy: who resolves destination names (`[client] socks_resolve`).
    pub socks_resolve: crate::check::config::SocksResolve,
    /// Proxy credentials (user, password).
    pub proxy_credentials: Option<(String, String)>,
    /// How the credentials are used (Basic or NTLM).
    pub proxy_auth: crate::check::config::ProxyAuthKind,
    /// CA roles the client trusts.
    pub trust: Vec<CaRole>,
    /// Issuer names the client expects; empty means the names of the trusted lab CAs.
    pub expected_issuers: Vec<String>,
    /// The client certificate: profile and names.
    pub client_cert: Option<(Profile, Vec<String>)>,
    /// TLS versions the client offers (the checks' type: the client side of a handshake).
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
        profiles: Vec<Profile>,
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
    pub diagnoses: Vec<Code>,
    /// Codes that must not appear.
    pub absent: Vec<Code>,
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
    // A JSON string is a JavaScript string literal: whatever the answer holds stays inside the quotes.
    let literal = serde_json::Value::String(answer).to_string();
    format!("function FindProxyForURL(url, host) {{\n  return {literal};\n}}\n")
}

/// Check and convert a parsed file, part by part; the first problem is returned with its location.
pub fn expand(file: &str, text: &str, scenario: &ScenarioFile) -> Result<Expanded, ScenarioError> {
    let scope = Scope::new(file, text, scenario)?;
    super::convert_socks::check_proxy_only(&scenario.names, &scope)?;
    let plan = LabPlan {
        name: scenario.scenario.name.get_ref().clone(),
        endpoints: all(&scope, &scenario.endpoint)?,
        proxies: all(&scope, &scenario.proxy)?,
        firewall: all(&scope, &scenario.firewall)?,
        names: (&scenario.names).into(),
        udp: all(&scope, &scenario.udp)?,
        toxics: super::toxics::all(&scope, &scenario.toxic)?,
        ..LabPlan::default()
    };
    Ok(Expanded {
        id: plan.name.clone(),
        source: file.to_owned(),
        summary: scenario.scenario.summary.clone(),
        seed: scenario.scenario.seed.clone(),
        tags: scenario.scenario.tags.clone(),
        client: scenario.client.resolve(&scope)?,
        probes: all(&scope, &scenario.client.probes)?,
        artifacts: scenario.client.artifacts.resolve(&scope)?,
        expect: scenario.expect.resolve(&scope)?,
        plan,
    })
}

/// Every part of a list, converted in order.
fn all<T: Resolve>(scope: &Scope<'_>, parts: &[T]) -> Result<Vec<T::Plan>, ScenarioError> {
    parts.iter().map(|part| part.resolve(scope)).collect()
}
