//! From the file model to the plan, one conversion per model type: [`From`] where every value is
//! acceptable, [`Resolve`] where a value is checked or a name resolved against the [`Scope`]. Adding a
//! scenario key is one edit here, next to its model type in [`model`](super::model).

use std::time::Duration;

use egresslab_certs::{CaRole, Profile};
use serde_spanned::Spanned;

use crate::check::{self, Code, Probe};
use crate::lab::{
    self, AuthScheme, ClientAuthPlan, EndpointBehaviour, EndpointPlan, Families, Family,
    FirewallAction, FirewallRule, HttpAnswer, InterceptPlan, NamesPlan, Personality, ProxyAuthPlan,
    ProxyFault, ProxyKind, ProxyPlan, ProxyRule, RuleAction, TlsPlan, UdpBehaviour, UdpPlan,
    Vantage, VANTAGE_WORDS,
};

use super::error::{Location, ScenarioError};
use super::expand::{
    pac_script, ArtifactSpecs, ClientProxy, ClientSpec, ExecExpectation, Expectations, ProbeSpec,
};
use super::model::{
    self, AuthSchemeKey, Behaviour, FirewallActionKey, Intercept, PersonalityKey, ProbeKey,
    ProxyKindKey, RuleActionKey, TlsVersionsKey, UdpBehaviourKey,
};
use super::names::{is_code, ProxyWord};
use super::validate::{is_host_pattern, regex, split_host_port, split_url, Scope, MAX_MILLIS};

/// The largest body `body_bytes` may ask for (one megabyte): enough to time any slow path.
const MAX_BODY_BYTES: u64 = 1_000_000;
/// A proxy's request head limit: from Squid's smallest useful `request_header_max_size` (1 KB) to
/// 1 MiB.
const HEAD_BYTES: std::ops::RangeInclusive<u64> = 1_024..=1_048_576;
/// A proxy's connection cap: at least one, at most what one process can hold open.
const CONNECTIONS: std::ops::RangeInclusive<u64> = 1..=65_536;

