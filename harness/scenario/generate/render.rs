//! A [`Case`] written as a scenario file: real TOML that `load_str` reads and `egresslab run` replays,
//! with the ground truth as its `[expect]`.

use std::fmt::Write as _;

use super::case::{Case, Cause, ClientPath, Decoy, DecoyAction};
use super::truth::{truth, HEALTHY};

/// The default back-end time-out of generated back-end probes, in milliseconds.
pub const BACKEND_DEFAULT_MS: u64 = 500;
/// The long back-end time-out of generated back-end probes, in milliseconds.
pub const BACKEND_LONG_MS: u64 = 2_500;
/// How long the slow back-end takes to answer: between the two time-outs, with margin on both sides.
pub const BACKEND_SLOW_MS: u64 = 1_000;
/// The generated client's TCP connect time-out, in milliseconds: a refused connection is answered at
/// once on loopback, so anything still unanswered after this long is filtered.
pub const CONNECT_TIMEOUT_MS: u64 = 300;
/// The generated client's time-out for one handshake or answer, in milliseconds.
pub const IO_TIMEOUT_MS: u64 = 1_500;
/// How long the slow proxy waits before answering CONNECT: twice the client's I/O time-out.
pub const PROXY_SLOW_MS: u64 = 2 * IO_TIMEOUT_MS;
/// Roughly how long a case with this root cause waits on time-outs, in milliseconds: the scoring run
/// starts the cases that wait longest first, so that no slow case is left to run alone at the end.
pub fn expected_wait_ms(cause: Option<Cause>) -> u64 {
    match cause {
        Some(Cause::ProxySlow) => IO_TIMEOUT_MS,
        Some(Cause::SlowBackend) => BACKEND_SLOW_MS,
        // Four unanswered retransmissions per IKE port, at half the connect time-out each.
        Some(Cause::IkeBlocked) => 4 * CONNECT_TIMEOUT_MS,
        Some(Cause::SlowPath) => IO_TIMEOUT_MS,
        Some(Cause::FirewallDrop | Cause::Port80Blocked | Cause::ExeConfigBypass) => {
            CONNECT_TIMEOUT_MS
        }
        _ => 0,
    }
}
const VPN_HOST: &str = "vpn.egresslab.test";
/// The NTLM user of the NTLM causes (domain and user, as Windows writes them) and its password.
const NTLM_USER: &str = "CORP\\alice";
const NTLM_PASSWORD: &str = "Summer2026!";
/// Tunnels the flapping-proxy cause asks for, one after the other.
const FLAPPING_ATTEMPTS: u32 = 8;
/// The Microsoft sign-in host of the sign-in cause.
const SIGNIN_HOST: &str = "login.microsoftonline.com";
/// The throttled target's body: long enough for the checks to time it (4 000 bytes or more).
const SLOW_PATH_BODY_BYTES: u64 = 5_500;
/// The throttled target's rate in KB/s: the body takes longer than the client's I/O time-out, so
/// the checks give up on it after [`IO_TIMEOUT_MS`] with the rate measured.
const SLOW_PATH_KBPS: u64 = 4;
/// A thumbprint no generated certificate has (for the TrustSettings cause).
const FOREIGN_THUMBPRINT: &str = "4905CC64B2D81BBED60962ECC5DCF63F643CCD55";
/// Two NPS accounting rows for error 812: the server's policy wants certificates, the profile sends
/// EAP-MSCHAPv2 (reason code 66).
const NPS_812_ROWS: [&str; 2] = [
    r#""NPS01","IAS",01/15/2025,09:12:44,1,"CORP\alice","corp.egresslab.test/Users/alice","vpn.egresslab.test","192.0.2.10",,,"VPN01","10.0.0.5",,,"10.0.0.5","VPN01",,,5,,1,2,5,"Always On VPN",0,,,,,"Microsoft: Secured password (EAP-MSCHAP v2)",,,,,,,,,,,,,,7,1,,,,,,,,,,311,,,,,,1,,,,"#,
    r#""NPS01","IAS",01/15/2025,09:12:44,3,"CORP\alice","corp.egresslab.test/Users/alice","vpn.egresslab.test","192.0.2.10",,,"VPN01","10.0.0.5",,,"10.0.0.5","VPN01",,,5,,1,2,5,"Always On VPN",66,,,,,"Microsoft: Secured password (EAP-MSCHAP v2)",,,,,,,,,,,,,,7,1,,,,,,,,,,311,,,,,,1,,,,"#,
];

