//! The ground truth of a generated case, derived from its construction alone (never from running the
//! checks): the one diagnosis code the injected root cause must produce, or `healthy`, and the codes
//! that cause implies in that topology (which a verdict may name without being wrong).

use super::case::{Case, Cause, ClientPath, Decoy};

/// The label of a case without a root cause (and of a verdict without an error-level code).
pub const HEALTHY: &str = "healthy";

/// The diagnosis code (from harness/check/diagnoses.toml) that `cause` must produce on `path`.
pub fn code_of(cause: Cause, path: ClientPath) -> &'static str {
    match cause {
        Cause::Expired => "pki.expired",
        Cause::NotYetValid => "pki.not_yet_valid",
        Cause::WrongHost => "pki.name_mismatch",
        Cause::SelfSigned => "pki.self_signed",
        Cause::Revoked => "pki.revoked",
        Cause::UntrustedRoot => "pki.untrusted_root",
        Cause::ClientCertMissing => "tls.client_cert.required_missing",
        Cause::ServerTls12Only | Cause::ServerTls13Only => "tls.version.mismatch",
        Cause::SlowBackend => "app.backend_timeout",
        Cause::FirewallDrop => "net.tcp.filtered",
        Cause::FirewallReject => "net.tcp.refused",
        Cause::KillTls12 => "tls.version.tls12_blocked",
        Cause::Nxdomain => "net.dns.nxdomain",
        Cause::ProxyAuth => "proxy.auth_required",
        Cause::ProxyDeny { .. } => "proxy.denied",
        Cause::ProxyNoIpv6Path => "proxy.no_ipv6_path",
        Cause::ProxyStatus502 { .. } | Cause::UpstreamRejected | Cause::ParentDown => {
            "proxy.bad_gateway"
        }
        Cause::ProxyDown if path == ClientPath::Pac => "proxy.pac.dead_proxy",
        Cause::ProxyDown => "proxy.unreachable",
        Cause::ProxyGarbage => "proxy.garbage",
        Cause::ProxyClosed => "proxy.closed",
        Cause::Intercept => "tls.intercepted",
        Cause::ClientCertLost => "tls.client_cert.lost_through_interception",
        Cause::ProxySlow => "proxy.slow",
        Cause::Port80Blocked => "revocation.unreachable",
        Cause::Sha512Blocked => "tls.sha512_blocked",
        Cause::ExeConfigBypass => "config.proxy_disabled",
        Cause::NetshOverride => "config.netsh_overrides",
        Cause::TrustSettingsMismatch => "config.trust.thumbprint_missing",
        Cause::NpsAuthMismatch => "vpn.auth_mismatch",
        Cause::ProfileMissingEku => "vpn.conditional_access.profile_missing_eku",
        Cause::MachineCertMissing => "vpn.machine_cert_missing",
        Cause::IkeBlocked => "vpn.ike_blocked",
        Cause::VpnExpired => "vpn.server_cert.expired",
        Cause::VpnWrongHost => "vpn.server_cert.name_mismatch",
        Cause::VpnNoServerAuth => "vpn.server_cert.no_server_auth",
        Cause::VpnUntrustedRoot => "vpn.server_cert.untrusted_root",
        Cause::IncompleteChain => "pki.incomplete_chain",
        Cause::SlowPath => "net.slow_path",
        Cause::VpnServerUnreachable => "vpn.server_unreachable",
        Cause::ProxyPort80Refused => "proxy.port80_refused",
        Cause::ProxyFlapping => "proxy.flapping",
        Cause::ProxyWrongPassword => "proxy.auth_rejected",
        Cause::ProxyChallengeLost => "proxy.auth_challenge_lost",
        Cause::SocksAuthRequired => "proxy.socks.auth_required",
        Cause::SocksWrongPassword => "proxy.socks.auth_failed",
        Cause::SocksDenied => "proxy.socks.denied",
        Cause::SocksLocalDns => "proxy.socks.local_dns_failed",
        Cause::SigninUnreachable => "connector.signin_unreachable",
        Cause::EventNetworkError => "event.registration.network_error",
        Cause::EventAadsts50059 => "event.registration.aadsts50059",
        Cause::EventDenied => "event.registration.denied",
        Cause::EventServiceUnreachable => "event.service_unreachable",
        Cause::EventTrustCertExpired => "event.trust_cert_expired",
    }
}

/// Every code some generated case has as its ground truth, sorted: the codes a verdict is scored on
/// besides the error-level ones (two causes, a disabled proxy and a netsh override, are warnings in the
/// taxonomy, yet the one root cause of their case).
pub fn truth_codes() -> Vec<&'static str> {
    let mut codes: Vec<&'static str> = super::strategy::CAUSES
        .iter()
        .flat_map(|c| super::strategy::PATHS.iter().map(|p| code_of(*c, *p)))
        .collect();
    codes.sort_unstable();
    codes.dedup();
    codes
}