/// A model value that becomes a plan value once checked against the scenario it belongs to.
pub(crate) trait Resolve {
    /// What it becomes.
    type Plan;
    /// Check the value and resolve its names; the first problem is returned, located.
    fn resolve(&self, scope: &Scope<'_>) -> Result<Self::Plan, ScenarioError>;
}

impl From<TlsVersionsKey> for lab::TlsVersions {
    fn from(key: TlsVersionsKey) -> Self {
        match key {
            TlsVersionsKey::Both => lab::TlsVersions::Both,
            TlsVersionsKey::Tls12Only => lab::TlsVersions::Tls12Only,
            TlsVersionsKey::Tls13Only => lab::TlsVersions::Tls13Only,
        }
    }
}

impl From<TlsVersionsKey> for check::TlsVersions {
    fn from(key: TlsVersionsKey) -> Self {
        match key {
            TlsVersionsKey::Both => check::TlsVersions::Both,
            TlsVersionsKey::Tls12Only => check::TlsVersions::Tls12Only,
            TlsVersionsKey::Tls13Only => check::TlsVersions::Tls13Only,
        }
    }
}

impl From<PersonalityKey> for Personality {
    fn from(key: PersonalityKey) -> Self {
        match key {
            PersonalityKey::Squid => Personality::Squid,
            PersonalityKey::Generic => Personality::Generic,
        }
    }
}

impl From<RuleActionKey> for RuleAction {
    fn from(key: RuleActionKey) -> Self {
        match key {
            RuleActionKey::Allow => RuleAction::Allow,
            RuleActionKey::Deny => RuleAction::Deny,
        }
    }
}

impl From<AuthSchemeKey> for AuthScheme {
    fn from(key: AuthSchemeKey) -> Self {
        match key {
            AuthSchemeKey::Basic => AuthScheme::Basic,
            AuthSchemeKey::Ntlm => AuthScheme::Ntlm,
            AuthSchemeKey::Digest => AuthScheme::Digest,
            AuthSchemeKey::DigestSha256 => AuthScheme::DigestSha256,
            AuthSchemeKey::Negotiate => AuthScheme::Negotiate,
        }
    }
}

impl From<UdpBehaviourKey> for UdpBehaviour {
    fn from(key: UdpBehaviourKey) -> Self {
        match key {
            UdpBehaviourKey::IkeResponder => UdpBehaviour::IkeResponder,
            UdpBehaviourKey::Silent => UdpBehaviour::Silent,
        }
    }
}

impl From<FirewallActionKey> for FirewallAction {
    fn from(key: FirewallActionKey) -> Self {
        match key {
            FirewallActionKey::Allow => FirewallAction::Allow,
            FirewallActionKey::Reject => FirewallAction::Reject,
            FirewallActionKey::Drop => FirewallAction::Drop,
            FirewallActionKey::Hang => FirewallAction::Hang,
            FirewallActionKey::KillTls12 => FirewallAction::KillTls12,
            FirewallActionKey::KillSha512 => FirewallAction::KillSha512,
            FirewallActionKey::ResetAfter(n) => FirewallAction::ResetAfter(n),
        }
    }
}

impl From<&model::Auth> for ProxyAuthPlan {
    fn from(auth: &model::Auth) -> Self {
        ProxyAuthPlan {
            schemes: auth.schemes.iter().map(|s| (*s.get_ref()).into()).collect(),
            realm: auth.realm.clone().unwrap_or_else(|| "egresslab".to_owned()),
            users: auth
                .users
                .iter()
                .map(|(user, password)| (user.clone(), password.clone()))
                .collect(),
        }
    }
}

impl Intercept {
    /// The interception plan, `None` when interception is off.
    pub fn plan(&self) -> Option<InterceptPlan> {
        match self {
            Intercept::Flag(false) => None,
            Intercept::Flag(true) => Some(InterceptPlan {
                passthrough: Vec::new(),
            }),
            Intercept::Table(table) => Some(InterceptPlan {
                passthrough: table.passthrough.clone(),
            }),
        }
    }
}

impl From<&model::Names> for NamesPlan {
    fn from(names: &model::Names) -> Self {
        NamesPlan {
            dns: names.dns,
            nxdomain: names.nxdomain.clone(),
            suffix: names.suffix.clone(),
            per_host_addresses: names.per_host_addresses,
            proxy_only: names
                .proxy_only
                .iter()
                .map(|name| name.get_ref().clone())
                .collect(),
        }
    }
}

impl Resolve for model::Endpoint {
    type Plan = EndpointPlan;