fn target_profile(cause: Option<Cause>) -> &'static str {
    match cause {
        Some(Cause::Expired) => "expired",
        Some(Cause::NotYetValid) => "not-yet-valid",
        Some(Cause::WrongHost) => "wrong-host",
        Some(Cause::SelfSigned) => "self-signed",
        Some(Cause::Revoked) => "revoked",
        Some(Cause::UntrustedRoot) => "untrusted-root",
        Some(Cause::IncompleteChain) => "incomplete-chain",
        _ => "valid",
    }
}

fn vpn_profile(cause: Option<Cause>) -> &'static str {
    match cause {
        Some(Cause::VpnExpired) => "expired",
        Some(Cause::VpnWrongHost) => "wrong-host",
        Some(Cause::VpnNoServerAuth) => "no-server-auth",
        Some(Cause::VpnUntrustedRoot) => "untrusted-root",
        _ => "valid",
    }
}

fn action_name(action: DecoyAction) -> &'static str {
    match action {
        DecoyAction::Drop => "drop",
        DecoyAction::Reject => "reject",
        DecoyAction::Hang => "hang",
        DecoyAction::KillTls12 => "kill-tls12",
    }
}

fn https_url(host: &str, port: u16) -> String {
    if port == 443 {
        format!("https://{host}/")
    } else {
        format!("https://{host}:{port}/")
    }
}

fn backend_probe(url: &str, default_ms: u64) -> String {
    format!("{{ backend = {{ url = \"{url}\", default_timeout_ms = {default_ms}, long_timeout_ms = {BACKEND_LONG_MS} }} }}")
}

fn endpoint(out: &mut String, name: &str, host: &str, port: u16, extra: &str) {
    let _ = write!(
        out,
        "[[endpoint]]\nname = \"{name}\"\nhosts = [\"{host}\"]\nport = {port}\n{extra}\n"
    );
}

