//! The URL probe: path, TLS handshake, chain, revocation, client certificate, HTTP answer.

use std::time::Instant;

use rustls::AlertDescription;

use super::certinfo;
use super::chain::{self, Verdict};
use super::codes;
use super::config::{ClientConfig, TlsVersions};
use super::finding::{Evidence, Finding};
use super::net::{self, Route};
use super::ocsp;
use super::tls::{self, Handshake, HsOutcome};

/// Probe an `https://` or `http://` URL along `route`.
pub async fn probe_url(config: &ClientConfig, route: &Route, url: &str) -> Vec<Finding> {
    let Some((https, host, port, path)) = net::split_url(url) else {
        return vec![Finding::new(
            codes::CONFIG_CONFIG_INVALID,
            url,
            format!("{url} is not an http(s) URL"),
        )];
    };
    if https {
        probe_https(config, route, &host, port, &path).await
    } else {
        probe_http(config, route, &host, port, &path).await.1
    }
}

/// GET a plain-HTTP URL along `route`; returns the head if any and the findings.
pub async fn probe_http(
    config: &ClientConfig,
    route: &Route,
    host: &str,
    port: u16,
    path: &str,
) -> (Option<net::HttpHead>, Vec<Finding>) {
    let target = format!("{host}:{port}");
    let (mut io, mut out) = match net::open(config, route, host, port).await {
        Ok(x) => x,
        Err(f) => return (None, f),
    };
    let start = Instant::now();
    match net::http_get(&mut io, host, path, config.io_timeout).await {
        Ok(head) => {
            if let Some(last) = out.last_mut() {
                last.evidence.push(Evidence::new(
                    format!("GET http://{target}{path} ({route})"),
                    format!("HTTP {} {}", head.status, head.reason),
                    start.elapsed(),
                ));
            }
            (Some(head), out)
        }
        Err(why) => {
            out.push(
                Finding::new(
                    codes::NET_TCP_RESET,
                    &target,
                    format!("{target} accepted the connection but gave no HTTP answer"),
                )
                .with_evidence(Evidence::new(
                    format!("GET http://{target}{path}"),
                    why,
                    start.elapsed(),
                )),
            );
            (None, out)
        }
    }
}

/// The full HTTPS probe of (host, port).
pub async fn probe_https(
    config: &ClientConfig,
    route: &Route,
    host: &str,
    port: u16,
    path: &str,
) -> Vec<Finding> {
    let target = format!("{host}:{port}");
    let (io, mut out) = match net::open(config, route, host, port).await {
        Ok(x) => x,
        Err(f) => return f,
    };
    let hs = tls::handshake(config, io, host, config.tls_versions, true).await;
    let ev = Evidence::new(
        format!("TLS handshake with {target} ({route})"),
        tls::describe(&hs.outcome),
        hs.elapsed,
    );
    match &hs.outcome {
        HsOutcome::Ok => out.extend(after_handshake(config, route, host, port, path, hs, ev).await),
        HsOutcome::Alert(a) if hs.client_cert_requested => {
            out.push(client_cert_refused(config, &target, &hs, *a, ev))
        }
        HsOutcome::Alert(AlertDescription::ProtocolVersion) | HsOutcome::Incompatible(_) => {
            out.push(version_mismatch(config, route, host, port, ev).await)
        }
        HsOutcome::Cut(_) => out.push(cut(config, route, host, port, &hs, ev).await),
        _ => out.push(
            Finding::new(
                codes::TLS_HANDSHAKE_FAILED,
                &target,
                format!(
                    "TLS handshake with {target} failed: {}",
                    tls::describe(&hs.outcome)
                ),
            )
            .with_evidence(ev),
        ),
    }
    out
}