    fn resolve(&self, scope: &Scope<'_>) -> Result<EndpointPlan, ScenarioError> {
        let port = scope.port(&self.port)?;
        if self.hosts.is_empty() {
            return Err(scope.invalid(
                &self.name,
                "endpoint without hosts".to_owned(),
                "at least one host name or *.suffix pattern",
            ));
        }
        for host in &self.hosts {
            if !is_host_pattern(host.get_ref()) {
                return Err(scope.invalid(
                    host,
                    format!("host `{}`", host.get_ref()),
                    "a host name or a *.suffix pattern",
                ));
            }
        }
        let tls = self.tls.as_ref().map(|t| t.resolve(scope)).transpose()?;
        let behaviour = match (self.behaviour, &self.pac, &self.http) {
            (Behaviour::Pac, None, _) => {
                return Err(scope.invalid(
                    &self.name,
                    "a `pac` endpoint without a `pac` table".to_owned(),
                    "pac = { proxy = \"NAME\" } or pac = {}",
                ));
            }
            (Behaviour::Pac, Some(pac), _) => {
                let proxy = pac.proxy.as_ref().map(|p| scope.proxy(p)).transpose()?;
                let script = match (&pac.script, proxy) {
                    (Some(script), None) => script.get_ref().clone(),
                    (Some(script), Some(_)) => {
                        return Err(scope.invalid(
                            script,
                            "a `pac` table with both `script` and `proxy`".to_owned(),
                            "one of them",
                        ))
                    }
                    (None, proxy) => pac_script(proxy.as_deref()),
                };
                EndpointBehaviour::Pac { script }
            }
            (_, Some(_), _) => {
                return Err(scope.invalid(
                    &self.name,
                    "a `pac` table on an endpoint that does not serve PAC".to_owned(),
                    "behaviour = \"pac\"",
                ));
            }
            (Behaviour::Echo | Behaviour::Revocation, None, Some(_)) => {
                return Err(scope.invalid(
                    &self.name,
                    "an `http` answer on an endpoint that does not answer HTTP".to_owned(),
                    "behaviour = \"http\" (the default)",
                ));
            }
            (Behaviour::Http, None, Some(http)) => EndpointBehaviour::Http(http.resolve(scope)?),
            (Behaviour::Http, None, None) => EndpointBehaviour::Http(HttpAnswer::default()),
            (Behaviour::Echo, None, None) => EndpointBehaviour::Echo,
            (Behaviour::Revocation, None, None) => EndpointBehaviour::Revocation,
        };
        Ok(EndpointPlan {
            name: self.name.get_ref().clone(),
            hosts: self.hosts.iter().map(|h| h.get_ref().clone()).collect(),
            port,
            tls,
            behaviour,
            families: match &self.families {
                Some(words) => families(scope, words)?,
                None => Families::V4,
            },
        })
    }
}

impl From<model::FamilyKey> for Family {
    fn from(key: model::FamilyKey) -> Self {
        match key {
            model::FamilyKey::V4 => Family::V4,
            model::FamilyKey::V6 => Family::V6,
        }
    }
}

/// A `families` list: at least one family, none twice.
fn families(
    scope: &Scope<'_>,
    words: &Spanned<Vec<model::FamilyKey>>,
) -> Result<Families, ScenarioError> {
    let list = words.get_ref();
    let expected = "a list of one or both of \"v4\" and \"v6\", each once";
    if list.is_empty() {
        return Err(scope.invalid(words, "an empty `families` list".to_owned(), expected));
    }
    let mut seen = Families {
        v4: false,
        v6: false,
    };
    for key in list {
        let family = Family::from(*key);
        if seen.has(family) {
            return Err(scope.invalid(words, format!("`{family}` twice in `families`"), expected));
        }
        match family {
            Family::V4 => seen.v4 = true,
            Family::V6 => seen.v6 = true,
        }
    }
    Ok(seen)
}

impl Resolve for model::Tls {
    type Plan = TlsPlan;

    fn resolve(&self, scope: &Scope<'_>) -> Result<TlsPlan, ScenarioError> {
        Ok(TlsPlan {
            profile: scope.word::<Profile>(&self.profile)?,
            versions: self.versions.into(),
            client_auth: self
                .client_auth
                .as_ref()
                .map(|ca| scope.word::<CaRole>(ca).map(|ca| ClientAuthPlan { ca }))
                .transpose()?,
        })
    }
}

impl Resolve for model::Http {
    type Plan = HttpAnswer;

    fn resolve(&self, scope: &Scope<'_>) -> Result<HttpAnswer, ScenarioError> {
        let mut answer = HttpAnswer::default();
        if let Some(status) = &self.status {
            answer.status = scope.status(status)?;
        }
        if let Some(body) = &self.body {
            answer.body = body.clone();
        }
        if let Some(size) = &self.body_bytes {
            let wanted = *size.get_ref();
            let have = answer.body.len() as u64;
            if wanted > MAX_BODY_BYTES || wanted < have {
                return Err(scope.invalid(
                    size,
                    format!("body_bytes {wanted}"),
                    &format!("at least the body's own {have} bytes and at most {MAX_BODY_BYTES}"),
                ));
            }
            answer
                .body
                .extend(std::iter::repeat_n('.', (wanted - have) as usize));
        }
        if let Some(delay) = &self.delay_ms {
            answer.delay = scope.millis(delay)?;
        }
        answer.headers = self
            .headers
            .iter()
            .map(|(name, value)| scope.header(name, value))
            .collect::<Result<_, _>>()?;
        Ok(answer)
    }
}

impl Resolve for model::Proxy {
    type Plan = ProxyPlan;

