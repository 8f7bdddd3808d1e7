//! Which route each URL takes: fixed (direct or an explicit proxy), or decided by a PAC script found
//! directly or through WPAD. Discovery problems become findings.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use super::codes;
use super::config::{ClientConfig, ProxySetting};
use super::finding::{Evidence, Finding};
use super::probe::connector;
use super::probe::pac::{self, PacRoute};
use super::transport::dns::{self, Resolution};
use super::transport::proxy::{self, ProxyUrl};
use super::transport::route::Route;
use super::verify::connect;

/// The route decider of one run.
#[derive(Debug)]
pub struct Router {
    mode: Mode,
    reported: Mutex<HashSet<String>>,
    /// The PAC script ran past its time limit once.
    hung: AtomicBool,
}

#[derive(Debug)]
enum Mode {
    Fixed(Route),
    Pac { source: String, script: String },
}

impl Router {
    /// Set up from the client's proxy setting (fetching the PAC script once).
    pub async fn discover(config: &ClientConfig) -> (Router, Vec<Finding>) {
        let (mode, findings) = match &config.proxy {
            ProxySetting::Direct => (Mode::Fixed(Route::Direct), vec![]),
            ProxySetting::Url(u) => match ProxyUrl::parse(u) {
                Some(p) => (Mode::Fixed(Route::Proxy(p)), vec![]),
                None => (
                    Mode::Fixed(Route::Direct),
                    vec![Finding::new(
                        codes::CONFIG_CONFIG_INVALID,
                        u.as_str(),
                        format!("proxy URL {u} is not http://, https://, socks5:// or socks5h://"),
                    )],
                ),
            },
            ProxySetting::Pac(url) => {
                match connect::fetch_body(config, &Route::Direct, url).await {
                    Ok(body) => (
                        Mode::Pac {
                            source: url.clone(),
                            script: String::from_utf8_lossy(&body).into_owned(),
                        },
                        vec![],
                    ),
                    Err(f) => (
                        Mode::Fixed(Route::Direct),
                        vec![Finding::new(
                            codes::PROXY_PAC_INVALID,
                            url.as_str(),
                            format!("the PAC file {url} cannot be fetched ({})", f.code),
                        )
                        .with_all_evidence(f.evidence)],
                    ),
                }
            }
            ProxySetting::Wpad { suffix } => wpad(config, suffix).await,
        };
        (
            Router {
                mode,
                reported: Mutex::new(HashSet::new()),
                hung: AtomicBool::new(false),
            },
            findings,
        )
    }

    /// The fixed route (direct under PAC).
    pub fn fixed(&self) -> Route {
        match &self.mode {
            Mode::Fixed(r) => r.clone(),
            Mode::Pac { .. } => Route::Direct,
        }
    }

    fn first_time(&self, key: &str) -> bool {
        self.reported
            .lock()
            .map(|mut s| s.insert(key.to_string()))
            .unwrap_or(false)
    }

    /// The route for `url` (host `host`), with any PAC findings not reported before.
    pub async fn route(
        &self,
        config: &ClientConfig,
        url: &str,
        host: &str,
    ) -> (Route, Vec<Finding>) {
        let (source, script) = match &self.mode {
            Mode::Fixed(r) => return (r.clone(), vec![]),
            // A script that ran past its limit once is not run again: every probe would wait for it.
            Mode::Pac { .. } if self.hung.load(Ordering::Relaxed) => {
                return (Route::Direct, vec![])
            }
            Mode::Pac { source, script } => (source.clone(), script.clone()),
        };
        let mut out = Vec::new();
        let start = std::time::Instant::now();
        let routes = evaluate(config, &script, url, host).await;
        let tried = format!("FindProxyForURL({url:?}, {host:?}) from {source}");
        let routes = match routes {
            Ok(r) => r,
            Err(e) => {
                let (code, summary) = match &e {
                    pac::PacError::Timeout { .. } => {
                        self.hung.store(true, Ordering::Relaxed);
                        (
                            codes::PROXY_PAC_TIMEOUT,
                            format!("the PAC script {source} did not finish for {host}: {e}; going direct"),
                        )
                    }
                    _ => (
                        codes::PROXY_PAC_INVALID,
                        format!("the PAC script {source} fails: {e}"),
                    ),
                };
                if self.first_time(&format!("invalid {e}")) {
                    out.push(
                        Finding::new(code, source.as_str(), summary).with_evidence(Evidence::new(
                            tried,
                            e.to_string(),
                            start.elapsed(),
                        )),
                    );
                }
                return (Route::Direct, out);
            }
        };
        let answer = routes
            .iter()
            .map(|r| match r {
                PacRoute::Direct => "DIRECT".to_string(),
                PacRoute::Proxy(p) => format!("PROXY {p}"),
            })
            .collect::<Vec<_>>()
            .join("; ");
        let mut chosen = None;
        for r in &routes {
            match r {
                PacRoute::Direct => {
                    chosen = Some(Route::Direct);
                    break;
                }
                PacRoute::Proxy(p) => match proxy::reachable(config, p).await {
                    Ok(()) => {
                        chosen = Some(Route::Proxy(p.clone()));
                        break;
                    }
                    Err(f) => {
                        if self.first_time(&format!("dead {p}")) {
                            out.push(Finding::new(codes::PROXY_PAC_DEAD_PROXY, p.to_string(), format!("the PAC script {source} names proxy {p}, which is unreachable ({})", f.code)).with_all_evidence(f.evidence));
                        }
                    }
                },
            }
        }
        let route = chosen.unwrap_or_else(|| match routes.last() {
            Some(PacRoute::Proxy(p)) => Route::Proxy(p.clone()),
            _ => Route::Direct,
        });
        if self.first_time(&format!("found {answer}")) {
            out.push(
                Finding::new(
                    codes::PROXY_PAC_FOUND,
                    source.as_str(),
                    format!("the PAC script {source} answers {answer:?} for {host}"),
                )
                .with_evidence(Evidence::new(
                    tried,
                    answer.clone(),
                    start.elapsed(),
                )),
            );
        }
        (route, out)
    }