async fn after_handshake(
    config: &ClientConfig,
    route: &Route,
    host: &str,
    port: u16,
    path: &str,
    mut hs: Handshake,
    ev: Evidence,
) -> Vec<Finding> {
    let target = format!("{host}:{port}");
    let mut out = vec![Finding::new(
        codes::TLS_HANDSHAKE_OK,
        &target,
        format!("{target} completed a {} handshake", hs.version_name()),
    )
    .with_evidence(ev)];
    let leaf = hs.chain.first().and_then(|c| certinfo::facts(c));
    let intercepted = leaf
        .as_ref()
        .is_some_and(|l| !chain::issuer_expected(config, l));
    if let (true, Some(l)) = (intercepted, leaf.as_ref()) {
        let seen = l.issuer_cn.clone().unwrap_or_else(|| l.issuer.clone());
        out.push(Finding::new(
            codes::TLS_INTERCEPTED,
            &target,
            format!("{target} was answered with a certificate issued by {seen}, not by {}: TLS is intercepted on the path", config.expected_issuers.join(" or ")),
        ));
    }
    let mut verdict = chain::verify(chain::Trust::of(config), host, &hs.chain, &[]);
    if verdict == Verdict::Ok {
        if let Some(l) = leaf.as_ref().filter(|l| !l.crl_urls.is_empty()) {
            let (crls, unreachable) = fetch_crls(config, route, &l.crl_urls).await;
            if !crls.is_empty() {
                verdict = chain::verify(chain::Trust::of(config), host, &hs.chain, &crls);
            }
            out.extend(unreachable);
        }
    }
    let mut revocation_evidence = Vec::new();
    if verdict == Verdict::Ok {
        if let (Some(l), Some(issuer)) = (leaf.as_ref(), hs.chain.get(1)) {
            if !l.ocsp_urls.is_empty() {
                let (revoked, unreachable, evidence) =
                    ask_ocsp(config, route, &hs.chain[0], issuer, &l.ocsp_urls).await;
                if revoked {
                    verdict = Verdict::Revoked;
                }
                out.extend(unreachable);
                revocation_evidence = evidence;
            }
        }
    }
    let hides = intercepted
        && matches!(
            verdict,
            Verdict::UntrustedRoot | Verdict::SelfSigned | Verdict::Incomplete
        );
    if !hides {
        out.push(
            chain::pki_finding(&target, &verdict, leaf.as_ref())
                .with_all_evidence(revocation_evidence),
        );
    }
    let Some(stream) = hs.stream.take() else {
        return out;
    };
    let mut io: net::BoxIo = Box::new(stream);
    let start = Instant::now();
    let answer = net::http_get(&mut io, host, path, config.io_timeout).await;
    let ev = Evidence::new(
        format!("GET https://{target}{path}"),
        match &answer {
            Ok(h) => format!("HTTP {} {}", h.status, h.reason),
            Err(e) => e.clone(),
        },
        start.elapsed(),
    );
    let alert = match &answer {
        Err(_) => alert_in(&mut io).await,
        Ok(_) => None,
    };
    let failed = answer.as_ref().map(|h| h.status >= 400).unwrap_or(true);
    if intercepted && config.client_cert.is_some() && failed {
        out.push(Finding::new(
            codes::TLS_CLIENT_CERT_LOST_THROUGH_INTERCEPTION,
            &target,
            format!("the client certificate for {target} did not survive the TLS interception: the origin refused the client"),
        ).with_evidence(ev));
    } else if hs.client_cert_requested {
        match (&answer, alert) {
            (Ok(_), _) if hs.client_cert_offered => out.push(Finding::new(codes::TLS_CLIENT_CERT_OK, &target, format!("{target} accepted the client certificate")).with_evidence(ev)),
            (Err(_), Some(a)) => out.push(client_cert_refused(config, &target, &hs, a, ev)),
            (Err(e), None) if hs.client_cert_offered => out.push(Finding::new(codes::TLS_CLIENT_CERT_REJECTED, &target, format!("{target} asked for a client certificate and dropped the connection after it ({e})")).with_evidence(ev)),
            (Err(e), None) => out.push(Finding::new(codes::TLS_CLIENT_CERT_REQUIRED_MISSING, &target, format!("{target} asked for a client certificate, the client has none, and the server dropped the connection ({e})")).with_evidence(ev)),
            (Ok(_), _) => {
                if let Some(last) = out.last_mut() {
                    last.evidence.push(ev);
                }
            }
        }
    } else if let Some(last) = out.last_mut() {
        last.evidence.push(ev);
    }
    out
}

