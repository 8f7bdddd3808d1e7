//! The scenario file as written: serde models of the TOML, every table closed to unknown keys.
//!
//! Names and references keep their source span ([`Spanned`]) so validation errors can point at the
//! exact line and column. The file's own words (`tls12-only`, `ike-responder` ...) are enums here, so
//! the lab plan needs no serde; [`convert`](super::convert) turns each model type into its plan type.
//! The documented reference of every key is docs/scenario-format.md.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_spanned::Spanned;

/// A whole scenario file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    /// Metadata: name, summary, seed section, tags.
    pub scenario: Meta,
    /// Servers answering for host names on a port.
    #[serde(default)]
    pub endpoint: Vec<Endpoint>,
    /// Forward proxies.
    #[serde(default)]
    pub proxy: Vec<Proxy>,
    /// Firewall rules and middleboxes, first match wins.
    #[serde(default)]
    pub firewall: Vec<Firewall>,
    /// The lab DNS server, NXDOMAIN names and the WPAD suffix.
    #[serde(default)]
    pub names: Names,
    /// UDP responders (IKE).
    #[serde(default)]
    pub udp: Vec<Udp>,
    /// Toxics on the lab's own listeners from the start (Toxiproxy's types).
    #[serde(default)]
    pub toxic: Vec<ToxicKey>,
    /// The simulated client.
    #[serde(default)]
    pub client: Client,
    /// What must come out.
    pub expect: Expect,
}

/// `[scenario]`: what the scenario is and where it comes from.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Meta {
    /// The scenario id; equals the file name without `.toml` in the catalog.
    pub name: Spanned<String>,
    /// One sentence: what is simulated.
    pub summary: String,
    /// The seed document section this scenario reproduces.
    pub seed: String,
    /// Tags for `--filter`.
    #[serde(default)]
    pub tags: Vec<String>,
}

/// `[[endpoint]]`: a TLS or plain server for host-name patterns on one port.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Endpoint {
    /// Unique name.
    pub name: Spanned<String>,
    /// Host names or `*.suffix` patterns.
    pub hosts: Vec<Spanned<String>>,
    /// The port clients believe they use.
    pub port: Spanned<u16>,
    /// TLS settings; absent means plain TCP/HTTP.
    pub tls: Option<Tls>,
    /// The fixed HTTP answer (for the default `http` behaviour).
    pub http: Option<Http>,
    /// What the endpoint does with a connection (default `http`).
    #[serde(default)]
    pub behaviour: Behaviour,
    /// The PAC file served when `behaviour = "pac"`.
    pub pac: Option<Pac>,
    /// The address families it answers in (`["v4"]` by default; `["v4", "v6"]` dual stack,
    /// `["v6"]` an AAAA only).
    pub families: Option<Spanned<Vec<FamilyKey>>>,
}

/// An address family as written: `v4` or `v6`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FamilyKey {
    /// IPv4.
    V4,
    /// IPv6.
    V6,
}

/// `tls = { ... }` of an endpoint.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tls {
    /// Certificate profile of the served certificate.
    pub profile: Spanned<String>,
    /// Accepted versions: `both`, `tls12-only`, `tls13-only`.
    #[serde(default)]
    pub versions: TlsVersionsKey,
    /// Require a client certificate issued by this CA role.
    pub client_auth: Option<Spanned<String>>,
}

/// `http = { ... }` of an endpoint.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Http {
    /// Status code (default 200).
    pub status: Option<Spanned<u16>>,
    /// Body (default `ok`).
    pub body: Option<String>,
    /// Pad the body with `.` to this many bytes (a download large enough to time a path).
    pub body_bytes: Option<Spanned<u64>>,
    /// Delay before answering, in milliseconds.
    pub delay_ms: Option<Spanned<u64>>,
    /// Extra response headers.
    #[serde(default)]
    pub headers: BTreeMap<Spanned<String>, Spanned<String>>,
}