    /// Routes for every sample host of the connector matrix.
    pub async fn matrix_routes(&self, config: &ClientConfig) -> Vec<(String, Route)> {
        let mut out = Vec::new();
        for ep in connector::connector_endpoints() {
            let host = ep.sample_host();
            let scheme = if ep.port == 443 { "https" } else { "http" };
            let (route, _) = self
                .route(config, &format!("{scheme}://{host}{}", ep.path()), &host)
                .await;
            out.push((host, route));
        }
        out
    }
}

async fn wpad(config: &ClientConfig, suffix: &str) -> (Mode, Vec<Finding>) {
    let host = format!("wpad.{}", suffix.trim_matches('.'));
    let url = format!("http://{host}/wpad.dat");
    // Discovery is the DNS lookup itself, so it is asked even when a `--connect-to` override says
    // where the PAC server really listens.
    let (res, ev) = dns::resolve(config, &host).await;
    if !matches!(res, Resolution::Resolved(_)) {
        return (
            Mode::Fixed(Route::Direct),
            vec![Finding::new(
                codes::PROXY_WPAD_NOT_FOUND,
                host.as_str(),
                format!("{host} does not resolve: no WPAD, the client goes direct"),
            )
            .with_evidence(ev)],
        );
    }
    match connect::fetch_body(config, &Route::Direct, &url).await {
        Ok(body) => (
            Mode::Pac {
                source: url,
                script: String::from_utf8_lossy(&body).into_owned(),
            },
            vec![],
        ),
        Err(f) => (
            Mode::Fixed(Route::Direct),
            vec![Finding::new(
                codes::PROXY_WPAD_NOT_FOUND,
                url.as_str(),
                format!(
                    "{url} is not served ({}): no WPAD, the client goes direct",
                    f.code
                ),
            )
            .with_all_evidence(f.evidence)],
        ),
    }
}

async fn evaluate(
    config: &ClientConfig,
    script: &str,
    url: &str,
    host: &str,
) -> Result<Vec<PacRoute>, pac::PacError> {
    let dns_config = ClientConfig {
        dns_server: config.dns_server,
        io_timeout: config.io_timeout,
        connect_to: config.connect_to.clone(),
        ..Default::default()
    };
    let my_ip = local_ip(config).await;
    let handle = tokio::runtime::Handle::current();
    let resolve = move |h: &str| -> Option<String> {
        if let Some(c) = dns_config
            .connect_to
            .iter()
            .find(|c| c.host.eq_ignore_ascii_case(h))
        {
            return Some(c.address.ip().to_string());
        }
        match handle.block_on(dns::resolve(&dns_config, h)).0 {
            Resolution::Resolved(ips) => ips
                .iter()
                .find(|i| i.is_ipv4())
                .or(ips.first())
                .map(ToString::to_string),
            _ => None,
        }
    };
    pac::evaluate_bounded(
        script.to_string(),
        url.to_string(),
        host.to_string(),
        my_ip,
        config.io_timeout,
        resolve,
    )
    .await
}

/// The client's own address as myIpAddress() reports it (the source address toward the DNS server, or
/// loopback).
async fn local_ip(config: &ClientConfig) -> String {
    let target = config
        .dns_server
        .map(|s| s.to_string())
        .unwrap_or_else(|| "127.0.0.1:53".into());
    match tokio::net::UdpSocket::bind("0.0.0.0:0").await {
        Ok(s) => match s.connect(&target).await {
            Ok(()) => s
                .local_addr()
                .map(|a| a.ip().to_string())
                .unwrap_or_else(|_| "127.0.0.1".into()),
            Err(_) => "127.0.0.1".into(),
        },
        Err(_) => "127.0.0.1".into(),
    }
}