/// Write the endpoints and return the probes, target first.
fn endpoints(case: &Case, out: &mut String) -> Vec<String> {
    let host = case.target_host();
    let mut probes = Vec::new();
    if case.cause == Some(Cause::SlowBackend) {
        let extra = format!("http = {{ status = 200, body = \"slow but fine\\n\", delay_ms = {BACKEND_SLOW_MS} }}\n");
        endpoint(out, "target", &host, 80, &extra);
        probes.push(backend_probe(
            &format!("http://{host}/"),
            BACKEND_DEFAULT_MS,
        ));
    } else {
        let versions = match case.cause {
            Some(Cause::ServerTls12Only) => ", versions = \"tls12-only\"",
            Some(Cause::ServerTls13Only) => ", versions = \"tls13-only\"",
            _ => "",
        };
        let versions = match case.cause {
            Some(Cause::Sha512Blocked) => ", versions = \"tls12-only\"",
            _ => versions,
        };
        let client_auth = match case.cause {
            Some(Cause::ClientCertMissing) => ", client_auth = \"lab\"",
            Some(Cause::Sha512Blocked | Cause::ClientCertLost) => {
                ", client_auth = \"connector-registration\""
            }
            _ => "",
        };
        let mut extra = format!(
            "tls = {{ profile = \"{}\"{versions}{client_auth} }}\n",
            target_profile(case.cause)
        );
        if case.cause == Some(Cause::ProxyNoIpv6Path) {
            extra.push_str("families = [\"v6\"]\n");
        }
        if case.cause == Some(Cause::SlowPath) {
            let _ = writeln!(
                extra,
                "http = {{ body = \"throttled\\n\", body_bytes = {SLOW_PATH_BODY_BYTES} }}"
            );
        }
        endpoint(out, "target", &host, case.port, &extra);
        let url = https_url(&host, case.port);
        if case.cause == Some(Cause::ProxyFlapping) {
            probes.push(format!(
                "{{ repeat = {{ url = \"{url}\", attempts = {FLAPPING_ATTEMPTS} }} }}"
            ));
        } else {
            probes.push(format!("{{ url = \"{url}\" }}"));
        }
    }
    if case.cause == Some(Cause::SigninUnreachable) {
        endpoint(
            out,
            "signin",
            SIGNIN_HOST,
            443,
            "tls = { profile = \"valid\" }\n",
        );
        probes.push(format!("{{ url = \"https://{SIGNIN_HOST}/\" }}"));
    }
    if matches!(
        case.cause,
        Some(Cause::Revoked | Cause::Port80Blocked | Cause::ProxyPort80Refused)
    ) {
        out.push_str("[[endpoint]]\nname = \"revocation\"\nhosts = [\"crl.egresslab.test\", \"ocsp.egresslab.test\"]\nport = 80\nbehaviour = \"revocation\"\n\n");
    }
    if case.cause == Some(Cause::ProxyPort80Refused) {
        probes.push("{ tcp = \"crl.egresslab.test:80\" }".to_owned());
    }
    if case.cause == Some(Cause::Port80Blocked) {
        probes.push(
            "{ revocation = [\"http://crl.egresslab.test/\", \"http://ocsp.egresslab.test/\"] }"
                .to_owned(),
        );
    }
    for (i, decoy) in case.decoys.iter().enumerate() {
        match decoy {
            Decoy::Site {
                profile,
                tls12_only,
            } => {
                let host = format!("d{i}.egresslab.test");
                let versions = if *tls12_only {
                    ", versions = \"tls12-only\""
                } else {
                    ""
                };
                let extra = format!("tls = {{ profile = \"{}\"{versions} }}\n", profile.name());
                endpoint(out, &format!("d{i}"), &host, 443, &extra);
                probes.push(format!("{{ url = \"{}\" }}", https_url(&host, 443)));
            }
            Decoy::PlainSite => {
                let host = format!("p{i}.egresslab.test");
                endpoint(out, &format!("p{i}"), &host, 80, "");
                probes.push(format!("{{ url = \"http://{host}/\" }}"));
            }
            Decoy::FastBackend => {
                let host = format!("b{i}.egresslab.test");
                endpoint(out, &format!("b{i}"), &host, 80, "");
                probes.push(backend_probe(
                    &format!("http://{host}/"),
                    BACKEND_DEFAULT_MS,
                ));
            }
            Decoy::MtlsSite => {
                let host = format!("m{i}.egresslab.test");
                let extra = "tls = { profile = \"valid\", client_auth = \"lab\" }\n";
                endpoint(out, &format!("m{i}"), &host, 443, extra);
                probes.push(format!("{{ url = \"{}\" }}", https_url(&host, 443)));
            }
            _ => {}
        }
    }
    if case.path == ClientPath::Pac {
        endpoint(
            out,
            "pac",
            "pac.egresslab.test",
            80,
            "behaviour = \"pac\"\npac = { proxy = \"corp\" }\n",
        );
    }
    if case.cause == Some(Cause::VpnServerUnreachable) {
        // Nothing answers for the VPN server: its name does not resolve (see `names`), so there is
        // no IKE responder to probe either.
        probes.push(format!("{{ vpn_server = \"{VPN_HOST}\" }}"));
    } else if has_vpn(case) {
        let extra = format!("tls = {{ profile = \"{}\" }}\n", vpn_profile(case.cause));
        endpoint(out, "sstp", VPN_HOST, 443, &extra);
        probes.push(format!("{{ ike = \"{VPN_HOST}\" }}"));
        probes.push(format!("{{ vpn_server = \"{VPN_HOST}\" }}"));
        let machine = if case.cause == Some(Cause::MachineCertMissing) {
            "expired"
        } else {
            "ike-machine"
        };
        probes.push(format!("{{ machine_certificate = [\"{machine}\"] }}"));
    }
    probes
}

