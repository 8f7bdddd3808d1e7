//! The parts a generated scenario is composed of: the client's path, the one injected root cause, and
//! decoys that must not change the verdict.
//!
//! Parts are plain data so proptest can shrink them: decoys are a `Vec` (shrinking removes them), the
//! cause an `Option` (shrinking tries the healthy twin).

use serde::Serialize;

/// How the simulated client reaches its destinations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClientPath {
    /// No proxy.
    Direct,
    /// One plain HTTP forward proxy (`corp`).
    Proxy,
    /// One proxy reached over TLS (`https://`).
    HttpsProxy,
    /// `corp` chaining every request through a parent proxy.
    Chain,
    /// A PAC file (served by the lab) naming `corp`.
    Pac,
}

impl ClientPath {
    /// Whether the client's traffic goes through a proxy.
    pub fn uses_proxy(self) -> bool {
        !matches!(self, ClientPath::Direct)
    }
}

/// The one root cause injected into a scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Cause {
    /// The target's certificate is expired.
    Expired,
    /// The target's certificate is not yet valid.
    NotYetValid,
    /// The target's certificate names another host.
    WrongHost,
    /// The target's certificate is self-signed.
    SelfSigned,
    /// The target's certificate is revoked (the lab serves the CRL and OCSP).
    Revoked,
    /// The target's chain ends in a root the client does not trust.
    UntrustedRoot,
    /// The target requires a client certificate the client does not have.
    ClientCertMissing,
    /// The target speaks only TLS 1.2, the client only TLS 1.3.
    ServerTls12Only,
    /// The target speaks only TLS 1.3, the client only TLS 1.2.
    ServerTls13Only,
    /// The target is an internal application slower than the default back-end time-out.
    SlowBackend,
    /// A firewall drops SYNs to the target (direct path).
    FirewallDrop,
    /// A firewall rejects connections to the target (direct path).
    FirewallReject,
    /// A middlebox resets TLS 1.2+ handshakes to the target (direct path).
    KillTls12,
    /// The target's name does not resolve (direct path).
    Nxdomain,
    /// The client's proxy demands authentication the client cannot give.
    ProxyAuth,
    /// A proxy rule denies the target (at the parent when `at_parent`).
    ProxyDeny {
        /// The rule sits on the parent proxy of a chain.
        at_parent: bool,
    },
    /// A proxy answers every request with 502 (at the parent when `at_parent`).
    ProxyStatus502 {
        /// The fault sits on the parent proxy of a chain.
        at_parent: bool,
    },
    /// A firewall rejects the proxies' connections to the target, so the proxy answers 502/503.
    UpstreamRejected,
    /// The target has only an AAAA record and the client's proxy has no IPv6 path: it answers
    /// 503 ERR_CONNECT_FAIL 101 (Network is unreachable).
    ProxyNoIpv6Path,
    /// The parent proxy of a chain is down.
    ParentDown,
    /// The client's proxy address refuses connections.
    ProxyDown,
    /// The client's proxy answers with bytes that are not HTTP.
    ProxyGarbage,
    /// The client's proxy closes right after reading CONNECT.
    ProxyClosed,
    /// The client's proxy intercepts TLS with its own CA, which the client does not trust.
    Intercept,
    /// The client trusts the inspection CA, but the target wants a client certificate, which cannot cross
    /// the interception.
    ClientCertLost,
    /// The client's proxy waits longer than the client's I/O time-out before answering CONNECT.
    ProxySlow,
    /// The CRL and OCSP hosts on port 80 are dropped by a firewall (direct path).
    Port80Blocked,
    /// A middlebox kills TLS 1.2 handshakes that carry a SHA-512-signed client certificate (direct path).
    Sha512Blocked,
    /// The service's `.exe.config` disables the proxy (`defaultProxy enabled="false"`) while the firewall
    /// lets only the proxy out.
    ExeConfigBypass,
    /// `netsh winhttp` sets another proxy than the service's `.exe.config`, and wins (one-proxy path).
    NetshOverride,
    /// `TrustSettings.xml` names a thumbprint that is not in the machine's personal store.
    TrustSettingsMismatch,
    /// The NPS log shows error 812: the server wants another authentication method than the profile's.
    NpsAuthMismatch,
    /// The VPN ProfileXML lacks the Conditional Access EKU filter (TLSExtensions).
    ProfileMissingEku,
    /// The machine store holds no valid IKE machine certificate (only an expired one).
    MachineCertMissing,
    /// UDP 500/4500 to the VPN server are silently dropped.
    IkeBlocked,
    /// The VPN server's certificate is expired.
    VpnExpired,
    /// The VPN server's certificate names another host.
    VpnWrongHost,
    /// The VPN server's certificate lacks Server Authentication.
    VpnNoServerAuth,
    /// The VPN server's certificate chains to an untrusted root.
    VpnUntrustedRoot,
    /// The target sends its leaf without the intermediate certificate.
    IncompleteChain,
    /// A bandwidth toxic on the target lets a few KB/s through: it answers, far too slowly.
    SlowPath,
    /// The VPN server's name does not resolve and nothing answers IKE.
    VpnServerUnreachable,
    /// The proxy tunnels only to port 443 (Squid's default `Safe_ports`/`SSL_ports`), so CONNECT to a
    /// revocation host on port 80 is refused.
    ProxyPort80Refused,
    /// The client's proxy demands NTLM and the client answers the challenge with a wrong password.
    ProxyWrongPassword,
    /// Something in front of the NTLM proxy closes the connection right after the challenge, so the
    /// client's (right) answer never reaches the proxy that issued it.
    ProxyChallengeLost,
    /// The client's proxy speaks SOCKS5 and demands username/password; the client has none.
    SocksAuthRequired,
    /// The client's SOCKS5 proxy refuses the client's user name and password (RFC 1929).
    SocksWrongPassword,
    /// The client's SOCKS5 proxy's rules deny the target (reply 0x02).
    SocksDenied,
    /// The target's name resolves only at the client's SOCKS5 proxy, and the client resolves names
    /// itself (socks5, not socks5h).
    SocksLocalDns,
    /// The client's proxy resets a share of its tunnels (a seeded `reset_peer` toxic), the others work.
    ProxyFlapping,
    /// A firewall refuses the Microsoft sign-in host while the target answers (direct path).
    SigninUnreachable,
    /// The connector's event log says registration failed on the network.
    EventNetworkError,
    /// The event log holds registration error AADSTS50059 (no tenant-identifying information).
    EventAadsts50059,
    /// The event log says the registration request was denied (not an Application Administrator).
    EventDenied,
    /// The event log says the connector could not reach the service.
    EventServiceUnreachable,
    /// The event log says the connector's trust certificate expired.
    EventTrustCertExpired,
}