/// After a failed read, look for the alert rustls saw (it surfaces as the read error).
async fn alert_in(io: &mut net::BoxIo) -> Option<AlertDescription> {
    use tokio::io::AsyncReadExt;
    let mut b = [0u8; 1];
    match tokio::time::timeout(std::time::Duration::from_millis(200), io.read(&mut b)).await {
        Ok(Err(e)) => match tls::classify_io(&e) {
            HsOutcome::Alert(a) => Some(a),
            _ => None,
        },
        _ => None,
    }
}

fn client_cert_refused(
    config: &ClientConfig,
    target: &str,
    hs: &Handshake,
    alert: AlertDescription,
    ev: Evidence,
) -> Finding {
    let leaf = hs.chain.first().and_then(|c| certinfo::facts(c));
    let intercepted = leaf
        .as_ref()
        .is_some_and(|l| !chain::issuer_expected(config, l));
    if intercepted && hs.client_cert_offered {
        return Finding::new(codes::TLS_CLIENT_CERT_LOST_THROUGH_INTERCEPTION, target, format!("the client certificate for {target} did not survive the TLS interception (alert {alert:?})")).with_evidence(ev);
    }
    if hs.client_cert_offered {
        Finding::new(
            codes::TLS_CLIENT_CERT_REJECTED,
            target,
            format!("{target} rejected the client certificate (alert {alert:?})"),
        )
        .with_evidence(ev)
    } else {
        Finding::new(
            codes::TLS_CLIENT_CERT_REQUIRED_MISSING,
            target,
            format!(
                "{target} requires a client certificate and the client has none (alert {alert:?})"
            ),
        )
        .with_evidence(ev)
    }
}

fn version_label(v: TlsVersions) -> &'static str {
    match v {
        TlsVersions::Both => "TLS 1.2 and 1.3",
        TlsVersions::Tls12Only => "only TLS 1.2",
        TlsVersions::Tls13Only => "only TLS 1.3",
    }
}

async fn try_version(
    config: &ClientConfig,
    route: &Route,
    host: &str,
    port: u16,
    v: TlsVersions,
    with_cert: bool,
) -> Option<Handshake> {
    let (io, _) = net::open(config, route, host, port).await.ok()?;
    Some(tls::handshake(config, io, host, v, with_cert).await)
}

async fn try_offering(
    config: &ClientConfig,
    route: &Route,
    host: &str,
    port: u16,
    v: TlsVersions,
    family: Option<tls::KeyFamily>,
) -> Option<Handshake> {
    let (io, _) = net::open(config, route, host, port).await.ok()?;
    Some(tls::handshake_offering(config, io, host, v, false, family).await)
}

async fn version_mismatch(
    config: &ClientConfig,
    route: &Route,
    host: &str,
    port: u16,
    ev: Evidence,
) -> Finding {
    let target = format!("{host}:{port}");
    let mut server = Vec::new();
    let mut evidence = vec![ev];
    for v in [TlsVersions::Tls12Only, TlsVersions::Tls13Only] {
        if let Some(h) = try_version(config, route, host, port, v, false).await {
            let through = matches!(h.outcome, HsOutcome::Ok) || (h.version.is_some());
            evidence.push(Evidence::new(
                format!("TLS handshake offering {} to {target}", version_label(v)),
                tls::describe(&h.outcome),
                h.elapsed,
            ));
            if through
                || matches!(h.outcome, HsOutcome::Alert(a) if a != AlertDescription::ProtocolVersion)
            {
                server.push(version_label(v));
            }
        }
    }
    let server = if server.is_empty() {
        "none of TLS 1.2 and 1.3".to_string()
    } else {
        server.join(" and ")
    };
    Finding::new(
        codes::TLS_VERSION_MISMATCH,
        &target,
        format!(
            "the client offers {} and {target} accepts {server}: no version in common",
            version_label(config.tls_versions)
        ),
    )
    .with_all_evidence(evidence)
}