fn has_vpn(case: &Case) -> bool {
    case.cause.is_some_and(Cause::is_vpn) || case.has(Decoy::Vpn)
}

fn proxies(case: &Case, out: &mut String) {
    let cause = case.cause;
    if case.path.uses_proxy() {
        let mut rules = Vec::new();
        if matches!(
            cause,
            Some(Cause::ProxyDeny { at_parent: false } | Cause::SocksDenied)
        ) {
            rules.push(format!(
                "{{ hosts = \"{}\", action = \"deny\" }}",
                case.target_host()
            ));
        }
        if case.has(Decoy::ProxyAllowRule) {
            rules.push(format!(
                "{{ hosts = \"{}\", action = \"allow\" }}",
                case.target_host()
            ));
        }
        let personality = if case.squid { "squid" } else { "generic" };
        let _ = writeln!(
            out,
            "[[proxy]]\nname = \"corp\"\npersonality = \"{personality}\""
        );
        if cause == Some(Cause::ProxyPort80Refused) {
            out.push_str("squid_default_ports = true\n");
        }
        if cause.is_some_and(Cause::is_socks) {
            out.push_str("kind = \"socks5\"\n");
        }
        if matches!(
            cause,
            Some(Cause::SocksAuthRequired | Cause::SocksWrongPassword)
        ) {
            out.push_str("auth = { users = { svc = \"s3cret\" } }\n");
        }
        if !rules.is_empty() {
            rules.push("{ hosts = \"*\", action = \"allow\" }".to_owned());
            let _ = writeln!(out, "rules = [{}]", rules.join(", "));
        }
        if cause == Some(Cause::ProxyAuth) {
            let schemes: Vec<String> = case
                .auth_schemes
                .iter()
                .map(|s| format!("\"{s}\""))
                .collect();
            let _ = writeln!(
                out,
                "auth = {{ schemes = [{}], realm = \"corp\", users = {{ svc = \"s3cret\" }} }}",
                schemes.join(", ")
            );
        } else if matches!(
            cause,
            Some(Cause::ProxyWrongPassword | Cause::ProxyChallengeLost)
        ) {
            let _ = writeln!(
                out,
                "auth = {{ schemes = [\"negotiate\", \"ntlm\"], users = {{ '{NTLM_USER}' = \"{NTLM_PASSWORD}\" }} }}"
            );
        } else if case.has(Decoy::ProxyAuthOk) {
            out.push_str(
                "auth = { schemes = [\"basic\"], realm = \"corp\", users = { svc = \"s3cret\" } }\n",
            );
        }
        match cause {
            Some(Cause::ProxyGarbage) => out.push_str("fault = \"garbage\"\n"),
            Some(Cause::ProxyClosed) => out.push_str("fault = \"close-after-connect\"\n"),
            Some(Cause::ProxyChallengeLost) => out.push_str("fault = \"close-after-challenge\"\n"),
            Some(Cause::ProxyStatus502 { at_parent: false }) => {
                out.push_str("fault = { status = 502 }\n")
            }
            Some(Cause::ProxyDown) => out.push_str("down = true\n"),
            Some(Cause::ProxyNoIpv6Path) => out.push_str("families = [\"v4\"]\n"),
            Some(Cause::Intercept | Cause::ClientCertLost) => out.push_str("intercept = true\n"),
            Some(Cause::ProxySlow) => {
                let _ = writeln!(out, "fault = {{ slow_ms = {PROXY_SLOW_MS} }}");
            }
            _ => {}
        }
        match case.path {
            ClientPath::Chain => out.push_str("upstream = \"parent\"\n"),
            ClientPath::HttpsProxy => out.push_str("tls_profile = \"valid\"\n"),
            _ => {}
        }
        out.push('\n');
    }
    if case.path == ClientPath::Chain {
        out.push_str("[[proxy]]\nname = \"parent\"\n");
        match cause {
            Some(Cause::ProxyDeny { at_parent: true }) => {
                let _ = writeln!(
                    out,
                    "rules = [{{ hosts = \"{}\", action = \"deny\" }}, {{ hosts = \"*\", action = \"allow\" }}]",
                    case.target_host()
                );
            }
            Some(Cause::ProxyStatus502 { at_parent: true }) => {
                out.push_str("fault = { status = 502 }\n")
            }
            Some(Cause::ParentDown) => out.push_str("down = true\n"),
            _ => {}
        }
        out.push('\n');
    }
    match case.cause {
        // The proxy the service's own config names, which the firewall lets out and the client skips.
        Some(Cause::ExeConfigBypass) => out.push_str("[[proxy]]\nname = \"corp\"\n\n"),
        // The proxy the service's own config names, overridden by netsh's `corp`.
        Some(Cause::NetshOverride) => out.push_str("[[proxy]]\nname = \"configured\"\n\n"),
        _ => {}
    }
    if case.has(Decoy::SpareProxy) {
        out.push_str("[[proxy]]\nname = \"spare\"\ndown = true\n\n");
    }
}