/// An endpoint's behaviour.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Behaviour {
    /// A fixed HTTP answer.
    #[default]
    Http,
    /// Echo bytes back.
    Echo,
    /// Serve the lab CAs' CRLs and OCSP answers.
    Revocation,
    /// Serve a PAC file at `/wpad.dat`.
    Pac,
}

/// `pac = { ... }`: what the served PAC file says.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pac {
    /// The proxy the PAC file names (by scenario name); absent means `DIRECT`.
    pub proxy: Option<Spanned<String>>,
    /// A PAC script served as written (a customer's wpad.dat); excludes `proxy`.
    pub script: Option<Spanned<String>>,
}

/// `versions` / `tls_versions`: which TLS versions an endpoint accepts or a client offers.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TlsVersionsKey {
    /// TLS 1.2 and 1.3.
    #[default]
    Both,
    /// TLS 1.2 only.
    Tls12Only,
    /// TLS 1.3 only.
    Tls13Only,
}

/// `kind`: the protocol a proxy speaks to its clients.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProxyKindKey {
    /// An HTTP proxy (CONNECT and absolute URIs).
    #[default]
    Http,
    /// A SOCKS5 proxy (RFC 1928).
    Socks5,
}

/// `socks_resolve`: who resolves destination names when the client's proxy speaks SOCKS5.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SocksResolveKey {
    /// The proxy (`socks5h://`, `curl --socks5-hostname`): the client sends the name.
    #[default]
    Proxy,
    /// The client (`socks5://`, `curl --socks5`): it resolves the name and sends the address.
    Client,
}

/// `personality`: the proxy product whose answers are imitated.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PersonalityKey {
    /// Squid.
    #[default]
    Squid,
    /// A generic proxy.
    Generic,
}

/// A rule's `action`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RuleActionKey {
    /// Relay.
    Allow,
    /// Answer 403.
    Deny,
}

/// A proxy authentication scheme as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AuthSchemeKey {
    /// Basic, checked against the user table.
    Basic,
    /// NTLM (NTLMv2 verified on one connection).
    Ntlm,
    /// Digest with MD5.
    Digest,
    /// Digest with SHA-256.
    DigestSha256,
    /// Negotiate (SPNEGO carrying NTLM).
    Negotiate,
}

/// A UDP responder's `behaviour`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UdpBehaviourKey {
    /// Answer IKE_SA_INIT.
    IkeResponder,
    /// Never answer.
    Silent,
}

/// `[[proxy]]`: a forward proxy.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Proxy {
    /// Unique name.
    pub name: Spanned<String>,
    /// `http` (default) or `socks5`.
    #[serde(default)]
    pub kind: ProxyKindKey,
    /// `squid` (default) or `generic`.
    #[serde(default)]
    pub personality: PersonalityKey,
    /// Access rules, first match wins; absent means allow everything.
    pub rules: Option<Vec<Rule>>,
    /// Squid's default: CONNECT only to 443.
    #[serde(default)]
    pub squid_default_ports: bool,
    /// Proxy authentication.
    pub auth: Option<Auth>,
    /// TLS interception.
    pub intercept: Option<Intercept>,
    /// The parent proxy (by name).
    pub upstream: Option<Spanned<String>>,
    /// Serve the proxy over TLS with a certificate of this profile.
    pub tls_profile: Option<Spanned<String>>,
    /// A fault injected into every answer.
    pub fault: Option<Fault>,
    /// How long the proxy waits for the origin before answering 504.
    pub connect_timeout_ms: Option<Spanned<u64>>,
    /// How long a client may take to send a whole request head before the proxy closes the
    /// connection without an answer (Squid's `request_start_timeout` for the first head).
    pub header_timeout_ms: Option<Spanned<u64>>,
    /// The largest request head the proxy reads (Squid's `request_header_max_size`).
    pub max_head_bytes: Option<Spanned<u64>>,
    /// The most client connections served at once; one more is answered 503 and closed.
    pub max_connections: Option<Spanned<u64>>,
    /// The proxy's address refuses connections.
    #[serde(default)]
    pub down: bool,
    /// The address families the proxy has a path out in (default both).
    pub families: Option<Spanned<Vec<FamilyKey>>>,
    /// Squid ACLs (`egresslab import` writes them from a squid.conf).
    #[serde(default)]
    pub acl: Vec<AclKey>,
    /// Squid `http_access` lines in order; when present they decide instead of `rules`.
    pub http_access: Option<Vec<AccessKey>>,
    /// Squid `deny_info` entries: the answer for a denial by one of the ACLs.
    #[serde(default)]
    pub deny_info: Vec<DenyInfoKey>,
    /// Squid `always_direct` lines: an allowed request bypasses `upstream`.
    #[serde(default)]
    pub always_direct: Vec<AccessKey>,
}