    fn resolve(&self, scope: &Scope<'_>) -> Result<ProxyPlan, ScenarioError> {
        super::convert_socks::check_proxy(self, scope)?;
        let mut plan = ProxyPlan::new(self.name.get_ref().clone());
        plan.kind = match self.kind {
            ProxyKindKey::Http => ProxyKind::Http,
            ProxyKindKey::Socks5 => ProxyKind::Socks5,
        };
        plan.personality = self.personality.into();
        if let Some(rules) = &self.rules {
            for port in rules.iter().flat_map(|rule| &rule.ports) {
                scope.port(port)?;
            }
            plan.rules = rules.iter().map(ProxyRule::from).collect();
        }
        plan.squid_default_ports = self.squid_default_ports;
        plan.auth = self.auth.as_ref().map(ProxyAuthPlan::from);
        if let Some(ms) = self
            .auth
            .as_ref()
            .and_then(|a| a.nonce_lifetime_ms.as_ref())
        {
            plan.digest_nonce_lifetime = scope.millis(ms)?;
        }
        plan.intercept = self.intercept.as_ref().and_then(Intercept::plan);
        if let Some(upstream) = &self.upstream {
            // A proxy naming itself was refused with the loop check (`Scope::new`); this is an unknown name.
            if !scope.has_proxy(upstream.get_ref()) {
                let others: Vec<&str> = scope
                    .proxies
                    .iter()
                    .copied()
                    .filter(|p| p != self.name.get_ref())
                    .collect();
                return Err(scope.unknown(upstream, "proxy", upstream.get_ref(), &others));
            }
            plan.upstream = Some(upstream.get_ref().clone());
        }
        plan.tls_profile = self
            .tls_profile
            .as_ref()
            .map(|p| scope.word::<Profile>(p))
            .transpose()?;
        plan.fault = self.fault.as_ref().map(|f| f.resolve(scope)).transpose()?;
        if let Some(ms) = &self.connect_timeout_ms {
            plan.connect_timeout = scope.millis(ms)?;
        }
        if let Some(ms) = &self.header_timeout_ms {
            plan.header_timeout = Duration::from_millis(scope.within(ms, 1..=MAX_MILLIS, "ms")?);
        }
        if let Some(bytes) = &self.max_head_bytes {
            plan.max_head_bytes = scope.within(bytes, HEAD_BYTES, "bytes")? as usize;
        }
        if let Some(count) = &self.max_connections {
            plan.max_connections = scope.within(count, CONNECTIONS, "connections")? as usize;
        }
        plan.down = self.down;
        if let Some(words) = &self.families {
            plan.families = families(scope, words)?;
        }
        plan.access = super::convert_access::access(self, scope)?;
        Ok(plan)
    }
}

impl From<&model::Rule> for ProxyRule {
    fn from(rule: &model::Rule) -> Self {
        ProxyRule {
            hosts: rule.hosts.clone(),
            ports: rule.ports.iter().map(|p| *p.get_ref()).collect(),
            action: rule.action.into(),
        }
    }
}

impl Resolve for model::Fault {
    type Plan = ProxyFault;

    fn resolve(&self, scope: &Scope<'_>) -> Result<ProxyFault, ScenarioError> {
        Ok(match self {
            model::Fault::CloseAfterConnect => ProxyFault::CloseAfterConnect,
            model::Fault::CloseAfterChallenge => ProxyFault::CloseAfterChallenge,
            model::Fault::Garbage => ProxyFault::Garbage,
            model::Fault::Status(status) => ProxyFault::Status(scope.status(status)?),
            model::Fault::SlowMs(ms) => ProxyFault::SlowAnswer(scope.millis(ms)?),
        })
    }
}

impl Resolve for model::Firewall {
    type Plan = FirewallRule;

    fn resolve(&self, scope: &Scope<'_>) -> Result<FirewallRule, ScenarioError> {
        let port = self.port.as_ref().map(|p| scope.port(p)).transpose()?;
        let from = match &self.from {
            None => Vantage::Client,
            Some(word) => match word.get_ref().parse::<Vantage>() {
                Ok(Vantage::Proxy(name)) if !scope.has_proxy(&name) => {
                    return Err(scope.unknown(word, "proxy", &name, &scope.proxies));
                }
                Ok(vantage) => vantage,
                Err(_) => {
                    return Err(scope.unknown(
                        word,
                        "firewall vantage",
                        word.get_ref(),
                        VANTAGE_WORDS,
                    ))
                }
            },
        };
        Ok(FirewallRule {
            from,
            hosts: self.hosts.clone(),
            port,
            action: self.action.into(),
            family: self.family.map(Family::from),
        })
    }
}

impl Resolve for model::Udp {
    type Plan = UdpPlan;