fn firewall(case: &Case, out: &mut String) {
    let host = case.target_host();
    let blocking = match case.cause {
        Some(Cause::FirewallDrop) => Some(("client", "drop")),
        Some(Cause::FirewallReject) => Some(("client", "reject")),
        Some(Cause::KillTls12) => Some(("client", "kill-tls12")),
        Some(Cause::Sha512Blocked) => Some(("client", "kill-sha512")),
        Some(Cause::UpstreamRejected) => Some(("any-proxy", "reject")),
        _ => None,
    };
    if let Some((from, action)) = blocking {
        let _ = writeln!(
            out,
            "[[firewall]]\nfrom = \"{from}\"\nhosts = \"{host}\"\nport = {}\naction = \"{action}\"\n",
            case.port
        );
    }
    match case.cause {
        Some(Cause::Port80Blocked) => {
            for host in ["crl.egresslab.test", "ocsp.egresslab.test"] {
                let _ = writeln!(
                    out,
                    "[[firewall]]\nhosts = \"{host}\"\nport = 80\naction = \"drop\"\n"
                );
            }
        }
        Some(Cause::ExeConfigBypass) => {
            out.push_str("[[firewall]]\nfrom = \"client\"\nhosts = \"*\"\naction = \"drop\"\n\n")
        }
        Some(Cause::SigninUnreachable) => {
            let _ = writeln!(
                out,
                "[[firewall]]\nfrom = \"client\"\nhosts = \"{SIGNIN_HOST}\"\nport = 443\naction = \"reject\"\n"
            );
        }
        _ => {}
    }
    for (i, decoy) in case.decoys.iter().enumerate() {
        match decoy {
            Decoy::AllowRule => {
                let _ = writeln!(
                    out,
                    "[[firewall]]\nhosts = \"{host}\"\naction = \"allow\"\n"
                );
            }
            Decoy::UnrelatedFirewall(action) => {
                let _ = writeln!(
                    out,
                    "[[firewall]]\nhosts = \"unused{i}.egresslab.test\"\naction = \"{}\"\n",
                    action_name(*action)
                );
            }
            _ => {}
        }
    }
}

fn toxics(case: &Case, out: &mut String) {
    if case.cause == Some(Cause::ProxyFlapping) {
        // The control API's draws are seeded (control/draw.rs): the same tunnels are reset on every run.
        out.push_str("[[toxic]]\non = \"corp\"\ntype = \"reset_peer\"\ntoxicity = 0.5\nattributes = { timeout = 0 }\n\n");
    }
    if case.cause == Some(Cause::SlowPath) {
        let _ = writeln!(
            out,
            "[[toxic]]\non = \"target\"\ntype = \"bandwidth\"\nattributes = {{ rate = {SLOW_PATH_KBPS} }}\n"
        );
    }
}

