//! The connector's required-endpoint matrix (seed 001's table of URLs and ports), probed concurrently
//! through the configured path, naming exactly which entries fail.

use futures_util::stream::{self, StreamExt};

use super::https;
use crate::check::codes;
use crate::check::config::ClientConfig;
use crate::check::finding::{Evidence, Finding, Severity};
use crate::check::transport::dns::{self, Resolution};
use crate::check::transport::route::Route;
use crate::check::transport::tcp::{self, TcpOutcome};

/// The label that stands in for `*` when a wildcard entry is exercised: `*.msappproxy.net` is probed as
/// `connector-sample.msappproxy.net`. Public so a lab can serve the sample names.
pub const SAMPLE_LABEL: &str = "connector-sample";

/// Direct TCP ports the messaging service tries before falling back to HTTPS 443 (AMQP and net.tcp; the
/// seed says only "direct TCP first", the numbers are the service's own).
pub const SERVICEBUS_DIRECT_PORTS: [u16; 2] = [5671, 9352];

/// One row of the required table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequiredEndpoint {
    /// Host pattern, possibly `*.` wildcard, possibly with a path (`www.microsoft.com/pkiops`).
    pub pattern: &'static str,
    /// Port (443 HTTPS or 80 HTTP).
    pub port: u16,
    /// What the connector uses it for.
    pub purpose: Purpose,
}

/// Why the connector needs an endpoint (the table's "use" column).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Connector to cloud service communication.
    CloudService,
    /// Certificate validation (CRL/OCSP).
    CertificateValidation,
    /// Registration (sign-in and enrolment).
    Registration,
}

impl RequiredEndpoint {
    /// The host name probed (wildcards replaced by [`SAMPLE_LABEL`]).
    pub fn sample_host(&self) -> String {
        let host = self.pattern.split('/').next().unwrap_or(self.pattern);
        match host.strip_prefix("*.") {
            Some(rest) => format!("{SAMPLE_LABEL}.{rest}"),
            None => host.to_string(),
        }
    }
    /// The path probed (`/` unless the pattern carries one).
    pub fn path(&self) -> String {
        match self.pattern.find('/') {
            Some(i) => self.pattern[i..].to_string(),
            None => "/".to_string(),
        }
    }
    /// `pattern:port`.
    pub fn label(&self) -> String {
        format!("{}:{}", self.pattern, self.port)
    }
}

const fn e(pattern: &'static str, port: u16, purpose: Purpose) -> RequiredEndpoint {
    RequiredEndpoint {
        pattern,
        port,
        purpose,
    }
}

static TABLE: &[RequiredEndpoint] = &[
    e("*.msappproxy.net", 443, Purpose::CloudService),
    e("*.servicebus.windows.net", 443, Purpose::CloudService),
    e("crl3.digicert.com", 80, Purpose::CertificateValidation),
    e("crl4.digicert.com", 80, Purpose::CertificateValidation),
    e("ocsp.digicert.com", 80, Purpose::CertificateValidation),
    e("crl.microsoft.com", 80, Purpose::CertificateValidation),
    e("oneocsp.microsoft.com", 80, Purpose::CertificateValidation),
    e("ocsp.msocsp.com", 80, Purpose::CertificateValidation),
    e("login.windows.net", 443, Purpose::Registration),
    e(
        "secure.aadcdn.microsoftonline-p.com",
        443,
        Purpose::Registration,
    ),
    e("*.microsoftonline.com", 443, Purpose::Registration),
    e("*.microsoftonline-p.com", 443, Purpose::Registration),
    e("*.msauth.net", 443, Purpose::Registration),
    e("*.msauthimages.net", 443, Purpose::Registration),
    e("*.msecnd.net", 443, Purpose::Registration),
    e("*.msftauth.net", 443, Purpose::Registration),
    e("*.msftauthimages.net", 443, Purpose::Registration),
    e("*.phonefactor.net", 443, Purpose::Registration),
    e(
        "enterpriseregistration.windows.net",
        443,
        Purpose::Registration,
    ),
    e("management.azure.com", 443, Purpose::Registration),
    e(
        "policykeyservice.dc.ad.msft.net",
        443,
        Purpose::Registration,
    ),
    e("ctldl.windowsupdate.com", 443, Purpose::Registration),
    e("ctldl.windowsupdate.com", 80, Purpose::Registration),
    e("www.microsoft.com/pkiops", 80, Purpose::Registration),
];