async fn cut(
    config: &ClientConfig,
    route: &Route,
    host: &str,
    port: u16,
    hs: &Handshake,
    ev: Evidence,
) -> Finding {
    let target = format!("{host}:{port}");
    if hs.server_bytes == 0 {
        let mut evidence = vec![ev];
        let mut through = Vec::new();
        for v in [TlsVersions::Tls13Only, TlsVersions::Tls12Only] {
            if let Some(h) = try_version(config, route, host, port, v, false).await {
                evidence.push(Evidence::new(
                    format!(
                        "TLS handshake offering {} to {target} ({route})",
                        version_label(v)
                    ),
                    tls::describe(&h.outcome),
                    h.elapsed,
                ));
                if !matches!(h.outcome, HsOutcome::Cut(_)) || h.server_bytes > 0 {
                    through.push(version_label(v));
                }
            }
        }
        let got = if through.is_empty() {
            "no version gets through".to_string()
        } else {
            format!("{} gets through", through.join(" and "))
        };
        // Is it the ClientHello that is killed, or what the server sends back? A TLS 1.2 hello offering
        // only the signatures of one key family makes a server with the other kind of key refuse at
        // once, before its certificate: if that refusal comes back while the hello it can answer is
        // cut with nothing received, the hello passes and the server's certificate is what is blocked.
        let mut answered = Vec::new();
        let mut silent = Vec::new();
        for family in [tls::KeyFamily::Ecdsa, tls::KeyFamily::Rsa] {
            if let Some(h) = try_offering(
                config,
                route,
                host,
                port,
                TlsVersions::Tls12Only,
                Some(family),
            )
            .await
            {
                evidence.push(Evidence::new(
                    format!(
                        "TLS 1.2 handshake offering only {family} signatures to {target} ({route})"
                    ),
                    format!(
                        "{} ({} bytes from the server)",
                        tls::describe(&h.outcome),
                        h.server_bytes
                    ),
                    h.elapsed,
                ));
                if h.server_bytes > 0 {
                    answered.push(family);
                } else if matches!(h.outcome, HsOutcome::Cut(_)) {
                    silent.push(family);
                }
            }
        }
        if !answered.is_empty() && !silent.is_empty() {
            return Finding::new(
                codes::TLS_SHA512_BLOCKED,
                &target,
                format!("TLS 1.2 ClientHellos reach {target} ({route}): a hello offering only {} signatures is answered, but the handshake is cut with nothing received as soon as the server can send its certificate; a middlebox blocks the server's certificate (SHA-512-signed certificates); {got}", answered[0]),
            )
            .with_all_evidence(evidence);
        }
        return Finding::new(
            codes::TLS_VERSION_TLS12_BLOCKED,
            &target,
            format!("handshakes to {target} ({route}) are cut right after the ClientHello although TCP works; {got}"),
        )
        .with_all_evidence(evidence);
    }
    let sha512_seen = hs
        .chain
        .iter()
        .filter_map(|c| certinfo::facts(c))
        .any(|f| f.sha512_signed());
    if sha512_seen {
        return Finding::new(codes::TLS_SHA512_BLOCKED, &target, format!("the handshake with {target} was cut after a SHA-512-signed certificate was presented")).with_evidence(ev);
    }
    let client_sha512 = config
        .client_cert
        .as_ref()
        .and_then(|c| c.chain.first())
        .and_then(|c| certinfo::facts(c))
        .is_some_and(|f| f.sha512_signed());
    if client_sha512 && hs.client_cert_requested {
        if let Some(h) = try_version(config, route, host, port, config.tls_versions, false).await {
            if !matches!(h.outcome, HsOutcome::Cut(_)) {
                return Finding::new(codes::TLS_SHA512_BLOCKED, &target, format!("the handshake with {target} is cut when the client's SHA-512 certificate is sent, and not without it"))
                    .with_evidence(ev)
                    .with_evidence(Evidence::new(format!("TLS handshake with {target} without the client certificate"), tls::describe(&h.outcome), h.elapsed));
            }
        }
    }
    Finding::new(
        codes::TLS_HANDSHAKE_RESET,
        &target,
        format!(
            "the handshake with {target} was cut after the server answered ({} bytes)",
            hs.server_bytes
        ),
    )
    .with_evidence(ev)
}

