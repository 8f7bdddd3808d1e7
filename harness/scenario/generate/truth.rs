//! The ground truth of a generated case, derived from its construction alone (never from running the
//! checks): the one diagnosis code the injected root cause must produce, or `healthy`.

use super::case::{Case, Cause, ClientPath};

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
        Cause::ProxyStatus502 { .. } | Cause::UpstreamRejected | Cause::ParentDown => {
            "proxy.bad_gateway"
        }
        Cause::ProxyDown if path == ClientPath::Pac => "proxy.pac.dead_proxy",
        Cause::ProxyDown => "proxy.unreachable",
        Cause::ProxyGarbage => "proxy.garbage",
        Cause::ProxyClosed => "proxy.closed",
        Cause::Intercept => "tls.intercepted",
        Cause::IkeBlocked => "vpn.ike_blocked",
        Cause::VpnExpired => "vpn.server_cert.expired",
        Cause::VpnWrongHost => "vpn.server_cert.name_mismatch",
        Cause::VpnNoServerAuth => "vpn.server_cert.no_server_auth",
        Cause::VpnUntrustedRoot => "vpn.server_cert.untrusted_root",
    }
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

/// Whether `cause` can be injected on `path` so that it is the one root cause.
pub fn fits(cause: Cause, path: ClientPath) -> bool {
    match cause {
        Cause::FirewallDrop | Cause::FirewallReject | Cause::KillTls12 | Cause::Nxdomain => {
            path == ClientPath::Direct
        }
        Cause::ProxyAuth
        | Cause::ProxyDeny { at_parent: false }
        | Cause::ProxyStatus502 { at_parent: false }
        | Cause::UpstreamRejected
        | Cause::ProxyDown
        | Cause::ProxyGarbage
        | Cause::ProxyClosed
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