/// `[[proxy.acl]]`: one named Squid ACL.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AclKey {
    /// The name `http_access` lines use.
    pub name: Spanned<String>,
    /// The type as squid.conf writes it (`dstdomain`, `port`, `proxy_auth`, ...).
    #[serde(rename = "type")]
    pub kind: Spanned<String>,
    /// The values (leading `-i` / `-n` flags included), OR-ed.
    #[serde(default)]
    pub values: Vec<String>,
}

/// `[[proxy.http_access]]` or `[[proxy.always_direct]]`: one Squid access line.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessKey {
    /// `allow` or `deny`.
    pub action: RuleActionKey,
    /// ACL names, AND-ed; `!name` negates.
    pub acls: Vec<Spanned<String>>,
}

/// `[[proxy.deny_info]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DenyInfoKey {
    /// An error page name (`ERR_...`), `TCP_RESET`, or `3xx:URL`.
    pub page: Spanned<String>,
    /// The ACL names it applies to.
    pub acls: Vec<Spanned<String>>,
}

/// One proxy access rule.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Host pattern.
    pub hosts: String,
    /// Ports; empty means every port.
    #[serde(default)]
    pub ports: Vec<Spanned<u16>>,
    /// `allow` or `deny`.
    pub action: RuleActionKey,
}

/// `auth = { ... }` of a proxy.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Auth {
    /// Schemes offered, in order: `basic`, `digest`, `digest-sha256`, `ntlm`, `negotiate`. Left
    /// out on a `socks5` proxy, which authenticates with RFC 1929 username/password only.
    #[serde(default)]
    pub schemes: Vec<Spanned<AuthSchemeKey>>,
    /// Basic and Digest realm.
    pub realm: Option<String>,
    /// How long a Digest nonce stays good, in milliseconds (default 30 minutes, Squid's).
    pub nonce_lifetime_ms: Option<Spanned<u64>>,
    /// The user table: `{ name = "password" }`, `{ 'CORP\alice' = "password" }` for a domain user.
    #[serde(default)]
    pub users: BTreeMap<String, String>,
}

/// `intercept = true` or `intercept = { passthrough = [...] }`.
#[derive(Debug, Deserialize)]
#[serde(
    untagged,
    expecting = "true, false or a table { passthrough = [host patterns] }"
)]
pub enum Intercept {
    /// On or off.
    Flag(bool),
    /// On, with hosts tunnelled blind.
    Table(InterceptTable),
}

/// The table form of `intercept`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InterceptTable {
    /// Host patterns tunnelled blind.
    #[serde(default)]
    pub passthrough: Vec<String>,
}

/// A proxy fault.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub enum Fault {
    /// Close right after reading CONNECT.
    CloseAfterConnect,
    /// Close right after a 407 carrying an NTLM/Negotiate challenge (a load balancer in front).
    CloseAfterChallenge,
    /// Answer with bytes that are not HTTP.
    Garbage,
    /// Answer every request with this status: `{ status = 502 }`.
    #[serde(rename = "status")]
    Status(Spanned<u16>),
    /// Wait before answering: `{ slow_ms = 3000 }`.
    #[serde(rename = "slow_ms")]
    SlowMs(Spanned<u64>),
}

