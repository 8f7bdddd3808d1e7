//! Why a TLS handshake did not complete although TCP works: no version in common, TLS 1.2 (or later)
//! ClientHellos killed on the path, or the server's SHA-512-signed certificate blocked by a middlebox.
//! Each is told apart by further handshakes that change one thing at a time.

use rustls::AlertDescription;

use crate::check::codes;
use crate::check::config::{ClientConfig, TlsVersions};
use crate::check::finding::{Evidence, Finding};
use crate::check::transport::route::Route;
use crate::check::transport::tls::{self, Handshake, HsOutcome};
use crate::check::verify::{certinfo, connect};

pub(crate) fn version_label(v: TlsVersions) -> &'static str {
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
    let (io, _) = connect::open(config, route, host, port).await.ok()?;
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
    let (io, _) = connect::open(config, route, host, port).await.ok()?;
    Some(tls::handshake_offering(config, io, host, v, false, family).await)
}

/// The finding for a handshake refused for its version: which versions the server accepts.
pub(crate) async fn version_mismatch(
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

/// The finding for a handshake cut by the peer or the path: TLS 1.2 blocked, SHA-512 blocked, or a
/// plain reset.
pub(crate) async fn cut(
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