    fn resolve(&self, scope: &Scope<'_>) -> Result<UdpPlan, ScenarioError> {
        Ok(UdpPlan {
            name: self.name.get_ref().clone(),
            host: self.host.clone(),
            port: scope.port(&self.port)?,
            behaviour: self.behaviour.into(),
        })
    }
}

impl Resolve for model::Client {
    type Plan = ClientSpec;

    fn resolve(&self, scope: &Scope<'_>) -> Result<ClientSpec, ScenarioError> {
        let proxy = match &self.proxy {
            None => ClientProxy::Direct,
            Some(word) => client_proxy(scope, word)?,
        };
        let trust = match &self.trust {
            None => vec![CaRole::Lab],
            Some(roles) => roles
                .iter()
                .map(|role| scope.word::<CaRole>(role))
                .collect::<Result<_, _>>()?,
        };
        let client_cert = match &self.client_cert {
            None => None,
            Some(cert) => {
                let hosts = cert
                    .hosts
                    .clone()
                    .unwrap_or_else(|| vec!["connector.egresslab.test".to_owned()]);
                Some((scope.word::<Profile>(&cert.profile)?, hosts))
            }
        };
        let millis = |ms: &Option<Spanned<u64>>, default: u64| match ms {
            Some(ms) => scope.millis(ms),
            None => Ok(Duration::from_millis(default)),
        };
        let socks_resolve = super::convert_socks::client_socks(self, scope)?;
        Ok(ClientSpec {
            proxy,
            socks_resolve,
            proxy_credentials: self
                .proxy_credentials
                .as_ref()
                .map(|c| (c.user.clone(), c.password.clone())),
            proxy_auth: self
                .proxy_credentials
                .as_ref()
                .map(|c| c.scheme)
                .unwrap_or_default(),
            trust,
            expected_issuers: self.expected_issuers.clone(),
            client_cert,
            tls_versions: self.tls_versions.into(),
            connect_timeout: millis(&self.connect_timeout_ms, 1_000)?,
            io_timeout: millis(&self.io_timeout_ms, 3_000)?,
        })
    }
}

/// `[client] proxy`: a mode, or one of the scenario's proxies.
fn client_proxy(scope: &Scope<'_>, word: &Spanned<String>) -> Result<ClientProxy, ScenarioError> {
    match ProxyWord::of(word.get_ref()) {
        ProxyWord::Direct => Ok(ClientProxy::Direct),
        ProxyWord::Named(name) => {
            if scope.has_proxy(&name) {
                return Ok(ClientProxy::Named(name));
            }
            let mut known: Vec<&str> = ProxyWord::MODES.to_vec();
            known.extend(&scope.proxies);
            Err(scope.unknown(word, "client proxy", &name, &known))
        }
        ProxyWord::Pac => {
            let first = scope
                .pac_endpoint()
                .and_then(|e| Some((e.hosts.first()?.get_ref().clone(), *e.port.get_ref())));
            match first {
                Some((host, port)) => Ok(ClientProxy::Pac { host, port }),
                None => Err(scope.invalid(
                    word,
                    "`pac` without a PAC endpoint".to_owned(),
                    "an [[endpoint]] with behaviour = \"pac\"",
                )),
            }
        }
        ProxyWord::Wpad => {
            let Some(suffix) = &scope.scenario.names.suffix else {
                return Err(scope.invalid(
                    word,
                    "`wpad` without a DNS suffix".to_owned(),
                    "[names] suffix = \"corp.example\"",
                ));
            };
            let wpad = format!("wpad.{suffix}");
            let served = scope.scenario.endpoint.iter().any(|e| {
                e.behaviour == Behaviour::Pac
                    && e.hosts
                        .iter()
                        .any(|h| h.get_ref().eq_ignore_ascii_case(&wpad))
            });
            if !served {
                return Err(scope.invalid(
                    word,
                    format!("`wpad` but no PAC endpoint serves `{wpad}`"),
                    "a pac endpoint with that host",
                ));
            }
            Ok(ClientProxy::Wpad {
                suffix: suffix.clone(),
            })
        }
    }
}

impl Resolve for Spanned<ProbeKey> {
    type Plan = ProbeSpec;