/// Every URL and port of seed 001's table, in table order.
pub fn connector_endpoints() -> &'static [RequiredEndpoint] {
    TABLE
}

/// How many entries are probed at once.
const CONCURRENCY: usize = 8;

/// Probe every entry along `route_for` (the route of each host) and summarise.
pub async fn probe_matrix<F>(config: &ClientConfig, route_for: F) -> Vec<Finding>
where
    F: Fn(&str) -> Route,
{
    let jobs = TABLE.iter().map(|ep| {
        let route = route_for(&ep.sample_host());
        async move {
            let host = ep.sample_host();
            let findings = if ep.port == 443 {
                https::probe_https(config, &route, &host, 443, &ep.path()).await
            } else {
                https::probe_http(config, &route, &host, 80, &ep.path())
                    .await
                    .1
            };
            (ep, findings)
        }
    });
    let results: Vec<(&RequiredEndpoint, Vec<Finding>)> =
        stream::iter(jobs).buffered(CONCURRENCY).collect().await;
    let mut out: Vec<Finding> = Vec::new();
    let mut failed: Vec<(String, String)> = Vec::new();
    let mut signin_failed = Vec::new();
    let mut servicebus_443_ok = false;
    for (ep, findings) in &results {
        let problem = findings.iter().find(|f| f.severity == Severity::Error);
        match problem {
            Some(p) => {
                failed.push((ep.label(), format!("{} ({})", p.code, p.summary)));
                if ep.purpose == Purpose::Registration
                    && ep.port == 443
                    && (ep.pattern.contains("microsoftonline") || ep.pattern.starts_with("login."))
                {
                    signin_failed.push(ep.label());
                }
            }
            None if ep.pattern == "*.servicebus.windows.net" => servicebus_443_ok = true,
            None => {}
        }
        for f in findings.iter().filter(|f| f.severity != Severity::Ok) {
            merge(&mut out, f.clone());
        }
    }
    if failed.is_empty() {
        out.push(Finding::new(
            codes::CONNECTOR_ENDPOINTS_OK,
            "connector endpoints",
            format!("all {} required entries answered", TABLE.len()),
        ));
    } else {
        let names: Vec<&str> = failed.iter().map(|(n, _)| n.as_str()).collect();
        let mut f = Finding::new(
            codes::CONNECTOR_ENDPOINT_BLOCKED,
            names.join(", "),
            format!(
                "{} of {} required entries fail: {}",
                failed.len(),
                TABLE.len(),
                names.join(", ")
            ),
        );
        for (n, why) in &failed {
            f.evidence.push(Evidence::new(
                format!("probe {n}"),
                why.clone(),
                std::time::Duration::ZERO,
            ));
        }
        out.push(f);
    }
    if !signin_failed.is_empty() {
        out.push(Finding::new(
            codes::CONNECTOR_SIGNIN_UNREACHABLE,
            signin_failed.join(", "),
            format!("sign-in hosts unreachable: {}", signin_failed.join(", ")),
        ));
    }
    if servicebus_443_ok {
        let host = format!("{SAMPLE_LABEL}.servicebus.windows.net");
        if let Some(f) = servicebus_fallback(config, &host).await {
            out.push(f);
        }
    }
    out
}

/// Whether `host` is a Microsoft sign-in host (`login.microsoftonline.com`, `*.microsoftonline.com`).
pub fn is_signin_host(host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    host == "microsoftonline.com" || host.ends_with(".microsoftonline.com")
}