/// `[[firewall]]`: one firewall or middlebox rule.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Firewall {
    /// `client` (default), `any`, `any-proxy` or `proxy:NAME`.
    pub from: Option<Spanned<String>>,
    /// Destination host pattern.
    pub hosts: String,
    /// Destination port; absent means every port.
    pub port: Option<Spanned<u16>>,
    /// What happens.
    pub action: FirewallActionKey,
    /// The address family it applies to (`v4` or `v6`); absent means both.
    pub family: Option<FamilyKey>,
}

/// A firewall action as written.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub enum FirewallActionKey {
    /// Let it through.
    Allow,
    /// Connection refused.
    Reject,
    /// SYNs never answered.
    Drop,
    /// Accepted and silent.
    Hang,
    /// Reset TLS handshakes offering TLS 1.2 or later.
    KillTls12,
    /// Reset connections carrying a SHA-512 certificate.
    KillSha512,
    /// Reset after this many bytes: `{ reset_after = 100 }`.
    #[serde(rename = "reset_after")]
    ResetAfter(u64),
}

/// `[names]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Names {
    /// Start the lab DNS server.
    #[serde(default)]
    pub dns: bool,
    /// The client's DNS suffix (for WPAD).
    pub suffix: Option<String>,
    /// Names that answer NXDOMAIN.
    #[serde(default)]
    pub nxdomain: Vec<String>,
    /// One loopback address per lab host.
    #[serde(default)]
    pub per_host_addresses: bool,
    /// Names only the proxies' resolvers know (NXDOMAIN for the client).
    #[serde(default)]
    pub proxy_only: Vec<Spanned<String>>,
}

/// `[[udp]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Udp {
    /// Unique name.
    pub name: Spanned<String>,
    /// Host clients send to.
    pub host: String,
    /// Port clients send to.
    pub port: Spanned<u16>,
    /// `ike-responder` or `silent`.
    pub behaviour: UdpBehaviourKey,
}

/// `[[toxic]]`: a toxic on one of the scenario's listeners while the lab runs, as the control API
/// would put it there (docs/control.md); the attributes are Toxiproxy's.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToxicKey {
    /// The listener: an endpoint, proxy or UDP responder name, or `CHILD~PARENT` for a proxy's
    /// connections to its parent.
    pub on: Spanned<String>,
    /// Toxiproxy's type word (`latency`, `bandwidth`, `reset_peer`, ... or `packet_loss`).
    #[serde(rename = "type")]
    pub kind: Spanned<String>,
    /// Unique on its listener; default `TYPE_STREAM`.
    pub name: Option<Spanned<String>>,
    /// `downstream` (default) or `upstream`.
    #[serde(default)]
    pub stream: StreamKey,
    /// The share of connections (datagrams on UDP) it acts on, 0.0 to 1.0 (default 1.0).
    pub toxicity: Option<Spanned<f64>>,
    /// On a proxy only: a host pattern limiting the toxic to the proxy's connections there.
    pub destination: Option<Spanned<String>>,
    /// The type's attributes in Toxiproxy's units (`{ latency = 800 }`).
    pub attributes: Option<Spanned<toml::Table>>,
}

/// A toxic's `stream`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StreamKey {
    /// From the upstream back to the client.
    #[default]
    Downstream,
    /// From the client towards the upstream.
    Upstream,
}

