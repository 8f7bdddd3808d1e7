//! The lab plan: a typed description of the world a lab starts.
//!
//! A plan is what a scenario file expands into and what `Lab::builder()` assembles in code. It names
//! things by the host names and ports clients believe in; where each really listens is decided when the
//! lab starts. A plan is built in code, never deserialised: names a scenario file resolves (certificate
//! profiles, CA roles) arrive here as the certificate factory's types.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use egresslab_certs::{CaRole, Profile};

/// Everything a lab starts: endpoints, proxies, firewall rules, names and UDP responders.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LabPlan {
    /// A short name, used in the timeline and in reports.
    pub name: String,
    /// Where listeners bind. Loopback unless the plan says otherwise explicitly.
    pub bind: BindPolicy,
    /// Folder of the persisted lab CAs; `None` (the library's default, for tests) mints fresh
    /// authorities in memory for this lab only. `egresslab up` and `run` set it to the folder
    /// `egresslab certs ca` shows unless told `--ephemeral-ca`.
    pub ca_dir: Option<PathBuf>,
    /// Servers that answer for sets of host names on one port.
    pub endpoints: Vec<EndpointPlan>,
    /// Forward proxies.
    pub proxies: Vec<ProxyPlan>,
    /// Firewall rules, first match wins; traffic no rule matches is allowed.
    pub firewall: Vec<FirewallRule>,
    /// The lab DNS server, NXDOMAIN names and WPAD.
    pub names: NamesPlan,
    /// UDP responders (IKE on 500/4500).
    pub udp: Vec<UdpPlan>,
    /// Real destinations that proxies may relay to for real (not simulated by the lab).
    pub passthrough: Vec<PassthroughPlan>,
    /// Toxics on the lab's own listeners from the start (a scenario's `[[toxic]]`), in order.
    pub toxics: Vec<ToxicPlan>,
}

/// A toxic the lab puts on one of its listeners as it starts, so that a scenario can describe a
/// slow, lossy or flapping path without a control client.
#[derive(Debug, Clone, PartialEq)]
pub struct ToxicPlan {
    /// The listener's gate: an endpoint, proxy or UDP responder name, or `CHILD~PARENT` for a
    /// proxy's connections to its parent.
    pub on: String,
    /// The toxic, as the control API would hold it.
    pub toxic: crate::lab::control::Toxic,
}

/// Which addresses the lab binds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum BindPolicy {
    /// 127.0.0.1 with ephemeral ports (the default, and the only safe choice on a shared machine).
    #[default]
    Loopback,
    /// An explicit address, for a network team pointing real machines at the lab.
    Explicit(IpAddr),
}

impl BindPolicy {
    /// The address every listener binds.
    pub fn ip(&self) -> IpAddr {
        match self {
            BindPolicy::Loopback => IpAddr::V4(Ipv4Addr::LOCALHOST),
            BindPolicy::Explicit(ip) => *ip,
        }
    }
}

/// A server answering for a set of host-name patterns on one port.
#[derive(Debug, Clone, PartialEq)]
pub struct EndpointPlan {
    /// Unique name, used by handles (`lab.endpoint("login")`) and in the timeline.
    pub name: String,
    /// Host names or `*.suffix` wildcard patterns this endpoint answers for.
    pub hosts: Vec<String>,
    /// The port clients believe they connect to (443, 80, ...).
    pub port: u16,
    /// TLS settings; `None` serves plain TCP/HTTP.
    pub tls: Option<TlsPlan>,
    /// What the endpoint does once a client is connected.
    pub behaviour: EndpointBehaviour,
    /// The address families it is reachable over: an A answer and a 127.0.0.1 listener for v4, an
    /// AAAA answer and a ::1 listener for v6 (both: two listeners serving the same endpoint).
    pub families: Families,
}

/// An IP address family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    /// IPv4.
    V4,
    /// IPv6.
    V6,
}

impl Family {
    /// The family of an address.
    pub fn of(ip: IpAddr) -> Family {
        match ip {
            IpAddr::V4(_) => Family::V4,
            IpAddr::V6(_) => Family::V6,
        }
    }

    /// The loopback address of the family (`127.0.0.1`, `::1`).
    pub fn loopback(self) -> IpAddr {
        match self {
            Family::V4 => IpAddr::V4(Ipv4Addr::LOCALHOST),
            Family::V6 => IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Family::V4 => "v4",
            Family::V6 => "v6",
        })
    }
}