/// `connector.signin_unreachable` when `host` is the sign-in host and its probe found an error
/// (seed 002: verify connectivity to the Microsoft sign-in page); the network-level codes stay.
pub fn signin_unreachable(host: &str, findings: &[Finding]) -> Option<Finding> {
    if !is_signin_host(host) {
        return None;
    }
    let problem = findings.iter().find(|f| f.severity == Severity::Error)?;
    Some(
        Finding::new(
            codes::CONNECTOR_SIGNIN_UNREACHABLE,
            host,
            format!(
                "the sign-in host {host} is unreachable ({}); connector registration cannot complete",
                problem.code
            ),
        )
        .with_all_evidence(problem.evidence.clone()),
    )
}

/// The messaging service `host`: HTTPS 443 along `route`, then the direct TCP ports. When 443 works
/// and every direct port is blocked, the direct-port failures become one
/// `connector.servicebus_https_fallback` warning instead of errors; when 443 fails its errors stand.
pub async fn probe_servicebus(config: &ClientConfig, route: &Route, host: &str) -> Vec<Finding> {
    let mut out = https::probe_https(config, route, host, 443, "/").await;
    if out.iter().any(|f| f.severity == Severity::Error) {
        return out;
    }
    if let Some(f) = servicebus_fallback(config, host).await {
        out.push(f);
    }
    out
}

async fn servicebus_fallback(config: &ClientConfig, host: &str) -> Option<Finding> {
    let mut evidence = Vec::new();
    for port in SERVICEBUS_DIRECT_PORTS {
        let addr = match tcp::connect_to_override(config, host, port) {
            Some(a) => a,
            None => match dns::resolve(config, host).await {
                (Resolution::Resolved(ips), _) => std::net::SocketAddr::new(*ips.first()?, port),
                _ => return None,
            },
        };
        let (outcome, ev) = tcp::tcp_connect_addr(config, addr).await;
        if let TcpOutcome::Open(_) = outcome {
            return None;
        }
        evidence.push(ev);
    }
    Some(
        Finding::new(
            codes::CONNECTOR_SERVICEBUS_HTTPS_FALLBACK,
            format!("{host}:5671,9352"),
            format!("direct TCP to {host} on 5671 and 9352 is blocked, HTTPS 443 works: the messaging service falls back to HTTPS"),
        )
        .with_all_evidence(evidence),
    )
}

/// Fold a finding into `out`: the same code about another target is appended to the existing finding.
pub fn merge(out: &mut Vec<Finding>, f: Finding) {
    if let Some(existing) = out.iter_mut().find(|x| x.code == f.code) {
        if !existing.target.split(", ").any(|t| t == f.target) {
            existing.target = format!("{}, {}", existing.target, f.target);
            existing.summary = format!("{}; {}", existing.summary, f.summary);
        }
        existing.evidence.extend(f.evidence);
    } else {
        out.push(f);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_in_failures_name_the_sign_in_page() {
        let refused = Finding::new(codes::NET_TCP_REFUSED, "login.microsoftonline.com:443", "x");
        let got = signin_unreachable("login.microsoftonline.com", std::slice::from_ref(&refused));
        assert_eq!(
            got.map(|f| f.code),
            Some(codes::CONNECTOR_SIGNIN_UNREACHABLE)
        );
        assert!(signin_unreachable("connector-sample.msappproxy.net", &[refused]).is_none());
        let ok = Finding::new(
            codes::TLS_HANDSHAKE_OK,
            "login.microsoftonline.com:443",
            "ok",
        );
        assert!(signin_unreachable("login.microsoftonline.com", &[ok]).is_none());
        assert!(is_signin_host("LOGIN.microsoftonline.com."));
        assert!(!is_signin_host("evilmicrosoftonline.com"));
    }

    #[test]
    fn table_has_every_entry_of_seed_001() {
        assert_eq!(connector_endpoints().len(), 24);
        assert_eq!(
            connector_endpoints()
                .iter()
                .filter(|e| e.port == 80)
                .count(),
            8
        );
        let pk = connector_endpoints()
            .iter()
            .find(|e| e.pattern.ends_with("pkiops"))
            .unwrap();
        assert_eq!(
            (pk.sample_host().as_str(), pk.path().as_str()),
            ("www.microsoft.com", "/pkiops")
        );
        assert_eq!(TABLE[0].sample_host(), "connector-sample.msappproxy.net");
    }
}