    fn resolve(&self, scope: &Scope<'_>) -> Result<ProbeSpec, ScenarioError> {
        let invalid = |what: String, expected: &str| Err(scope.invalid(self, what, expected));
        let probe = match self.get_ref() {
            ProbeKey::Url(url) => {
                if split_url(url).is_none() {
                    return invalid(
                        format!("url `{url}`"),
                        "an http:// or https:// URL with a host",
                    );
                }
                Probe::Url { url: url.clone() }
            }
            ProbeKey::Repeat(repeat) => {
                if split_url(&repeat.url).is_none() {
                    return invalid(
                        format!("url `{}`", repeat.url),
                        "an http:// or https:// URL with a host",
                    );
                }
                if !(2..=check::MAX_REPEAT_ATTEMPTS).contains(&repeat.attempts) {
                    return invalid(
                        format!("attempts {}", repeat.attempts),
                        "from 2 to 32 attempts",
                    );
                }
                Probe::Repeat {
                    url: repeat.url.clone(),
                    attempts: repeat.attempts,
                }
            }
            ProbeKey::Tcp(target) => {
                let Some((host, port)) = split_host_port(target) else {
                    return invalid(
                        format!("tcp target `{target}`"),
                        "HOST:PORT with a port from 1 to 65535",
                    );
                };
                Probe::Tcp { host, port }
            }
            ProbeKey::ConnectorEndpoints => Probe::ConnectorEndpoints,
            ProbeKey::Revocation(urls) => {
                if let Some(url) = urls.iter().find(|u| split_url(u).is_none()) {
                    return invalid(format!("url `{url}`"), "http:// URLs");
                }
                Probe::Revocation { urls: urls.clone() }
            }
            ProbeKey::Backend(backend) => {
                if split_url(&backend.url).is_none() {
                    return invalid(
                        format!("url `{}`", backend.url),
                        "an http:// or https:// URL",
                    );
                }
                if backend.long_timeout_ms > super::validate::MAX_MILLIS {
                    return invalid(
                        format!("long_timeout_ms {}", backend.long_timeout_ms),
                        "at most 3600000 ms (one hour)",
                    );
                }
                if backend.default_timeout_ms >= backend.long_timeout_ms {
                    return invalid(
                        "default_timeout_ms not below long_timeout_ms".to_owned(),
                        "the long time-out to be longer than the default",
                    );
                }
                Probe::Backend {
                    url: backend.url.clone(),
                    default_timeout: Duration::from_millis(backend.default_timeout_ms),
                    long_timeout: Duration::from_millis(backend.long_timeout_ms),
                }
            }
            ProbeKey::Ike(host) => {
                let ports: Vec<(u16, String)> = scope
                    .scenario
                    .udp
                    .iter()
                    .filter(|u| u.host.eq_ignore_ascii_case(host))
                    .map(|u| (*u.port.get_ref(), u.name.get_ref().clone()))
                    .collect();
                if ports.is_empty() {
                    return invalid(
                        format!("ike probe of `{host}` without a UDP responder for it"),
                        "[[udp]] entries with that host (ports 500 and 4500)",
                    );
                }
                return Ok(ProbeSpec::Ike {
                    host: host.clone(),
                    ports,
                });
            }
            ProbeKey::VpnServer(host) => Probe::VpnServer { host: host.clone() },
            ProbeKey::MachineCertificate(wanted) => {
                let profiles = wanted
                    .iter()
                    .map(|name| scope.word::<Profile>(&Spanned::new(self.span(), name.clone())))
                    .collect::<Result<_, _>>()?;
                return Ok(ProbeSpec::MachineCertificate { profiles });
            }
            ProbeKey::Servicebus(host) => {
                if host.is_empty() || host.contains([':', '/']) {
                    return invalid(
                        format!("servicebus host `{host}`"),
                        "a host name without port or path",
                    );
                }
                Probe::ServiceBus { host: host.clone() }
            }
        };
        Ok(ProbeSpec::Ready(probe))
    }
}

impl Resolve for model::Artifacts {
    type Plan = ArtifactSpecs;