/// A set of address families (an endpoint's addresses, a proxy's paths out).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Families {
    /// IPv4.
    pub v4: bool,
    /// IPv6.
    pub v6: bool,
}

impl Families {
    /// IPv4 only (an endpoint's default).
    pub const V4: Families = Families {
        v4: true,
        v6: false,
    };
    /// IPv6 only.
    pub const V6: Families = Families {
        v4: false,
        v6: true,
    };
    /// Both (a proxy's default: it has a path out in each family).
    pub const BOTH: Families = Families { v4: true, v6: true };

    /// Whether the set holds `family`.
    pub fn has(self, family: Family) -> bool {
        match family {
            Family::V4 => self.v4,
            Family::V6 => self.v6,
        }
    }

    /// The families in the set, v4 first.
    pub fn list(self) -> Vec<Family> {
        [Family::V4, Family::V6]
            .into_iter()
            .filter(|family| self.has(*family))
            .collect()
    }
}

impl Default for Families {
    fn default() -> Self {
        Families::V4
    }
}

/// TLS settings of an endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct TlsPlan {
    /// Certificate profile of the served certificate (`valid`, `expired`, `sha512-rsa`, ...).
    pub profile: Profile,
    /// Accepted protocol versions.
    pub versions: TlsVersions,
    /// Require a client certificate issued by this CA.
    pub client_auth: Option<ClientAuthPlan>,
}

/// Protocol versions an endpoint accepts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TlsVersions {
    /// TLS 1.2 and 1.3.
    #[default]
    Both,
    /// TLS 1.2 only.
    Tls12Only,
    /// TLS 1.3 only.
    Tls13Only,
}

/// A client-certificate requirement.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientAuthPlan {
    /// The CA role whose certificates are accepted (`connector-registration`, `lab`, ...).
    pub ca: CaRole,
}

/// What an endpoint does with a connection.
#[derive(Debug, Clone, PartialEq)]
pub enum EndpointBehaviour {
    /// Answer every HTTP request the same way.
    Http(HttpAnswer),
    /// Echo every byte back (for tunnels and load tests).
    Echo,
    /// Serve the CRL and OCSP answers of the lab CAs (plain HTTP on port 80).
    Revocation,
    /// Serve a PAC file at `/wpad.dat`.
    Pac {
        /// The PAC script.
        script: String,
    },
}

impl Default for EndpointBehaviour {
    fn default() -> Self {
        EndpointBehaviour::Http(HttpAnswer::default())
    }
}

/// A fixed HTTP answer.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpAnswer {
    /// Status code.
    pub status: u16,
    /// Extra response headers.
    pub headers: Vec<(String, String)>,
    /// Response body.
    pub body: String,
    /// Time to wait before answering (the slow back-end case).
    pub delay: Duration,
}

impl Default for HttpAnswer {
    fn default() -> Self {
        HttpAnswer {
            status: 200,
            headers: Vec::new(),
            body: "ok\n".to_owned(),
            delay: Duration::ZERO,
        }
    }
}

/// A forward proxy.
#[derive(Debug, Clone, PartialEq)]
pub struct ProxyPlan {
    /// Unique name (`lab.proxy("corp")`).
    pub name: String,
    /// The protocol its clients speak: HTTP (CONNECT and absolute URIs) or SOCKS5.
    pub kind: ProxyKind,
    /// Which real proxy the answers imitate.
    pub personality: Personality,
    /// Access rules, first match wins; no match means deny.
    pub rules: Vec<ProxyRule>,
    /// Squid's default port policy: CONNECT only to 443, plain HTTP only to Safe_ports.
    pub squid_default_ports: bool,
    /// Proxy authentication; `None` means anonymous access.
    pub auth: Option<ProxyAuthPlan>,
    /// How long a Digest nonce stays good: a right response on an older one is answered 407 with
    /// `stale=true` (Squid's `auth_param digest nonce_max_duration`).
    pub digest_nonce_lifetime: Duration,
    /// TLS interception; `None` means blind tunnels.
    pub intercept: Option<InterceptPlan>,
    /// Name of a parent proxy every request is chained through.
    pub upstream: Option<String>,
    /// Serve the proxy over TLS (an `https://` proxy) with a certificate of this profile.
    pub tls_profile: Option<Profile>,
    /// A fault injected into every answer.
    pub fault: Option<ProxyFault>,
    /// How long the proxy waits for an origin connection before answering 504.
    pub connect_timeout: Duration,
    /// The proxy is down: its address refuses connections.
    pub down: bool,
    /// How long a client may take to send a complete request head before the proxy closes the
    /// connection (the slowloris guard; also bounds a TLS handshake with the proxy).
    pub header_timeout: Duration,
    /// Largest request head (line and header fields) the proxy reads, like Squid's
    /// `request_header_max_size`; a longer line gets 414, a longer header block 431.
    pub max_head_bytes: usize,
    /// Most client connections served at once; a connection beyond it is answered 503 and closed
    /// at once instead of waiting in a queue.
    pub max_connections: usize,
    /// Squid access lists (`acl`, `http_access`, `deny_info`, `always_direct`) imported from a
    /// squid.conf. When set they replace `rules`, `squid_default_ports` and the blanket
    /// authentication check: credentials are asked for only where a `proxy_auth` ACL is checked.
    pub access: Option<crate::lab::access::SquidAccess>,
    /// The address families the proxy has a path out in: a destination the lab answers only in a
    /// family the proxy lacks is answered as Squid does without a route (503 ERR_CONNECT_FAIL, errno
    /// 101 "Network is unreachable").
    pub families: Families,
}