impl Cause {
    /// Whether the cause concerns the VPN server (and so needs one in the topology).
    pub fn is_vpn(self) -> bool {
        matches!(
            self,
            Cause::IkeBlocked
                | Cause::VpnExpired
                | Cause::VpnWrongHost
                | Cause::VpnNoServerAuth
                | Cause::VpnUntrustedRoot
                | Cause::NpsAuthMismatch
                | Cause::ProfileMissingEku
                | Cause::MachineCertMissing
                | Cause::VpnServerUnreachable
        )
    }

    /// Whether the cause makes the client's proxy a SOCKS5 one.
    pub fn is_socks(self) -> bool {
        matches!(
            self,
            Cause::SocksAuthRequired
                | Cause::SocksWrongPassword
                | Cause::SocksDenied
                | Cause::SocksLocalDns
        )
    }

    /// The cause's name in scores and JSON (kebab case, with `@parent` for a fault on a chain's parent).
    pub fn name(self) -> String {
        let (base, at_parent) = match self {
            Cause::ProxyDeny { at_parent } => ("proxy-deny".to_owned(), at_parent),
            Cause::ProxyStatus502 { at_parent } => ("proxy-status502".to_owned(), at_parent),
            other => (
                serde_json::to_value(other)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_else(|| format!("{other:?}")),
                false,
            ),
        };
        if at_parent {
            format!("{base}@parent")
        } else {
            base
        }
    }
}

/// A healthy certificate profile for decoy endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum HealthyProfile {
    /// `valid`.
    Valid,
    /// `sha256` (ECDSA P-256).
    Sha256,
    /// `sha384` (ECDSA P-384).
    Sha384,
    /// `sha512-rsa`.
    Sha512Rsa,
    /// `long-chain`.
    LongChain,
}

impl HealthyProfile {
    /// The certificate profile name.
    pub fn name(self) -> &'static str {
        match self {
            HealthyProfile::Valid => "valid",
            HealthyProfile::Sha256 => "sha256",
            HealthyProfile::Sha384 => "sha384",
            HealthyProfile::Sha512Rsa => "sha512-rsa",
            HealthyProfile::LongChain => "long-chain",
        }
    }
}

/// A firewall action used by decoy rules on hosts nobody probes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum DecoyAction {
    /// `drop`.
    Drop,
    /// `reject`.
    Reject,
    /// `hang`.
    Hang,
    /// `kill-tls12`.
    KillTls12,
}

/// Something added to the topology that must not change the verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Decoy {
    /// Another HTTPS endpoint, probed, with a healthy certificate.
    Site {
        /// Its certificate profile.
        profile: HealthyProfile,
        /// The endpoint speaks only TLS 1.2 (the client speaks both unless the cause limits it).
        tls12_only: bool,
    },
    /// A plain HTTP endpoint on port 80, probed.
    PlainSite,
    /// An internal application answering fast, probed with the back-end probe.
    FastBackend,
    /// An HTTPS endpoint that requires a client certificate, which the client has (unless the cause is
    /// the missing client certificate).
    MtlsSite,
    /// A firewall `allow` rule for the target, after any blocking rule.
    AllowRule,
    /// A blocking firewall rule for a host nobody probes.
    UnrelatedFirewall(DecoyAction),
    /// A proxy `allow` rule for the target, after any deny rule (proxy paths).
    ProxyAllowRule,
    /// The proxy demands Basic authentication and the client has the credentials (proxy paths).
    ProxyAuthOk,
    /// A healthy VPN server (IKE responder and a valid certificate), probed.
    Vpn,
    /// A proxy the client does not use, down.
    SpareProxy,
    /// The lab DNS server runs and answers NXDOMAIN for a name nobody probes.
    DnsNoise,
}

/// One generated scenario: what the generator chose, from which the ground truth follows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Case {
    /// How the client reaches its destinations.
    pub path: ClientPath,
    /// The injected root cause; `None` is a healthy case.
    pub cause: Option<Cause>,
    /// The target's host label (under `egresslab.test`).
    pub target: &'static str,
    /// The target's port (TLS targets).
    pub port: u16,
    /// The proxy personality (`squid` or `generic`), when a proxy is used.
    pub squid: bool,
    /// Schemes offered when the cause is proxy authentication (at least one).
    pub auth_schemes: Vec<&'static str>,
    /// The decoys.
    pub decoys: Vec<Decoy>,
}

impl Case {
    /// The target's full host name.
    pub fn target_host(&self) -> String {
        format!("{}.egresslab.test", self.target)
    }

    /// Whether the topology has a decoy of this kind.
    pub fn has(&self, decoy: Decoy) -> bool {
        self.decoys.contains(&decoy)
    }
}