/// The ground truth of `case`: its cause's code, or [`HEALTHY`].
///
/// The truth is what a client can observe: a parent's refusal reaches the client as the parent's 403
/// only through a Squid-personality proxy (Squid 5.7 relays it); a generic proxy answers 502 itself.
pub fn truth(case: &Case) -> &'static str {
    match case.cause {
        None => HEALTHY,
        Some(Cause::ProxyDeny { at_parent: true }) if !case.squid => "proxy.bad_gateway",
        Some(cause) => code_of(cause, case.path),
    }
}

/// The codes `case`'s root cause implies besides its truth: the consequences a careful diagnoser also
/// reports, so naming them is not a false positive (and not naming them is no miss).
///
/// - a cause that takes the whole proxy path down also makes a probed internal application unreachable
///   (`app.unreachable`);
/// - a disabled proxy behind a firewall that lets only the proxy out filters every connection the client
///   makes (`net.tcp.filtered`);
/// - the dead proxy a PAC file names is an unreachable proxy (`proxy.unreachable`);
/// - a client certificate lost through interception is seen because the connection is intercepted
///   (`tls.intercepted`);
/// - a proxy refusing CONNECT to port 80 denies that destination (`proxy.denied`); a refused sign-in
///   host is a refused port (`net.tcp.refused`); an unresolvable VPN server is a name that does not
///   resolve (`net.dns.nxdomain`);
/// - an intercepting proxy also intercepts the connections to other probed HTTPS endpoints, so an mTLS
///   endpoint loses the client certificate too.
pub fn implied(case: &Case) -> Vec<&'static str> {
    let Some(cause) = case.cause else {
        return Vec::new();
    };
    let mut codes = Vec::new();
    let backend = case.has(Decoy::FastBackend);
    let path_down = matches!(
        cause,
        Cause::ProxyAuth
            | Cause::ProxyStatus502 { .. }
            | Cause::ParentDown
            | Cause::ProxyDown
            | Cause::ProxyGarbage
            | Cause::ProxyClosed
            | Cause::ProxySlow
            | Cause::ProxyWrongPassword
            | Cause::ProxyChallengeLost
            | Cause::SocksAuthRequired
            | Cause::SocksWrongPassword
    );
    if path_down && backend {
        codes.push("app.unreachable");
    }
    match cause {
        Cause::ExeConfigBypass => codes.push("net.tcp.filtered"),
        Cause::ClientCertLost => codes.push("tls.intercepted"),
        Cause::ProxyDown if case.path == ClientPath::Pac => codes.push("proxy.unreachable"),
        // Refusing CONNECT to port 80 is a denial of that destination by the proxy.
        Cause::ProxyPort80Refused => codes.push("proxy.denied"),
        // The sign-in host is unreachable because its port refuses.
        Cause::SigninUnreachable => codes.push("net.tcp.refused"),
        // The VPN server is unreachable because its name does not resolve.
        Cause::VpnServerUnreachable => codes.push("net.dns.nxdomain"),
        // The client's own resolver answers NXDOMAIN for the name only the proxy knows.
        Cause::SocksLocalDns => codes.push("net.dns.nxdomain"),
        Cause::Intercept if case.has(Decoy::MtlsSite) => {
            codes.push("tls.client_cert.lost_through_interception")
        }
        _ => {}
    }
    codes
}

/// Whether `decoy` can sit beside `cause` without changing the verdict: a decoy that needs the client
/// certificate cannot sit beside a cause that gives the client another one, and a healthy VPN or
/// internal application cannot sit behind a firewall that lets nothing but the proxy out.
pub fn decoy_fits(cause: Option<Cause>, decoy: Decoy) -> bool {
    // A SOCKS5 proxy takes no HTTP authentication; a client resolving names itself sends the
    // decoys' addresses, which the target's name rules do not describe: that cause stands alone.
    match cause {
        Some(Cause::SocksLocalDns) => return false,
        Some(cause) if cause.is_socks() && decoy == Decoy::ProxyAuthOk => return false,
        _ => {}
    }
    !matches!(
        (cause, decoy),
        (
            Some(
                Cause::Sha512Blocked
                    | Cause::ClientCertLost
                    | Cause::TrustSettingsMismatch
                    | Cause::ProfileMissingEku,
            ),
            Decoy::MtlsSite,
        ) | (
            Some(Cause::ExeConfigBypass),
            Decoy::Vpn | Decoy::FastBackend
        ) | (
            // The client has one set of proxy credentials: the cause's.
            Some(Cause::ProxyWrongPassword | Cause::ProxyChallengeLost),
            Decoy::ProxyAuthOk
        ) | (
            // Every probed connection through a flapping proxy may be reset, not only the target's.
            Some(Cause::ProxyFlapping),
            Decoy::Site { .. }
                | Decoy::PlainSite
                | Decoy::FastBackend
                | Decoy::MtlsSite
                | Decoy::Vpn
        ) | (
            // The internal application listens on port 80, which such a proxy will not tunnel to.
            Some(Cause::ProxyPort80Refused),
            Decoy::FastBackend | Decoy::PlainSite
        )
    )
}