/// The default [`ProxyPlan::digest_nonce_lifetime`]: 30 minutes, Squid's default.
pub const DEFAULT_DIGEST_NONCE_LIFETIME: Duration = Duration::from_secs(30 * 60);

/// The default [`ProxyPlan::header_timeout`]: 30 seconds.
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(30);
/// The default [`ProxyPlan::max_head_bytes`]: Squid's 64 KiB.
pub const DEFAULT_MAX_HEAD_BYTES: usize = 64 * 1024;
/// The default [`ProxyPlan::max_connections`].
pub const DEFAULT_MAX_CONNECTIONS: usize = 8192;

impl ProxyPlan {
    /// A Squid-like proxy that allows everything the lab defines.
    pub fn new(name: impl Into<String>) -> Self {
        ProxyPlan {
            name: name.into(),
            kind: ProxyKind::Http,
            personality: Personality::Squid,
            rules: vec![ProxyRule {
                hosts: "*".to_owned(),
                ports: Vec::new(),
                action: RuleAction::Allow,
            }],
            squid_default_ports: false,
            auth: None,
            digest_nonce_lifetime: DEFAULT_DIGEST_NONCE_LIFETIME,
            intercept: None,
            upstream: None,
            tls_profile: None,
            fault: None,
            connect_timeout: Duration::from_secs(5),
            down: false,
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            max_head_bytes: DEFAULT_MAX_HEAD_BYTES,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            access: None,
            families: Families::BOTH,
        }
    }
}

/// The protocol a proxy speaks to its clients.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ProxyKind {
    /// An HTTP proxy: CONNECT tunnels and absolute-URI forwarding (the default).
    #[default]
    Http,
    /// A SOCKS5 proxy (RFC 1928): CONNECT only, no-auth or username/password (RFC 1929) against
    /// the plan's user table when it has `auth`.
    Socks5,
}

/// The proxy product whose answers are imitated.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Personality {
    /// Squid: 503 ERR_CONNECT_FAIL, 504 on time-out, X-Squid-Error headers, error pages.
    #[default]
    Squid,
    /// A generic proxy (mitmproxy, goproxy): 502 with the error text on a failed connect.
    Generic,
}

/// One access rule of a proxy.
#[derive(Debug, Clone, PartialEq)]
pub struct ProxyRule {
    /// Host pattern: `*`, an exact name, or `*.suffix`.
    pub hosts: String,
    /// Ports the rule applies to; empty means every port.
    pub ports: Vec<u16>,
    /// What happens when the rule matches.
    pub action: RuleAction,
}

/// Allow or deny.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleAction {
    /// Relay the request.
    Allow,
    /// Answer 403.
    Deny,
}

/// Proxy authentication.
#[derive(Debug, Clone, PartialEq)]
pub struct ProxyAuthPlan {
    /// Schemes offered in `Proxy-Authenticate`, in order.
    pub schemes: Vec<AuthScheme>,
    /// The realm named in the Basic and Digest challenges.
    pub realm: String,
    /// The user table: (name, password), a name written `DOMAIN\user` for NTLM and Negotiate
    /// users of a domain (the first such domain is the one the NTLM challenge names). Passwords
    /// never reach the timeline or logs.
    pub users: Vec<(String, String)>,
}