/// The connector event-log message (seed 002's registration error table) of an event-log cause.
fn event_log_line(cause: Cause) -> Option<&'static str> {
    Some(match cause {
        Cause::EventNetworkError => "Connector registration failed: Make sure you enabled application proxy in the Azure Management Portal and that you entered your Active Directory user name and password correctly. Error: 'One or more errors occurred.'",
        Cause::EventAadsts50059 => "Connector registration failed: Make sure you enabled application proxy in the Azure Management Portal and that you entered your Active Directory user name and password correctly. Error: 'AADSTS50059: No tenant-identifying information found in either the request or implied by any provided credentials and search by service principal URI has failed.'",
        Cause::EventDenied => "Connector registration failed: Make sure you are an Application Administrator of your Active Directory to register the connector. Error: 'The registration request was denied.'",
        Cause::EventServiceUnreachable => "The connector was unable to connect to the service due to networking issues. The connector tried to access the following URL.",
        Cause::EventTrustCertExpired => "Connector re-registration failed: The Connector trust certificate expired. Run the PowerShell cmdlet Register-MicrosoftEntraPrivateNetworkConnector on the computer on which the Connector is running to re-register your Connector.",
        _ => return None,
    })
}

fn names(case: &Case, out: &mut String) {
    let mut nxdomain = Vec::new();
    if case.cause == Some(Cause::Nxdomain) {
        nxdomain.push(format!("\"{}\"", case.target_host()));
    }
    if case.cause == Some(Cause::VpnServerUnreachable) {
        nxdomain.push(format!("\"{VPN_HOST}\""));
    }
    for (i, decoy) in case.decoys.iter().enumerate() {
        if *decoy == Decoy::DnsNoise {
            nxdomain.push(format!("\"gone{i}.egresslab.test\""));
        }
    }
    // The name only the SOCKS5 proxy resolves.
    let proxy_only = match case.cause {
        Some(Cause::SocksLocalDns) => format!("proxy_only = [\"{}\"]\n", case.target_host()),
        _ => String::new(),
    };
    if !nxdomain.is_empty() || !proxy_only.is_empty() {
        let _ = writeln!(
            out,
            "[names]\ndns = true\nnxdomain = [{}]\n{proxy_only}",
            nxdomain.join(", ")
        );
    }
}

fn udp(case: &Case, out: &mut String) {
    // An unresolvable VPN server has nothing listening for it: the client cannot even address it.
    if !has_vpn(case) || case.cause == Some(Cause::VpnServerUnreachable) {
        return;
    }
    let behaviour = if case.cause == Some(Cause::IkeBlocked) {
        "silent"
    } else {
        "ike-responder"
    };
    for (name, port) in [("ike", 500), ("ike-nat-t", 4500)] {
        let _ = writeln!(
            out,
            "[[udp]]\nname = \"{name}\"\nhost = \"{VPN_HOST}\"\nport = {port}\nbehaviour = \"{behaviour}\"\n"
        );
    }
}

fn client(case: &Case, probes: &[String], out: &mut String) {
    out.push_str("[client]\n");
    match case.path {
        ClientPath::Direct => {}
        ClientPath::Pac => out.push_str("proxy = \"pac\"\n"),
        _ => out.push_str("proxy = \"corp\"\n"),
    }
    if case.path.uses_proxy()
        && case.has(Decoy::ProxyAuthOk)
        && case.cause != Some(Cause::ProxyAuth)
    {
        out.push_str("proxy_credentials = { user = \"svc\", password = \"s3cret\" }\n");
    }
    match case.cause {
        Some(Cause::ProxyWrongPassword) => {
            let _ = writeln!(out, "proxy_credentials = {{ user = '{NTLM_USER}', password = \"Winter2025!\", scheme = \"ntlm\" }}");
        }
        Some(Cause::ProxyChallengeLost) => {
            let _ = writeln!(out, "proxy_credentials = {{ user = '{NTLM_USER}', password = \"{NTLM_PASSWORD}\", scheme = \"ntlm\" }}");
        }
        Some(Cause::SocksWrongPassword) => {
            out.push_str("proxy_credentials = { user = \"svc\", password = \"wrong\" }\n")
        }
        Some(Cause::SocksLocalDns) => out.push_str("socks_resolve = \"client\"\n"),
        _ => {}
    }
    match case.cause {
        Some(Cause::ServerTls12Only) => out.push_str("tls_versions = \"tls13-only\"\n"),
        Some(Cause::ServerTls13Only) => out.push_str("tls_versions = \"tls12-only\"\n"),
        _ => {}
    }
    if case.cause == Some(Cause::ClientCertLost) {
        out.push_str("trust = [\"lab\", \"inspection\"]\n");
    }
    match case.cause {
        Some(Cause::Sha512Blocked | Cause::ClientCertLost | Cause::TrustSettingsMismatch) => {
            out.push_str("client_cert = { profile = \"connector-client\" }\n")
        }
        // The certificate conditional access needs is there; only the profile's filter is missing.
        Some(Cause::ProfileMissingEku) => out.push_str(
            "client_cert = { profile = \"conditional-access\", hosts = [\"alice.corp.egresslab.test\"] }\n",
        ),
        Some(Cause::ClientCertMissing) => {}
        _ if case.has(Decoy::MtlsSite) => out.push_str(
            "client_cert = { profile = \"client-auth\", hosts = [\"client.egresslab.test\"] }\n",
        ),
        _ => {}
    }
    let _ = writeln!(
        out,
        "connect_timeout_ms = {CONNECT_TIMEOUT_MS}\nio_timeout_ms = {IO_TIMEOUT_MS}"
    );
    let _ = writeln!(out, "probes = [\n  {},\n]\n", probes.join(",\n  "));
    artifacts(case, out);
}

