//! Diagnostic checks: what a careful engineer runs, as code.
//!
//! Checks see only what a real client sees (addresses, sockets, handshakes, HTTP answers, files); they
//! never import from the lab, so the same checks run against a real network. [`run`] is the entry point.
//!
//! The modules sit in layers that import only downwards (kept by `tests/check_boundary.rs`):
//! the model ([`config`], [`finding`], [`codes`], [`taxonomy`], [`report`]); `transport` (DNS, TCP, the
//! proxy tunnel, HTTP heads, TLS handshakes); `verify` (certificate facts, chains, revocation);
//! [`artifacts`] (readers of the files a diagnosis starts from); `probe` (each check); and the dispatch
//! (`router` and [`run`] here).

pub mod artifacts;
pub mod codes;
pub mod config;
pub mod finding;
#[doc(hidden)]
pub mod fuzzing;
pub(crate) mod probe;
pub mod report;
pub(crate) mod router;
pub mod taxonomy;
pub(crate) mod transport;
pub(crate) mod verify;

pub use config::*;
pub use finding::{Code, Evidence, Finding, Report, Severity};
pub use probe::connector::{
    connector_endpoints, RequiredEndpoint, SAMPLE_LABEL, SERVICEBUS_DIRECT_PORTS,
};
/// The PAC engine, for readers of a customer's PAC file (`egresslab triage`): bounded by its time limit.
pub use probe::pac::{evaluate as evaluate_pac, PacError, PacRoute};
pub use probe::repeat::MAX_ATTEMPTS as MAX_REPEAT_ATTEMPTS;
pub use transport::proxy::ProxyUrl;
pub use transport::url::{split_host_port, split_url};

use std::time::{Duration, Instant};

use futures_util::stream::{self, StreamExt};

use probe::{connector, https, repeat, vpn};
use transport::{exchange, tls};
use verify::connect;

/// How many probes run at once.
const CONCURRENCY: usize = 8;

/// Run `probes` with the client `config` and gather every finding. Independent probes run concurrently;
/// the report keeps probe order.
pub async fn run(config: &ClientConfig, probes: &[Probe]) -> Report {
    let start = Instant::now();
    let (router, mut findings) = router::Router::discover(config).await;
    let router = &router;
    let results: Vec<Vec<Finding>> =
        stream::iter(probes.iter().map(|p| run_probe(config, router, p)))
            .buffered(CONCURRENCY)
            .collect()
            .await;
    findings.extend(results.into_iter().flatten());
    Report {
        findings,
        elapsed: start.elapsed(),
    }
}

async fn run_probe(config: &ClientConfig, router: &router::Router, probe: &Probe) -> Vec<Finding> {
    match probe {
        Probe::Url { url } => {
            let host = split_url(url).map(|(_, h, _, _)| h).unwrap_or_default();
            let (route, mut out) = router.route(config, url, &host).await;
            let found = https::probe_url(config, &route, url).await;
            out.extend(connector::signin_unreachable(&host, &found));
            out.extend(found);
            out
        }
        Probe::Repeat { url, attempts } => {
            let host = split_url(url).map(|(_, h, _, _)| h).unwrap_or_default();
            let (route, mut out) = router.route(config, url, &host).await;
            out.extend(repeat::probe(config, &route, url, *attempts).await);
            out
        }
        Probe::Tcp { host, port } => {
            // Through the configured proxy a port test is a CONNECT to host:port, as the connector's.
            let scheme = if *port == 443 { "https" } else { "http" };
            let url = format!("{scheme}://{host}:{port}/");
            let (route, mut out) = router.route(config, &url, host).await;
            match connect::open(config, &route, host, *port).await {
                Ok((_, f)) | Err(f) => out.extend(f),
            }
            out
        }
        Probe::ServiceBus { host } => {
            let url = format!("https://{host}/");
            let (route, mut out) = router.route(config, &url, host).await;
            out.extend(connector::probe_servicebus(config, &route, host).await);
            out
        }
        Probe::ConnectorEndpoints => {
            let routes = router.matrix_routes(config).await;
            connector::probe_matrix(config, |h| {
                routes
                    .iter()
                    .find(|(n, _)| n == h)
                    .map(|(_, r)| r.clone())
                    .unwrap_or_else(|| router.fixed())
            })
            .await
        }
        Probe::Revocation { urls } => revocation(config, router, urls).await,
        Probe::Backend {
            url,
            default_timeout,
            long_timeout,
        } => backend(config, router, url, *default_timeout, *long_timeout).await,
        Probe::Ike { host, ports } => vpn::probe_ike(config, host, ports).await,
        Probe::VpnServer { host } => vpn::probe_server_cert(config, host).await,
        Probe::MachineCertificate { store } => vpn::probe_machine_cert(store),
        Probe::Artifact { kind, path, store } => {
            let opts = artifacts::ReadOptions {
                store: store.clone(),
                ..Default::default()
            };
            artifacts::read(*kind, path, &opts)
        }
    }
}

