//! The URL probe: path, TLS handshake, chain, revocation, client certificate, HTTP answer.

use std::time::Instant;

use rustls::AlertDescription;

use super::{rate, tls_block};
use crate::check::codes;
use crate::check::config::ClientConfig;
use crate::check::finding::{Evidence, Finding};
use crate::check::transport::exchange;
use crate::check::transport::route::Route;
use crate::check::transport::tcp::BoxIo;
use crate::check::transport::tls::{self, Handshake, HsOutcome};
use crate::check::transport::url::split_url;
use crate::check::verify::chain::{self, Verdict};
use crate::check::verify::{certinfo, connect, revocation};

/// Probe an `https://` or `http://` URL along `route`.
pub async fn probe_url(config: &ClientConfig, route: &Route, url: &str) -> Vec<Finding> {
    let Some((https, host, port, path)) = split_url(url) else {
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
) -> (Option<exchange::Answer>, Vec<Finding>) {
    let target = format!("{host}:{port}");
    let (io, mut out) = match connect::open(config, route, host, port).await {
        Ok(x) => x,
        Err(f) => return (None, f),
    };
    let start = Instant::now();
    match exchange::get(io, host, path, config.io_timeout).await {
        Ok(mut answer) => {
            if let Some(last) = out.last_mut() {
                last.evidence.push(Evidence::new(
                    format!("GET http://{target}{path} ({route})"),
                    format!("HTTP {} {}", answer.status, answer.reason),
                    start.elapsed(),
                ));
            }
            out.extend(rate::slow_body(&mut answer, &target, start, config.io_timeout).await);
            (Some(answer), out)
        }
        Err(exchange::Failure { why, .. }) => {
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
    let (io, mut out) = match connect::open(config, route, host, port).await {
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
            out.push(tls_block::version_mismatch(config, route, host, port, ev).await)
        }
        HsOutcome::Cut(_) => out.push(tls_block::cut(config, route, host, port, &hs, ev).await),
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
            let (crls, unreachable) = revocation::fetch_crls(config, route, &l.crl_urls).await;
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
                    revocation::ask_ocsp(config, route, &hs.chain[0], issuer, &l.ocsp_urls).await;
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
    let io: BoxIo = Box::new(stream);
    let start = Instant::now();
    let mut answer = exchange::get(io, host, path, config.io_timeout).await;
    let ev = Evidence::new(
        format!("GET https://{target}{path}"),
        match &answer {
            Ok(h) => format!("HTTP {} {}", h.status, h.reason),
            Err(e) => e.why.clone(),
        },
        start.elapsed(),
    );
    let alert = answer.as_ref().err().and_then(|f| f.alert);
    let slow = match &mut answer {
        Ok(answer) => rate::slow_body(answer, &target, start, config.io_timeout).await,
        Err(_) => None,
    };
    let answer = answer.map_err(|f| f.why);
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
    out.extend(slow);
    out
}

/// The finding for a server that asked for a client certificate and ended the session with
/// `alert`: lost through an interception, rejected, or missing.
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