/// `[client]`: the simulated client.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Client {
    /// `direct` (default), a proxy name, `pac` or `wpad`.
    pub proxy: Option<Spanned<String>>,
    /// Credentials for proxy authentication.
    pub proxy_credentials: Option<Credentials>,
    /// Through a `socks5` proxy: `proxy` (default, socks5h) or `client` resolves names.
    pub socks_resolve: Option<Spanned<SocksResolveKey>>,
    /// CA roles the client trusts (default `["lab"]`).
    pub trust: Option<Vec<Spanned<String>>>,
    /// Issuer names the client expects on cloud certificates (default: the lab CAs).
    #[serde(default)]
    pub expected_issuers: Vec<String>,
    /// The client certificate.
    pub client_cert: Option<ClientCert>,
    /// TLS versions the client speaks: `both` (default), `tls12-only`, `tls13-only`.
    #[serde(default)]
    pub tls_versions: TlsVersionsKey,
    /// Time-out of one TCP connect, in milliseconds.
    pub connect_timeout_ms: Option<Spanned<u64>>,
    /// Time-out of one handshake or answer, in milliseconds.
    pub io_timeout_ms: Option<Spanned<u64>>,
    /// What the client tries.
    #[serde(default)]
    pub probes: Vec<Spanned<ProbeKey>>,
    /// Artifact files generated for the artifact readers.
    #[serde(default)]
    pub artifacts: Artifacts,
}

/// `proxy_credentials = { user, password, scheme }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    /// How the client answers a 407: `basic` (default, sent up front), `ntlm` (the NTLMv2
    /// handshake on one connection; a user written `DOMAIN\user` names its domain) or `digest`.
    #[serde(default)]
    pub scheme: crate::check::config::ProxyAuthKind,
    /// User name.
    pub user: String,
    /// Password (never printed).
    pub password: String,
}

/// `client_cert = { profile, hosts }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientCert {
    /// Certificate profile.
    pub profile: Spanned<String>,
    /// Names in the certificate (default `["connector.egresslab.test"]`).
    pub hosts: Option<Vec<String>>,
}

/// One probe as written.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum ProbeKey {
    /// `{ url = "https://host/path" }`.
    Url(String),
    /// `{ repeat = { url = "https://host/path", attempts = 8 } }`: the URL probe several times.
    Repeat(RepeatKey),
    /// `{ tcp = "host:port" }`.
    Tcp(String),
    /// `"connector_endpoints"`: the connector's required-endpoint matrix.
    ConnectorEndpoints,
    /// `{ revocation = [urls] }`.
    Revocation(Vec<String>),
    /// `{ backend = { url, default_timeout_ms, long_timeout_ms } }`.
    Backend(BackendKey),
    /// `{ ike = "vpn.egresslab.test" }`: UDP 500/4500 of the `[[udp]]` responders for that host.
    Ike(String),
    /// `{ vpn_server = "vpn.egresslab.test" }`: the VPN server's certificate on TLS 443.
    VpnServer(String),
    /// `{ machine_certificate = ["ike-machine"] }`: a machine store holding these profiles.
    MachineCertificate(Vec<String>),
    /// `{ servicebus = "connector-sample.servicebus.windows.net" }`: the messaging service's direct
    /// TCP ports and its HTTPS 443 fallback.
    Servicebus(String),
}

/// The repeat probe's settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepeatKey {
    /// The URL.
    pub url: String,
    /// How many attempts, 2 to 32.
    pub attempts: u32,
}

/// The back-end probe's settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackendKey {
    /// The internal URL.
    pub url: String,
    /// The default back-end time-out, in milliseconds.
    pub default_timeout_ms: u64,
    /// The "long" back-end time-out, in milliseconds.
    pub long_timeout_ms: u64,
}

/// `[client.artifacts]`: files the scenario generates for the artifact readers.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Artifacts {
    /// The connector service's `.exe.config`.
    pub exe_config: Option<ExeConfig>,
    /// `netsh winhttp show proxy` output.
    pub netsh: Option<Netsh>,
    /// `TrustSettings.xml` and the certificate store it refers to.
    pub trust_settings: Option<TrustSettings>,
    /// Connector event-log messages: a list (one entry per message) or one text whose messages are
    /// separated by blank lines.
    pub event_log: Option<EventLog>,
    /// NPS accounting log rows (comma-separated, no header).
    pub nps_log: Option<Vec<String>>,
    /// VPN ProfileXML.
    pub vpn_profile: Option<VpnProfile>,
}

