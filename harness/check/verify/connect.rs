//! Opening a stream for the checks above the transport: the transport's failures, with an `https://`
//! proxy's refused certificate judged here (the exact pki.* reason about the proxy), and fetching a
//! small HTTP body (CRLs, OCSP answers, PAC files) along a route.

use std::time::{Duration, Instant};

use super::certinfo;
use super::chain::{self, Verdict};
use crate::check::codes;
use crate::check::config::ClientConfig;
use crate::check::finding::{Evidence, Finding};
use crate::check::transport::exchange;
use crate::check::transport::proxy::{OpenError, RefusedCertificate};
use crate::check::transport::route::{self, Route};
use crate::check::transport::tcp::BoxIo;
use crate::check::transport::url::split_url;

/// Open a byte stream to (host, port) along `route`. Err carries the findings that explain the failure.
pub(crate) async fn open(
    config: &ClientConfig,
    route: &Route,
    host: &str,
    port: u16,
) -> Result<(BoxIo, Vec<Finding>), Vec<Finding>> {
    route::open(config, route, host, port)
        .await
        .map_err(|e| match e {
            OpenError::Findings(found) => found,
            OpenError::ProxyCertificate(refused) => vec![proxy_certificate(config, &refused)],
        })
}

/// The proxy's certificate was refused: name the exact pki.* reason (untrusted root, expired, name
/// mismatch ...) about the proxy, as for any server.
fn proxy_certificate(config: &ClientConfig, refused: &RefusedCertificate) -> Finding {
    let proxy = &refused.proxy;
    let pt = proxy.to_string();
    let ev = Evidence::new(
        format!("TLS handshake with proxy {pt}"),
        refused.error.clone(),
        Duration::ZERO,
    );
    let verdict = chain::verify(chain::Trust::of(config), &proxy.host, &refused.chain, &[]);
    let leaf = refused.chain.first().and_then(|c| certinfo::facts(c));
    let f = if verdict == Verdict::Ok {
        Finding::new(
            codes::PROXY_UNREACHABLE,
            &pt,
            format!("TLS to proxy {pt} failed: {}", refused.error),
        )
    } else {
        chain::pki_finding(&format!("proxy {pt}"), &verdict, leaf.as_ref())
    };
    f.with_evidence(ev)
}

/// GET a URL and read its whole body (bounded to 1 MiB); Err is the finding that explains the failure.
pub(crate) async fn fetch_body(
    config: &ClientConfig,
    route: &Route,
    url: &str,
) -> Result<Vec<u8>, Finding> {
    let Some((false, host, port, path)) = split_url(url) else {
        return Err(Finding::new(
            codes::CONFIG_CONFIG_INVALID,
            url,
            format!("{url} is not an http:// URL"),
        ));
    };
    let (io, _) = open(config, route, &host, port).await.map_err(|f| {
        f.into_iter()
            .next()
            .unwrap_or_else(|| Finding::new(codes::NET_TCP_REFUSED, url, "unreachable"))
    })?;
    let start = Instant::now();
    let mut answer = exchange::get(io, &host, &path, config.io_timeout)
        .await
        .map_err(|exchange::Failure { why: e, .. }| {
            Finding::new(codes::NET_TCP_RESET, url, format!("{url}: {e}"))
                .with_evidence(Evidence::new(format!("GET {url}"), e, start.elapsed()))
        })?;
    if answer.status != 200 {
        return Err(Finding::new(
            codes::APP_UNREACHABLE,
            url,
            format!("{url} answered {}", answer.status),
        )
        .with_evidence(Evidence::new(
            format!("GET {url}"),
            format!("HTTP {}", answer.status),
            start.elapsed(),
        )));
    }
    // Bounded by the size limit and the I/O time-out; hyper ends the body where its framing does.
    Ok(answer.collect(1 << 20, config.io_timeout).await)
}
