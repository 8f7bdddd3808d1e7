//! How the simulated (or real) client is configured, and what it should try.
//!
//! This is the whole input of the checks: nothing here refers to a lab. A scenario expands into a
//! [`ClientConfig`] and a list of [`Probe`]s; `egresslab check` builds the same from its flags.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// How the client reaches the network and whom it trusts.
#[derive(Debug)]
pub struct ClientConfig {
    /// How the client finds its proxy.
    pub proxy: ProxySetting,
    /// Credentials for proxy authentication, if the client has any. Never printed.
    pub proxy_credentials: Option<(String, String)>,
    /// How the credentials answer the proxy: Basic up front or the NTLM handshake.
    pub proxy_auth: ProxyAuthKind,
    /// Roots the client trusts. Empty means the client trusts nothing (every chain is untrusted).
    pub trust: Vec<CertificateDer<'static>>,
    /// Intermediate CA certificates the client already holds (its intermediate store, or what AIA
    /// fetching would bring). Never trusted by themselves; they let the checks prove that a server
    /// withholds an intermediate (incomplete chain) rather than chaining to an unknown root.
    pub intermediates: Vec<CertificateDer<'static>>,
    /// Issuer common names (or subjects) the client expects on the cloud service's certificates; a
    /// different issuer on a chain the client trusts or not is reported as interception.
    pub expected_issuers: Vec<String>,
    /// The client certificate chain and key, if the client has one.
    pub client_cert: Option<ClientCertificate>,
    /// Name-and-port overrides, as curl's `--connect-to HOST:PORT:ADDR:PORT`: connecting to
    /// (host, port) really goes to the address.
    pub connect_to: Vec<ConnectTo>,
    /// A DNS server to ask instead of the system resolver.
    pub dns_server: Option<SocketAddr>,
    /// Time-out of one TCP connect (short: a filtered port must not stall the run).
    pub connect_timeout: Duration,
    /// Time-out of one TLS handshake or HTTP answer, and the time limit of one PAC evaluation.
    pub io_timeout: Duration,
    /// The TLS versions the client offers.
    pub tls_versions: TlsVersions,
}

/// The TLS versions a client offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TlsVersions {
    /// TLS 1.2 and 1.3 (the default).
    #[default]
    Both,
    /// Only TLS 1.2.
    Tls12Only,
    /// Only TLS 1.3.
    Tls13Only,
}

/// How a client with proxy credentials authenticates.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProxyAuthKind {
    /// `Proxy-Authorization: Basic` on the first request.
    #[default]
    Basic,
    /// NTLM: NEGOTIATE, the proxy's 407 with its CHALLENGE, AUTHENTICATE (NTLMv2) on the same
    /// connection, as a Windows client does.
    Ntlm,
    /// Digest (RFC 7616, MD5 or SHA-256, `qop=auth`): the first request goes without, the proxy's
    /// 407 names a nonce, the answer follows on the same connection.
    Digest,
}

impl ProxyAuthKind {
    /// Every scheme, in the order [`ProxyAuthKind::name`] lists them.
    pub const ALL: [ProxyAuthKind; 3] = [
        ProxyAuthKind::Basic,
        ProxyAuthKind::Ntlm,
        ProxyAuthKind::Digest,
    ];

    /// The lowercase name a scenario, the ready file and `EGRESSLAB_PROXY_AUTH` use.
    pub fn name(self) -> &'static str {
        match self {
            ProxyAuthKind::Basic => "basic",
            ProxyAuthKind::Ntlm => "ntlm",
            ProxyAuthKind::Digest => "digest",
        }
    }

    /// The scheme of this name (as [`ProxyAuthKind::name`] writes it), if any.
    pub fn from_name(name: &str) -> Option<ProxyAuthKind> {
        Self::ALL.into_iter().find(|kind| kind.name() == name)
    }
}

/// Who resolves destination names through a SOCKS5 proxy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SocksResolve {
    /// The proxy (`socks5h://`, `curl --socks5-hostname`): the client sends the name.
    #[default]
    Proxy,
    /// The client (`socks5://`, `curl --socks5`): it resolves the name and sends an address.
    Client,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            proxy: ProxySetting::Direct,
            proxy_credentials: None,
            proxy_auth: ProxyAuthKind::Basic,
            trust: Vec::new(),
            intermediates: Vec::new(),
            expected_issuers: Vec::new(),
            client_cert: None,
            connect_to: Vec::new(),
            dns_server: None,
            connect_timeout: Duration::from_secs(2),
            io_timeout: Duration::from_secs(5),
            tls_versions: TlsVersions::Both,
        }
    }
}