/// An HTTP proxy authentication scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthScheme {
    /// Basic (RFC 7617), checked against the plan's users.
    Basic,
    /// NTLM (MS-NLMP): the three-message handshake on one connection, NTLMv2 verified.
    Ntlm,
    /// Digest with MD5 (RFC 7616; Squid's `auth_param digest`).
    Digest,
    /// Digest with SHA-256 (RFC 7616).
    DigestSha256,
    /// Negotiate: SPNEGO carrying NTLM (no Kerberos: no KDC in the lab).
    Negotiate,
}

/// TLS interception by a proxy.
#[derive(Debug, Clone, PartialEq)]
pub struct InterceptPlan {
    /// Host patterns that are tunnelled blind ("do not inspect").
    pub passthrough: Vec<String>,
}

/// A fault a proxy injects.
#[derive(Debug, Clone, PartialEq)]
pub enum ProxyFault {
    /// Answer every request with this status.
    Status(u16),
    /// Wait this long before answering.
    SlowAnswer(Duration),
    /// Close the connection right after reading the CONNECT request.
    CloseAfterConnect,
    /// Answer with bytes that are not HTTP.
    Garbage,
    /// Close the client's connection right after a 407 that carries an NTLM or Negotiate challenge,
    /// as a load balancer or middlebox that does not keep the client on one connection to one proxy
    /// does: the handshake's answer can never reach the proxy that issued the challenge.
    CloseAfterChallenge,
}

/// A firewall rule.
#[derive(Debug, Clone, PartialEq)]
pub struct FirewallRule {
    /// Whose traffic the rule applies to.
    pub from: Vantage,
    /// Host pattern of the destination: `*`, an exact name, or `*.suffix`.
    pub hosts: String,
    /// Destination port; `None` means every port.
    pub port: Option<u16>,
    /// What happens to matching connections.
    pub action: FirewallAction,
    /// The address family the rule applies to; `None` means both (a v6 drop is `Some(V6)`).
    pub family: Option<Family>,
}

/// The side a connection starts from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Vantage {
    /// Any side.
    Any,
    /// The simulated client connecting directly.
    Client,
    /// Any proxy of the lab connecting to an origin.
    AnyProxy,
    /// The named proxy connecting to an origin.
    Proxy(String),
}

/// The words a [`Vantage`] is written with (in scenario files and in the timeline); `proxy:NAME`
/// stands for one proxy's name after `proxy:`.
pub const VANTAGE_WORDS: &[&str] = &["client", "any", "any-proxy", "proxy:NAME"];

impl fmt::Display for Vantage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Vantage::Any => f.write_str("any"),
            Vantage::Client => f.write_str("client"),
            Vantage::AnyProxy => f.write_str("any-proxy"),
            Vantage::Proxy(name) => write!(f, "proxy:{name}"),
        }
    }
}

/// A word that is none of [`VANTAGE_WORDS`] (or `proxy:` without a name).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown vantage {word:?}")]
#[non_exhaustive]
pub struct UnknownVantage {
    /// The word as written.
    pub word: String,
}

impl FromStr for Vantage {
    type Err = UnknownVantage;

    fn from_str(word: &str) -> Result<Self, Self::Err> {
        match word {
            "client" => Ok(Vantage::Client),
            "any" => Ok(Vantage::Any),
            "any-proxy" => Ok(Vantage::AnyProxy),
            _ => match word.strip_prefix("proxy:") {
                Some(name) if !name.is_empty() => Ok(Vantage::Proxy(name.to_owned())),
                _ => Err(UnknownVantage {
                    word: word.to_owned(),
                }),
            },
        }
    }
}

impl Vantage {
    /// Whether a rule written for `self` applies to a connection from `side`.
    pub fn covers(&self, side: &Vantage) -> bool {
        match (self, side) {
            (Vantage::Any, _) => true,
            (Vantage::AnyProxy, Vantage::Proxy(_)) => true,
            (a, b) => a == b,
        }
    }
}