/// `event_log = [...]` or `event_log = """..."""`.
#[derive(Debug, Deserialize)]
#[serde(
    untagged,
    expecting = "a list of event messages, or one text with messages separated by blank lines"
)]
pub enum EventLog {
    /// One entry per message.
    Entries(Vec<String>),
    /// Messages separated by blank lines.
    Text(String),
}

impl EventLog {
    /// The file's text: messages separated by one blank line (the event-log reader's entry format).
    pub fn text(&self) -> String {
        match self {
            EventLog::Text(text) => text.trim_start().to_owned(),
            EventLog::Entries(entries) => {
                let trimmed: Vec<&str> = entries.iter().map(|e| e.trim()).collect();
                trimmed.join("\n\n") + "\n"
            }
        }
    }
}

/// `exe_config = { ... }`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExeConfig {
    /// `defaultProxy enabled=...`; absent writes no `enabled` attribute.
    pub proxy_enabled: Option<bool>,
    /// The proxy named in `proxyaddress` (by scenario name).
    pub proxy: Option<Spanned<String>>,
    /// `bypassonlocal`.
    #[serde(default)]
    pub bypass_on_local: bool,
    /// `usesystemdefault`.
    #[serde(default)]
    pub use_system_default: bool,
}

/// `netsh = { ... }`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Netsh {
    /// The proxy winhttp is set to (by scenario name); absent means direct access.
    pub proxy: Option<Spanned<String>>,
    /// The bypass list.
    #[serde(default)]
    pub bypass: Vec<String>,
}

/// `trust_settings = { ... }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustSettings {
    /// `"client_cert"`: the thumbprint of the scenario's client certificate.
    pub thumbprint_of: Option<Spanned<String>>,
    /// A literal thumbprint (40 hex digits).
    pub thumbprint: Option<Spanned<String>>,
    /// `IsInUserStore`.
    #[serde(default)]
    pub is_in_user_store: bool,
}

/// `vpn_profile = { ... }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VpnProfile {
    /// Whether the TLSExtensions EKU filter (AAD Conditional Access) is present.
    #[serde(default = "yes")]
    pub tls_extensions: bool,
    /// The server name in the profile (default: the first `vpn_server` probe's host).
    pub server: Option<String>,
    /// The inner EAP method of the PEAP profile: `tls` (certificate, default) or `mschapv2`.
    #[serde(default)]
    pub inner_method: InnerMethod,
}

/// The inner EAP method written into a VPN profile.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InnerMethod {
    /// EAP-TLS (smart card or other certificate), EAP type 13.
    #[default]
    Tls,
    /// EAP-MSCHAPv2 (secured password), EAP type 26.
    Mschapv2,
}

fn yes() -> bool {
    true
}

/// `[expect]`: the verdict that must come out.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// Codes that must appear.
    #[serde(default)]
    pub diagnoses: Vec<Spanned<String>>,
    /// Codes that must not appear.
    #[serde(default)]
    pub absent: Vec<Spanned<String>>,
    /// `true`: no finding at error level.
    #[serde(default)]
    pub healthy: bool,
    /// Expectations on an external command (`--exec`), one per client.
    #[serde(default)]
    pub exec: Vec<ExecExpectKey>,
}

/// `[[expect.exec]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecExpectKey {
    /// The client this expectation is written for: the first word of the `--exec` command (`curl`).
    pub client: String,
    /// The URL the command is pointed at (`EGRESSLAB_URL`); default: the first `url` probe.
    pub url: Option<String>,
    /// The exit status.
    pub exit_code: Option<i32>,
    /// Strings stdout must contain.
    #[serde(default)]
    pub stdout_contains: Vec<String>,
    /// Strings stderr must contain.
    #[serde(default)]
    pub stderr_contains: Vec<String>,
    /// A regular expression stdout must match.
    pub stdout_matches: Option<Spanned<String>>,
    /// A regular expression stderr must match.
    pub stderr_matches: Option<Spanned<String>>,
}