/// How the client finds its proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProxySetting {
    /// No proxy.
    Direct,
    /// An explicit proxy URL: `http://host:port`, `https://host:port`, `socks5://host:port` or
    /// `socks5h://host:port`.
    Url(String),
    /// A PAC file at this URL.
    Pac(String),
    /// WPAD: look up `wpad.<suffix>`, fetch `http://wpad.<suffix>/wpad.dat`, evaluate it.
    Wpad {
        /// The client's DNS suffix.
        suffix: String,
    },
}

/// A client certificate with its key.
#[derive(Debug)]
pub struct ClientCertificate {
    /// Leaf first.
    pub chain: Vec<CertificateDer<'static>>,
    /// The leaf's private key.
    pub key: PrivateKeyDer<'static>,
}

/// One curl-style `--connect-to` override.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectTo {
    /// Host name the client uses.
    pub host: String,
    /// Port the client uses.
    pub port: u16,
    /// Where the connection really goes.
    pub address: SocketAddr,
}

/// Something the client tries; each probe runs the checks that apply to it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Probe {
    /// An HTTPS (or HTTP) URL through the configured path: name, port, proxy, TLS, chain, answer.
    Url {
        /// The URL.
        url: String,
    },
    /// The URL probe several times in a row, each on a fresh connection: outcomes that change
    /// from one attempt to the next are reported as intermittent, with the share that failed.
    Repeat {
        /// The URL.
        url: String,
        /// How many attempts (1 to 32).
        attempts: u32,
    },
    /// A bare TCP port test (open / refused / filtered / reset).
    Tcp {
        /// Host name or address.
        host: String,
        /// Port.
        port: u16,
    },
    /// The connector's whole required-endpoint matrix (every URL and port of the proxy article).
    ConnectorEndpoints,
    /// CRL/OCSP URLs on port 80.
    Revocation {
        /// The URLs.
        urls: Vec<String>,
    },
    /// The internal back-end application and its time-outs.
    Backend {
        /// The application's internal URL.
        url: String,
        /// The connector's default back-end time-out.
        default_timeout: Duration,
        /// The "long" back-end time-out.
        long_timeout: Duration,
    },
    /// IKE on UDP 500 and 4500.
    Ike {
        /// The VPN server's name.
        host: String,
        /// Port overrides for the IKE ports, as (port clients use, real address).
        ports: Vec<(u16, SocketAddr)>,
    },
    /// The VPN server's certificate as an SSTP server presents it on TLS 443.
    VpnServer {
        /// The name the client's profile uses for the server.
        host: String,
    },
    /// The messaging service: its direct TCP ports ([`crate::check::SERVICEBUS_DIRECT_PORTS`])
    /// and HTTPS 443; blocked direct ports with a working 443 are a warning (the HTTPS fallback).
    ServiceBus {
        /// The Service Bus name (`<namespace>.servicebus.windows.net`).
        host: String,
    },
    /// The client machine certificate for IKE, from a folder of certificates.
    MachineCertificate {
        /// Folder of PEM/DER/PFX files.
        store: PathBuf,
    },
    /// An artifact file: .exe.config, netsh output, TrustSettings.xml, event text, NPS log, VPN profile.
    Artifact {
        /// Which reader applies.
        kind: ArtifactKind,
        /// The file.
        path: PathBuf,
        /// A certificate folder the artifact refers to (TrustSettings.xml, VPN profile), if any.
        store: Option<PathBuf>,
    },
}

/// The artifact readers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArtifactKind {
    /// The connector service's `.exe.config` (defaultProxy).
    ServiceConfig,
    /// `netsh winhttp show proxy` output.
    NetshWinhttp,
    /// `TrustSettings.xml`.
    TrustSettings,
    /// Connector event-log error text.
    EventLog,
    /// NPS accounting log (comma-separated, no header).
    NpsLog,
    /// VPN ProfileXML.
    VpnProfile,
}