async fn revocation(
    config: &ClientConfig,
    router: &router::Router,
    urls: &[String],
) -> Vec<Finding> {
    // Reachable means the host answers HTTP on its port: an OCSP responder answers a bare GET with an
    // error status, which still proves the path; the status is kept as evidence.
    let jobs = urls.iter().map(|url| async move {
        let Some((false, host, port, path)) = split_url(url) else {
            let f = Finding::new(
                codes::CONFIG_CONFIG_INVALID,
                url.as_str(),
                format!("{url} is not an http:// URL"),
            );
            return (url, Err(f));
        };
        let (route, _) = router.route(config, url, &host).await;
        let start = std::time::Instant::now();
        let (head, findings) = https::probe_http(config, &route, &host, port, &path).await;
        let answer = match head {
            Some(head) => Ok(Evidence::new(
                format!("GET {url} ({route})"),
                format!("HTTP {} {}", head.status, head.reason),
                start.elapsed(),
            )),
            None => Err(findings
                .into_iter()
                .rfind(|f| f.severity == Severity::Error)
                .unwrap_or_else(|| Finding::new(codes::NET_TCP_RESET, url.as_str(), "no answer"))),
        };
        (url, answer)
    });
    let results: Vec<_> = stream::iter(jobs).buffered(CONCURRENCY).collect().await;
    let mut out = Vec::new();
    let mut bad = Vec::new();
    for (url, r) in results {
        match r {
            Ok(ev) => out.push(
                Finding::new(
                    codes::REVOCATION_REACHABLE,
                    url.as_str(),
                    format!("{url} answers on port 80 ({})", ev.what_came_back),
                )
                .with_evidence(ev),
            ),
            Err(f) => bad.push((url.clone(), f)),
        }
    }
    if !bad.is_empty() {
        let names: Vec<String> = bad
            .iter()
            .map(|(u, _)| {
                split_url(u)
                    .map(|(_, h, p, _)| format!("{h}:{p}"))
                    .unwrap_or_else(|| u.clone())
            })
            .collect();
        let mut f = Finding::new(
            codes::REVOCATION_UNREACHABLE,
            names.join(", "),
            format!("revocation endpoints unreachable: {}", names.join(", ")),
        );
        for (u, why) in bad {
            f.evidence.push(Evidence::new(
                format!("GET {u}"),
                format!("{}: {}", why.code, why.summary),
                Duration::ZERO,
            ));
            f.evidence.extend(why.evidence);
        }
        out.push(f);
    }
    out
}

async fn backend(
    config: &ClientConfig,
    router: &router::Router,
    url: &str,
    default_timeout: Duration,
    long_timeout: Duration,
) -> Vec<Finding> {
    let Some((https, host, port, path)) = split_url(url) else {
        return vec![Finding::new(
            codes::CONFIG_CONFIG_INVALID,
            url,
            format!("{url} is not an http(s) URL"),
        )];
    };
    let (route, mut out) = router.route(config, url, &host).await;
    let (mut io, _) = match connect::open(config, &route, &host, port).await {
        Ok(x) => x,
        Err(f) => {
            out.push(
                Finding::new(
                    codes::APP_UNREACHABLE,
                    url,
                    format!("the application {url} cannot be reached ({route})"),
                )
                .with_all_evidence(f.iter().flat_map(|x| x.evidence.clone())),
            );
            out.extend(f);
            return out;
        }
    };
    let start = Instant::now();
    if https {
        let hs = tls::handshake(config, io, &host, config.tls_versions, true).await;
        match hs.stream {
            Some(s) => io = Box::new(s),
            None => {
                out.push(Finding::new(
                    codes::APP_UNREACHABLE,
                    url,
                    format!("TLS to {url} failed: {}", tls::describe(&hs.outcome)),
                ));
                return out;
            }
        }
    }
    let answer = exchange::get(io, &host, &path, long_timeout)
        .await
        .map_err(|f| f.why);
    let took = start.elapsed();
    let ev = Evidence::new(
        format!("GET {url} ({route})"),
        match &answer {
            Ok(h) => format!("HTTP {} {}", h.status, h.reason),
            Err(e) => e.clone(),
        },
        took,
    );
    let f = match answer {
        Ok(_) if took <= default_timeout => Finding::new(codes::APP_OK, url, format!("{url} answered in {took:.2?}, within the default back-end time-out of {default_timeout:?} ({route})")),
        Ok(_) => Finding::new(
            codes::APP_BACKEND_TIMEOUT,
            url,
            format!("{url} answered in {took:.2?}: slower than the default back-end time-out ({default_timeout:?}), within the long one ({long_timeout:?}); set Backend Application Timeout to Long"),
        ),
        Err(why) if why.starts_with(exchange::NO_ANSWER) => Finding::new(codes::APP_NO_ANSWER, url, format!("{url} accepted the connection but gave no answer within the long back-end time-out ({long_timeout:?}): a very slow path or a hung application, not a dead host ({route})")),
        Err(why) => Finding::new(codes::APP_UNREACHABLE, url, format!("{url} accepted the connection, then gave no answer: {why} ({route})")),
    };
    out.push(f.with_evidence(ev));
    out
}