/// `[client.artifacts]` for the artifact causes.
fn artifacts(case: &Case, out: &mut String) {
    let table = match case.cause {
        Some(Cause::ExeConfigBypass) => "exe_config = { proxy_enabled = false }\n".to_owned(),
        Some(Cause::NetshOverride) => concat!(
            "exe_config = { proxy = \"configured\", bypass_on_local = true, use_system_default = true }\n",
            "netsh = { proxy = \"corp\", bypass = [\"<local>\"] }\n"
        )
        .to_owned(),
        Some(Cause::TrustSettingsMismatch) => format!(
            "trust_settings = {{ thumbprint = \"{FOREIGN_THUMBPRINT}\", is_in_user_store = false }}\n"
        ),
        Some(Cause::NpsAuthMismatch) => {
            let rows: Vec<String> = NPS_812_ROWS.iter().map(|r| format!("  '{r}',")).collect();
            format!(
                "vpn_profile = {{ server = \"{VPN_HOST}\", inner_method = \"mschapv2\" }}\nnps_log = [\n{}\n]\n",
                rows.join("\n")
            )
        }
        Some(Cause::ProfileMissingEku) => {
            format!("vpn_profile = {{ server = \"{VPN_HOST}\", tls_extensions = false }}\n")
        }
        Some(cause) => match event_log_line(cause) {
            Some(line) => format!("event_log = \"{line}\"\n"),
            None => return,
        },
        None => return,
    };
    let _ = writeln!(out, "[client.artifacts]\n{table}");
}

/// The scenario file of `case`, named `id`; `origin` says where it came from (seed and index).
pub fn render(case: &Case, id: &str, origin: &str) -> String {
    let truth = truth(case);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Generated by egresslab ({origin}). Ground truth: {truth}."
    );
    if let Ok(json) = serde_json::to_string(case) {
        let _ = writeln!(out, "# case: {json}");
    }
    let cause = case
        .cause
        .map_or("no root cause".to_owned(), |c| format!("root cause {c:?}"));
    let _ = writeln!(
        out,
        "[scenario]\nname = \"{id}\"\nsummary = \"Generated: {cause} on the {:?} path with {} decoy(s).\"\nseed = \"generated ({origin})\"\ntags = [\"generated\"]\n",
        case.path,
        case.decoys.len()
    );
    let probes = endpoints(case, &mut out);
    proxies(case, &mut out);
    firewall(case, &mut out);
    toxics(case, &mut out);
    names(case, &mut out);
    udp(case, &mut out);
    client(case, &probes, &mut out);
    if truth == HEALTHY {
        out.push_str("[expect]\nhealthy = true\n");
    } else {
        let _ = writeln!(out, "[expect]\ndiagnoses = [\"{truth}\"]");
    }
    out
}