    fn resolve(&self, scope: &Scope<'_>) -> Result<ArtifactSpecs, ScenarioError> {
        let proxy =
            |name: &Option<Spanned<String>>| name.as_ref().map(|p| scope.proxy(p)).transpose();
        let exe_config = match &self.exe_config {
            None => None,
            Some(e) => Some((
                e.proxy_enabled,
                proxy(&e.proxy)?,
                e.bypass_on_local,
                e.use_system_default,
            )),
        };
        let netsh = match &self.netsh {
            None => None,
            Some(n) => Some((proxy(&n.proxy)?, n.bypass.clone())),
        };
        let trust_settings = match &self.trust_settings {
            None => None,
            Some(trust) => Some((thumbprint(scope, trust)?, trust.is_in_user_store)),
        };
        Ok(ArtifactSpecs {
            exe_config,
            netsh,
            trust_settings,
            event_log: self.event_log.as_ref().map(model::EventLog::text),
            nps_log: self.nps_log.clone(),
            vpn_profile: self
                .vpn_profile
                .as_ref()
                .map(|v| (v.tls_extensions, v.server.clone(), v.inner_method)),
        })
    }
}

/// The literal thumbprint of `trust_settings` (upper case), or `None` for the client certificate's.
fn thumbprint(
    scope: &Scope<'_>,
    trust: &model::TrustSettings,
) -> Result<Option<String>, ScenarioError> {
    match (&trust.thumbprint_of, &trust.thumbprint) {
        (Some(of), None) => {
            scope.reference(of, "certificate", &["client_cert"])?;
            if scope.scenario.client.client_cert.is_none() {
                return Err(scope.invalid(
                    of,
                    "`thumbprint_of = \"client_cert\"` without a client certificate".to_owned(),
                    "[client] client_cert = { profile = ... }",
                ));
            }
            Ok(None)
        }
        (None, Some(thumbprint)) => {
            let t = thumbprint.get_ref();
            if t.len() != 40 || !t.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(scope.invalid(
                    thumbprint,
                    format!("thumbprint `{t}`"),
                    "40 hexadecimal digits (a SHA-1 thumbprint)",
                ));
            }
            Ok(Some(t.to_ascii_uppercase()))
        }
        _ => Err(ScenarioError::Invalid {
            at: Location::at(scope.file, scope.text, 0),
            what: "trust_settings names no thumbprint, or two".to_owned(),
            expected: "exactly one of thumbprint_of = \"client_cert\" or thumbprint = \"HEX\""
                .to_owned(),
        }),
    }
}

impl Resolve for model::Expect {
    type Plan = Expectations;

    fn resolve(&self, scope: &Scope<'_>) -> Result<Expectations, ScenarioError> {
        let code = |code: &Spanned<String>| {
            if !is_code(code.get_ref()) {
                return Err(scope.invalid(
                    code,
                    format!("diagnosis code `{}`", code.get_ref()),
                    "a dotted lowercase code such as `proxy.auth_required`",
                ));
            }
            scope.word::<Code>(code)
        };
        let diagnoses = self.diagnoses.iter().map(code).collect::<Result<_, _>>()?;
        let absent = self.absent.iter().map(code).collect::<Result<_, _>>()?;
        if self.diagnoses.is_empty() && !self.healthy {
            return Err(scope.invalid(
                &scope.scenario.scenario.name,
                "[expect] asks for nothing".to_owned(),
                "diagnoses = [codes] or healthy = true",
            ));
        }
        let exec = self
            .exec
            .iter()
            .map(|x| x.resolve(scope))
            .collect::<Result<_, _>>()?;
        Ok(Expectations {
            diagnoses,
            absent,
            healthy: self.healthy,
            exec,
        })
    }
}

impl Resolve for model::ExecExpectKey {
    type Plan = ExecExpectation;

    fn resolve(&self, scope: &Scope<'_>) -> Result<ExecExpectation, ScenarioError> {
        let pattern = |p: &Option<Spanned<String>>| p.as_ref().map(|p| regex(scope, p)).transpose();
        Ok(ExecExpectation {
            client: self.client.clone(),
            url: self.url.clone(),
            exit_code: self.exit_code,
            stdout_contains: self.stdout_contains.clone(),
            stderr_contains: self.stderr_contains.clone(),
            stdout_matches: pattern(&self.stdout_matches)?,
            stderr_matches: pattern(&self.stderr_matches)?,
        })
    }
}