/// What a firewall or middlebox does with a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FirewallAction {
    /// Let it through.
    Allow,
    /// Refuse: the client sees "connection refused" (RST to its SYN).
    Reject,
    /// Drop: SYNs are never answered, the client retransmits and times out.
    Drop,
    /// Accept the connection and never send a byte.
    Hang,
    /// Relay, then reset both sides after this many bytes in total.
    ResetAfter(u64),
    /// Reset any TLS handshake whose ClientHello offers TLS 1.2 or later.
    KillTls12,
    /// Reset a TLS 1.2 connection once a SHA-512-signed certificate crosses it (either direction).
    KillSha512,
}

/// Names: the lab DNS server, NXDOMAIN names and WPAD.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NamesPlan {
    /// Start a DNS server on loopback that answers the lab's names.
    pub dns: bool,
    /// Names that must answer NXDOMAIN even if a pattern would cover them.
    pub nxdomain: Vec<String>,
    /// The DNS suffix of the simulated client (for `wpad.<suffix>`).
    pub suffix: Option<String>,
    /// Give each lab host its own address in 127.0.0.0/8 instead of 127.0.0.1.
    pub per_host_addresses: bool,
    /// Host patterns only the proxies' resolvers know: the client's resolver (the lab DNS server,
    /// the client's name mapping) answers NXDOMAIN for them, as for an internal zone that only the
    /// proxy's DNS serves.
    pub proxy_only: Vec<String>,
}

/// A UDP responder.
#[derive(Debug, Clone, PartialEq)]
pub struct UdpPlan {
    /// Unique name.
    pub name: String,
    /// Host name clients believe they send to.
    pub host: String,
    /// Port clients believe they send to (500 or 4500 for IKE).
    pub port: u16,
    /// How it answers.
    pub behaviour: UdpBehaviour,
}

/// How a UDP responder answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UdpBehaviour {
    /// Answer an IKE_SA_INIT request with a valid IKEv2 header.
    IkeResponder,
    /// Receive and never answer (a firewall dropping UDP).
    Silent,
}

/// A real destination proxies relay to for real.
#[derive(Debug, Clone, PartialEq)]
pub struct PassthroughPlan {
    /// Host pattern clients use.
    pub hosts: String,
    /// Port clients use; `None` means any.
    pub port: Option<u16>,
    /// Where the traffic really goes.
    pub address: SocketAddr,
}

/// The first upstream chain that loops, as the names along it with the first repeated at the end
/// (`["a", "b", "a"]`), or `None` when every chain ends. `edges` gives each proxy's name and upstream;
/// a chain through a proxy that is not in `edges` ends there (unknown names are reported elsewhere).
/// A cycle would let one CONNECT open connections to itself until the process runs out of descriptors.
///
/// ```
/// use egresslab::lab::upstream_cycle;
///
/// let looped = [("a", Some("b")), ("b", Some("a"))];
/// assert_eq!(upstream_cycle(looped), Some(vec!["a", "b", "a"]));
/// assert_eq!(upstream_cycle([("a", Some("b")), ("b", None)]), None);
/// ```
pub fn upstream_cycle<'a>(
    edges: impl IntoIterator<Item = (&'a str, Option<&'a str>)>,
) -> Option<Vec<&'a str>> {
    let next: std::collections::HashMap<&str, Option<&str>> = edges.into_iter().collect();
    // Proxies whose chain is known to end: each is walked at most once, so the search stays linear.
    let mut ends: std::collections::HashSet<&str> = std::collections::HashSet::new();
    let mut starts: Vec<&str> = next.keys().copied().collect();
    starts.sort_unstable();
    for start in starts {
        let mut path: Vec<&str> = Vec::new();
        let mut on_path: std::collections::HashSet<&str> = std::collections::HashSet::new();
        let mut current = Some(start);
        while let Some(name) = current {
            if ends.contains(name) {
                break;
            }
            if !on_path.insert(name) {
                let from = path.iter().position(|p| *p == name).unwrap_or(0);
                let mut cycle = path[from..].to_vec();
                cycle.push(name);
                return Some(cycle);
            }
            path.push(name);
            current = next.get(name).copied().flatten();
        }
        ends.extend(path);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vantage_words_round_trip() {
        for word in ["client", "any", "any-proxy", "proxy:corp"] {
            let vantage: Vantage = word.parse().expect(word);
            assert_eq!(vantage.to_string(), word);
        }
        assert_eq!("proxy:corp".parse(), Ok(Vantage::Proxy("corp".to_owned())));
        assert!("proxy:".parse::<Vantage>().is_err());
        assert!("server".parse::<Vantage>().is_err());
    }
}