/// Fetch CRLs over HTTP along `route`; returns the parsed lists and revocation.unreachable findings.
pub async fn fetch_crls(
    config: &ClientConfig,
    route: &Route,
    urls: &[String],
) -> (Vec<webpki::OwnedCertRevocationList>, Vec<Finding>) {
    let mut crls = Vec::new();
    let mut bad = Vec::new();
    for url in urls.iter().take(4) {
        match fetch_body(config, route, url).await {
            Ok(body) => match webpki::OwnedCertRevocationList::from_der(&body) {
                Ok(c) => crls.push(c),
                Err(e) => tracing::debug!(%url, error = %e, "CRL does not parse"),
            },
            Err(f) => bad.push(
                Finding::new(
                    codes::REVOCATION_UNREACHABLE,
                    url,
                    format!("CRL {url} is unreachable ({})", f.code),
                )
                .with_all_evidence(f.evidence),
            ),
        }
    }
    (crls, bad)
}

/// Ask the leaf's OCSP responders (by GET, along `route`) about it: whether one says revoked, the
/// revocation.unreachable findings, and the evidence of each answer.
async fn ask_ocsp(
    config: &ClientConfig,
    route: &Route,
    leaf: &[u8],
    issuer: &[u8],
    urls: &[String],
) -> (bool, Vec<Finding>, Vec<Evidence>) {
    let Ok(request) = ocsp::request(leaf, issuer) else {
        return (false, Vec::new(), Vec::new());
    };
    let mut bad = Vec::new();
    let mut evidence = Vec::new();
    for url in urls.iter().take(2) {
        let start = Instant::now();
        let tried = format!("OCSP GET {url} ({route})");
        match fetch_body(config, route, &ocsp::get_url(url, &request)).await {
            Ok(body) => {
                let said = match ocsp::status(&body, leaf, issuer) {
                    Ok(status) => format!("{status:?}"),
                    Err(e) => e.to_string(),
                };
                evidence.push(Evidence::new(tried, said, start.elapsed()));
                if ocsp::status(&body, leaf, issuer) == Ok(ocsp::OcspStatus::Revoked) {
                    return (true, bad, evidence);
                }
            }
            Err(f) => bad.push(
                Finding::new(
                    codes::REVOCATION_UNREACHABLE,
                    url,
                    format!("OCSP responder {url} is unreachable ({})", f.code),
                )
                .with_all_evidence(f.evidence),
            ),
        }
    }
    (false, bad, evidence)
}

/// GET a URL and read its whole body (bounded to 1 MiB); Err is the finding that explains the failure.
pub async fn fetch_body(
    config: &ClientConfig,
    route: &Route,
    url: &str,
) -> Result<Vec<u8>, Finding> {
    use tokio::io::AsyncReadExt;
    let Some((false, host, port, path)) = net::split_url(url) else {
        return Err(Finding::new(
            codes::CONFIG_CONFIG_INVALID,
            url,
            format!("{url} is not an http:// URL"),
        ));
    };
    let (mut io, _) = net::open(config, route, &host, port).await.map_err(|f| {
        f.into_iter()
            .next()
            .unwrap_or_else(|| Finding::new(codes::NET_TCP_REFUSED, url, "unreachable"))
    })?;
    let start = Instant::now();
    let head = net::http_get(&mut io, &host, &path, config.io_timeout)
        .await
        .map_err(|e| {
            Finding::new(codes::NET_TCP_RESET, url, format!("{url}: {e}"))
                .with_evidence(Evidence::new(format!("GET {url}"), e, start.elapsed()))
        })?;
    if head.status != 200 {
        return Err(Finding::new(
            codes::APP_UNREACHABLE,
            url,
            format!("{url} answered {}", head.status),
        )
        .with_evidence(Evidence::new(
            format!("GET {url}"),
            format!("HTTP {}", head.status),
            start.elapsed(),
        )));
    }
    let mut body = head.rest.clone();
    let limit = 1024 * 1024;
    let read = async {
        let mut chunk = [0u8; 8192];
        // Bounded by the size limit; the server closes (Connection: close).
        while body.len() < limit {
            match io.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => body.extend_from_slice(&chunk[..n]),
            }
        }
    };
    let _ = tokio::time::timeout(config.io_timeout, read).await;
    let length = head
        .all("Content-Length")
        .first()
        .and_then(|v| v.trim().parse::<usize>().ok());
    if let Some(n) = length {
        body.truncate(n);
    }
    Ok(body)
}