/// Whether `cause` can be injected on `path` so that it is the one root cause.
pub fn fits(cause: Cause, path: ClientPath) -> bool {
    match cause {
        Cause::FirewallDrop
        | Cause::FirewallReject
        | Cause::KillTls12
        | Cause::Nxdomain
        | Cause::Port80Blocked
        | Cause::Sha512Blocked
        | Cause::SigninUnreachable
        | Cause::ExeConfigBypass => path == ClientPath::Direct,
        Cause::SlowPath => matches!(path, ClientPath::Direct | ClientPath::Proxy),
        // The client's own proxy must reach the origin: on a chain its parent does.
        Cause::ProxyPort80Refused | Cause::ProxyFlapping | Cause::ProxyNoIpv6Path => {
            path == ClientPath::Proxy
        }
        Cause::SocksAuthRequired
        | Cause::SocksWrongPassword
        | Cause::SocksDenied
        | Cause::SocksLocalDns => path == ClientPath::Proxy,
        Cause::NetshOverride => path == ClientPath::Proxy,
        Cause::ProxyAuth
        | Cause::ProxyDeny { at_parent: false }
        | Cause::ProxyStatus502 { at_parent: false }
        | Cause::UpstreamRejected
        | Cause::ProxyDown
        | Cause::ProxyGarbage
        | Cause::ProxyClosed
        | Cause::ProxySlow
        | Cause::ProxyWrongPassword
        | Cause::ProxyChallengeLost
        | Cause::ClientCertLost
        | Cause::Intercept => path.uses_proxy(),
        Cause::ProxyDeny { at_parent: true }
        | Cause::ProxyStatus502 { at_parent: true }
        | Cause::ParentDown => path == ClientPath::Chain,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::taxonomy::lookup;

    #[test]
    fn every_truth_code_is_an_error_or_warning_of_the_taxonomy() {
        for code in truth_codes() {
            let entry = lookup(code).unwrap_or_else(|| panic!("{code} is not in the taxonomy"));
            assert!(
                matches!(
                    entry.severity,
                    crate::check::Severity::Error | crate::check::Severity::Warning
                ),
                "{code}"
            );
        }
        assert!(truth_codes().contains(&"config.netsh_overrides"));
    }

    #[test]
    fn every_truth_is_an_error_code_of_the_taxonomy() {
        let causes = [
            Cause::Expired,
            Cause::Revoked,
            Cause::ClientCertMissing,
            Cause::ServerTls13Only,
            Cause::SlowBackend,
            Cause::FirewallDrop,
            Cause::Nxdomain,
            Cause::ProxyDeny { at_parent: true },
            Cause::ParentDown,
            Cause::ProxyDown,
            Cause::Intercept,
            Cause::VpnUntrustedRoot,
        ];
        for cause in causes {
            for path in [ClientPath::Direct, ClientPath::Chain, ClientPath::Pac] {
                let code = code_of(cause, path);
                let entry = lookup(code).unwrap_or_else(|| panic!("{code} is not in the taxonomy"));
                assert_eq!(entry.severity, crate::check::Severity::Error, "{code}");
            }
        }
    }

    #[test]
    fn a_parents_refusal_is_seen_as_denied_only_through_squid() {
        let mut case = Case {
            path: ClientPath::Chain,
            cause: Some(Cause::ProxyDeny { at_parent: true }),
            target: "site",
            port: 443,
            squid: true,
            auth_schemes: vec!["basic"],
            decoys: Vec::new(),
        };
        assert_eq!(truth(&case), "proxy.denied");
        case.squid = false;
        assert_eq!(truth(&case), "proxy.bad_gateway");
        case.cause = None;
        assert_eq!(truth(&case), HEALTHY);
    }

    #[test]
    fn network_causes_need_the_direct_path_and_parent_faults_a_chain() {
        assert!(fits(Cause::FirewallDrop, ClientPath::Direct));
        assert!(!fits(Cause::FirewallDrop, ClientPath::Proxy));
        assert!(!fits(Cause::ProxyAuth, ClientPath::Direct));
        assert!(fits(Cause::ParentDown, ClientPath::Chain));
        assert!(!fits(Cause::ParentDown, ClientPath::HttpsProxy));
        assert!(fits(Cause::Expired, ClientPath::Pac));
    }
}
