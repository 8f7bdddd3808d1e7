//! Proxy tunnels: connect to the proxy (plain or TLS), send CONNECT, classify the answer.

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use tokio::io::{AsyncWriteExt, BufReader};

use rustls_pki_types::CertificateDer;

use super::http;
use super::tcp::{self, BoxIo, TcpOutcome};
use super::tls;
use super::url::split_host_port;
use super::{digest_client, ntlm_client};
use crate::check::codes;
use crate::check::config::{ClientConfig, ProxyAuthKind, SocksResolve, TlsVersions};
use crate::check::finding::{Evidence, Finding};

/// A parsed proxy URL (`http://`, `https://`, `socks5://` or `socks5h://` `host:port`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyUrl {
    /// TLS to the proxy itself.
    pub https: bool,
    /// A SOCKS5 proxy, and who resolves names through it; `None` for an HTTP proxy.
    pub socks: Option<SocksResolve>,
    /// Proxy host.
    pub host: String,
    /// Proxy port.
    pub port: u16,
}

impl std::fmt::Display for ProxyUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = match (self.socks, self.https) {
            (Some(SocksResolve::Proxy), _) => "socks5h",
            (Some(SocksResolve::Client), _) => "socks5",
            (None, true) => "https",
            (None, false) => "http",
        };
        write!(f, "{scheme}://{}:{}", self.host, self.port)
    }
}

impl ProxyUrl {
    /// Parse `http://host:port`, `https://host:port`, `socks5://host:port` (the client resolves
    /// names), `socks5h://host:port` (the proxy does) or bare `host:port` (http, default port
    /// 8080; SOCKS defaults to 1080).
    pub fn parse(s: &str) -> Option<ProxyUrl> {
        let s = s.trim().trim_end_matches('/');
        let (https, socks, rest) = if let Some(r) = s.strip_prefix("https://") {
            (true, None, r)
        } else if let Some(r) = s.strip_prefix("http://") {
            (false, None, r)
        } else if let Some(r) = s.strip_prefix("socks5h://") {
            (false, Some(SocksResolve::Proxy), r)
        } else if let Some(r) = s.strip_prefix("socks5://") {
            (false, Some(SocksResolve::Client), r)
        } else if s.contains("://") {
            return None;
        } else {
            (false, None, s)
        };
        let rest = rest.rsplit('@').next().unwrap_or(rest);
        let default = match (socks, https) {
            (Some(_), _) => 1080,
            (None, true) => 443,
            (None, false) => 8080,
        };
        let (host, port) = split_host_port(rest, default)?;
        Some(ProxyUrl {
            https,
            socks,
            host,
            port,
        })
    }
}

/// Connect to the HTTP(S) proxy and open a CONNECT tunnel to (host, port).
pub async fn tunnel(
    config: &ClientConfig,
    proxy: &ProxyUrl,
    host: &str,
    port: u16,
) -> Result<(BoxIo, Vec<Finding>), OpenError> {
    let target = format!("{host}:{port}");
    let io = connect_proxy(config, proxy).await?;
    let start = Instant::now();
    let mut io = BufReader::new(io);
    let credentials = config
        .proxy_credentials
        .as_ref()
        .map(|(user, pass)| (config.proxy_auth, user.as_str(), pass.as_str()));
    let first = match credentials {
        Some((ProxyAuthKind::Ntlm, _, _)) => Some(ntlm_client::first_token()),
        Some((ProxyAuthKind::Basic, user, pass)) => Some(format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
        )),
        // Digest answers the proxy's challenge; the first request goes without.
        Some((ProxyAuthKind::Digest, _, _)) | None => None,
    };
    let tried = format!(
        "CONNECT {target} via {proxy}{}",
        match credentials {
            Some((ProxyAuthKind::Ntlm, user, _)) => format!(" (NTLM handshake as {user})"),
            Some((ProxyAuthKind::Digest, user, _)) => format!(" (Digest as {user})"),
            Some((ProxyAuthKind::Basic, _, _)) => " (Basic credentials sent)".to_owned(),
            None => String::new(),
        }
    );
    let mut answered_challenge = None;
    let exchange = async {
        let head = send_connect(&mut io, &target, first.as_deref()).await?;
        let answer = match credentials {
            Some((ProxyAuthKind::Ntlm, user, pass)) => ntlm_client::answer(&head, user, pass)?,
            Some((ProxyAuthKind::Digest, user, pass)) => {
                digest_client::answer(&head, user, pass, &target)
            }
            _ => None,
        };
        let (Some(answer), Some((kind, _, _))) = (answer, credentials) else {
            return Ok(head);
        };
        drain_body(&mut io, &head).await?;
        answered_challenge = Some(kind);
        let answered = send_connect(&mut io, &target, Some(&answer)).await;
        match kind {
            // NTLM authenticates the connection: losing it between the legs is the failure.
            ProxyAuthKind::Ntlm => {
                answered.map_err(|why| format!("{}: {why}", ntlm_client::CHALLENGE_LOST))
            }
            _ => answered,
        }
    };
    let answer = tokio::time::timeout(config.io_timeout, exchange).await;
    let elapsed = start.elapsed();
    let head = match answer {
        Err(_) => {
            let summary = format!("proxy {proxy} did not answer CONNECT {target}");
            return Err(no_answer(config, tried, elapsed, &target, summary));
        }
        Ok(Err(why)) => {
            let ev = Evidence::new(tried, why.clone(), elapsed);
            let (code, summary) = if why.starts_with(ntlm_client::CHALLENGE_LOST) {
                (
                    codes::PROXY_AUTH_CHALLENGE_LOST,
                    format!(
                        "proxy {proxy} (or a device in front of it) closed the connection between its NTLM challenge and the client's answer for {target}: NTLM needs the whole handshake on one connection"
                    ),
                )
            } else if why.starts_with(http::NOT_HTTP) {
                (
                    codes::PROXY_GARBAGE,
                    format!(
                        "proxy {proxy} answered CONNECT {target} with something that is not HTTP"
                    ),
                )
            } else {
                (
                    codes::PROXY_CLOSED,
                    format!(
                        "proxy {proxy} closed the connection without answering CONNECT {target}"
                    ),
                )
            };
            return Err(OpenError::Findings(vec![Finding::new(
                code, &target, summary,
            )
            .with_evidence(ev)]));
        }
        Ok(Ok(head)) => head,
    };
    let ev = Evidence::new(
        tried,
        format!("HTTP {} {}", head.status, head.reason),
        elapsed,
    );
    if head.status == 200 {
        if !head.rest.is_empty() {
            tracing::debug!(
                bytes = head.rest.len(),
                "proxy sent bytes after 200; dropped"
            );
        }
        let ok = Finding::new(
            codes::PROXY_CONNECT_OK,
            &target,
            format!("proxy {proxy} tunnels to {target}"),
        )
        .with_evidence(ev);
        return Ok((Box::new(io), vec![ok]));
    }
    if let (407, Some(kind)) = (head.status, answered_challenge) {
        let scheme = match kind {
            ProxyAuthKind::Ntlm => "completed the NTLM handshake",
            _ => "read the Digest response",
        };
        return Err(OpenError::Findings(vec![Finding::new(
            codes::PROXY_AUTH_REJECTED,
            &target,
            format!(
                "proxy {proxy} {scheme} for {target} and refused the credentials (407 again): wrong password, unknown user or another domain"
            ),
        )
        .with_evidence(ev)]));
    }
    let mut head = head;
    if matches!(head.status, 502 | 503) {
        // The error page says why (the address tried, the system's error): read it, bounded.
        let _ = tokio::time::timeout(config.io_timeout, read_page(&mut io, &mut head)).await;
    }
    Err(OpenError::Findings(vec![classify_refusal(
        proxy, host, port, &head,
    )
    .with_evidence(ev)]))
}

/// The proxy did not answer within the client's I/O time-out: `proxy.slow`.
pub(super) fn no_answer(
    config: &ClientConfig,
    tried: String,
    elapsed: Duration,
    target: &str,
    summary: String,
) -> OpenError {
    let ev = Evidence::new(
        tried,
        format!("no answer within {:?}", config.io_timeout),
        elapsed,
    );
    OpenError::Findings(vec![
        Finding::new(codes::PROXY_SLOW, target, summary).with_evidence(ev)
    ])
}

/// Largest error page read after a 502 or 503.
const PAGE_LIMIT: u64 = 64 * 1024;

/// Append the rest of the error page `head` announces (at most [`PAGE_LIMIT`]) to `head.rest`.
async fn read_page(io: &mut BufReader<BoxIo>, head: &mut http::HttpHead) {
    use tokio::io::AsyncReadExt;
    let wanted = http::content_length(&head.headers)
        .unwrap_or(PAGE_LIMIT)
        .min(PAGE_LIMIT);
    let mut chunk = [0u8; 8192];
    while (head.rest.len() as u64) < wanted {
        match io.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.rest.extend_from_slice(&chunk[..n]),
        }
    }
}

/// Whether a 502/503 says the proxy has no IPv6 path: the connect failed with "Network is
/// unreachable" (errno 101, in `X-Squid-Error` or the page) and the address it names is IPv6
/// (Squid's page reads "Connection to fd00::1 failed.").
fn no_ipv6_path(head: &http::HttpHead) -> bool {
    let page = String::from_utf8_lossy(&head.rest);
    let unreachable = head
        .all("X-Squid-Error")
        .iter()
        .any(|e| e.trim() == "ERR_CONNECT_FAIL 101")
        || page.contains("Network is unreachable");
    let names_v6 = page
        .split(|c: char| !(c.is_ascii_hexdigit() || c == ':' || c == '.'))
        .map(|word| word.trim_end_matches('.'))
        .any(|word| word.contains(':') && word.parse::<std::net::Ipv6Addr>().is_ok());
    unreachable && names_v6
}

/// Send `CONNECT target` (with `Proxy-Authorization: authorization`, if any) and read the answer's
/// head.
async fn send_connect(
    io: &mut BufReader<BoxIo>,
    target: &str,
    authorization: Option<&str>,
) -> Result<http::HttpHead, String> {
    let mut req =
        format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\nUser-Agent: egresslab-check\r\n");
    if let Some(value) = authorization {
        req.push_str(&format!("Proxy-Authorization: {value}\r\n"));
    }
    req.push_str("\r\n");
    io.write_all(req.as_bytes())
        .await
        .map_err(|e| format!("write failed: {e}"))?;
    io.flush().await.map_err(|e| format!("write failed: {e}"))?;
    http::read_head(io).await
}

/// Read and drop the body `head` announces (a 407's error page), at most 1 MiB, so the next
/// request on the connection starts clean.
async fn drain_body(io: &mut BufReader<BoxIo>, head: &http::HttpHead) -> Result<(), String> {
    use tokio::io::AsyncReadExt;
    let wanted = http::content_length(&head.headers)
        .unwrap_or(0)
        .min(1 << 20);
    let mut have = head.rest.len() as u64;
    let mut chunk = [0u8; 8192];
    while have < wanted {
        match io.read(&mut chunk).await {
            Ok(0) => return Err("closed in the middle of the 407 body".to_owned()),
            Ok(n) => have += n as u64,
            Err(e) => return Err(format!("read failed: {e}")),
        }
    }
    Ok(())
}

/// The finding for a CONNECT answer other than 200.
pub fn classify_refusal(proxy: &ProxyUrl, host: &str, port: u16, head: &http::HttpHead) -> Finding {
    let target = format!("{host}:{port}");
    let status = head.status;
    match status {
        407 => {
            let schemes: Vec<String> = head
                .all("Proxy-Authenticate")
                .iter()
                .map(|v| v.split_whitespace().next().unwrap_or("").to_string())
                .filter(|s| !s.is_empty())
                .collect();
            let listed = if schemes.is_empty() {
                "no scheme named".to_string()
            } else {
                schemes.join(", ")
            };
            Finding::new(
                codes::PROXY_AUTH_REQUIRED,
                &target,
                format!("proxy {proxy} requires authentication for {target} (407; offers {listed}); the connector cannot authenticate to proxies"),
            )
        }
        403 if port == 80 => Finding::new(
            codes::PROXY_PORT80_REFUSED,
            &target,
            format!("proxy {proxy} refuses to tunnel to port 80 ({target}, 403)"),
        ),
        403 => Finding::new(
            codes::PROXY_DENIED,
            &target,
            format!("proxy {proxy} denies {host} (403)"),
        ),
        // Squid 5.7 answers 500 ERR_CANNOT_FORWARD when it finds no address to forward to (a name
        // that does not resolve): its own failure to reach the target, like a 502 or 503.
        500 if squid_error(head).is_some_and(|e| e.starts_with("ERR_CANNOT_FORWARD")) => {
            bad_gateway(proxy, &target, head)
        }
        502 | 503 if no_ipv6_path(head) => Finding::new(
            codes::PROXY_NO_IPV6_PATH,
            &target,
            format!(
                "proxy {proxy} answered {status} {}: it has no IPv6 path (Network is unreachable) and {target} has only an IPv6 address",
                head.reason
            ),
        ),
        502 | 503 => bad_gateway(proxy, &target, head),
        504 => Finding::new(
            codes::PROXY_GATEWAY_TIMEOUT,
            &target,
            format!("proxy {proxy} timed out reaching {target} (504)"),
        ),
        _ => Finding::new(
            codes::PROXY_REFUSED_OTHER,
            &target,
            format!(
                "proxy {proxy} answered CONNECT {target} with {status} {}",
                head.reason
            ),
        ),
    }
}

/// The answer's first `X-Squid-Error` value (`ERR_CANNOT_FORWARD 0`), if it has one.
fn squid_error(head: &http::HttpHead) -> Option<&str> {
    head.all("X-Squid-Error").first().copied()
}

/// The finding for an answer in which the proxy says it, not the client's network, failed to
/// reach `target`.
fn bad_gateway(proxy: &ProxyUrl, target: &str, head: &http::HttpHead) -> Finding {
    let squid = squid_error(head)
        .map(|e| format!(", X-Squid-Error: {e}"))
        .unwrap_or_default();
    Finding::new(
        codes::PROXY_BAD_GATEWAY,
        target,
        format!(
            "proxy {proxy} answered {} {}{squid}: the proxy, not your network, failed to reach {target}",
            head.status, head.reason
        ),
    )
}

/// Open the connection to the proxy itself (TLS for `https://` proxies, trusting `config.trust`).
pub(super) async fn connect_proxy(
    config: &ClientConfig,
    proxy: &ProxyUrl,
) -> Result<BoxIo, OpenError> {
    let pt = proxy.to_string();
    let unreachable = |summary: String| {
        OpenError::Findings(vec![Finding::new(codes::PROXY_UNREACHABLE, &pt, summary)])
    };
    let stream = match tcp::direct(config, &proxy.host, proxy.port).await {
        Ok((s, _)) => s,
        Err(f) => {
            let summary = format!("proxy {pt} is unreachable ({})", f.code);
            return Err(OpenError::Findings(vec![Finding::new(
                codes::PROXY_UNREACHABLE,
                &pt,
                summary,
            )
            .with_all_evidence(f.evidence)]));
        }
    };
    if !proxy.https {
        return Ok(Box::new(stream));
    }
    let start = Instant::now();
    let mut roots = rustls::RootCertStore::empty();
    for c in &config.trust {
        let _ = roots.add(c.clone());
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let tls = match rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
    {
        Ok(b) => b.with_root_certificates(roots).with_no_client_auth(),
        Err(e) => return Err(unreachable(format!("cannot build TLS for {pt}: {e}"))),
    };
    let name = match rustls_pki_types::ServerName::try_from(proxy.host.clone()) {
        Ok(n) => n,
        Err(e) => return Err(unreachable(format!("bad proxy name {}: {e}", proxy.host))),
    };
    let mut tls = tls;
    // SSLKEYLOGFILE, when set, gets this handshake's secrets (a no-op otherwise).
    tls.key_log = Arc::new(rustls::KeyLogFile::new());
    let connector = tokio_rustls::TlsConnector::from(Arc::new(tls));
    match tokio::time::timeout(config.io_timeout, connector.connect(name, stream)).await {
        Ok(Ok(s)) => Ok(Box::new(s)),
        Ok(Err(e)) if is_certificate_error(&e) => Err(proxy_certificate(config, proxy, &e).await),
        Ok(Err(e)) => Err(OpenError::Findings(vec![Finding::new(
            codes::PROXY_UNREACHABLE,
            &pt,
            format!("TLS to proxy {pt} failed: {e}"),
        )
        .with_evidence(Evidence::new(
            format!("TLS handshake with {pt}"),
            e.to_string(),
            start.elapsed(),
        ))])),
        Err(_) => Err(OpenError::Findings(vec![Finding::new(
            codes::PROXY_UNREACHABLE,
            &pt,
            format!("TLS to proxy {pt} timed out"),
        )
        .with_evidence(Evidence::new(
            format!("TLS handshake with {pt}"),
            "timed out",
            start.elapsed(),
        ))])),
    }
}

fn is_certificate_error(e: &std::io::Error) -> bool {
    matches!(
        e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()),
        Some(rustls::Error::InvalidCertificate(_))
    )
}

/// Why a stream could not be opened.
#[derive(Debug)]
pub(crate) enum OpenError {
    /// The findings that explain the failure.
    Findings(Vec<Finding>),
    /// An `https://` proxy's certificate was refused; what it presented is left to the verification
    /// layer to judge (the transport records, it does not judge chains).
    ProxyCertificate(RefusedCertificate),
}

/// An `https://` proxy's certificate that the client refused, with the chain it presented.
#[derive(Debug)]
pub(crate) struct RefusedCertificate {
    /// The proxy.
    pub proxy: ProxyUrl,
    /// What the TLS stack said.
    pub error: String,
    /// The chain the proxy presented (fetched once more with a recording handshake; never empty).
    pub chain: Vec<CertificateDer<'static>>,
}

/// The proxy's certificate was refused: fetch its chain once more so that the verification layer can
/// name the exact pki.* reason (untrusted root, expired, name mismatch ...) about the proxy.
async fn proxy_certificate(
    config: &ClientConfig,
    proxy: &ProxyUrl,
    error: &std::io::Error,
) -> OpenError {
    let chain = match tcp::direct(config, &proxy.host, proxy.port).await {
        Ok((s, _)) => {
            tls::handshake(config, Box::new(s), &proxy.host, TlsVersions::Both, false)
                .await
                .chain
        }
        Err(_) => Vec::new(),
    };
    if chain.is_empty() {
        let pt = proxy.to_string();
        let ev = Evidence::new(
            format!("TLS handshake with proxy {pt}"),
            error.to_string(),
            Duration::ZERO,
        );
        return OpenError::Findings(vec![Finding::new(
            codes::PROXY_UNREACHABLE,
            &pt,
            format!("TLS to proxy {pt} failed: {error}"),
        )
        .with_evidence(ev)]);
    }
    OpenError::ProxyCertificate(RefusedCertificate {
        proxy: proxy.clone(),
        error: error.to_string(),
        chain,
    })
}

/// Whether the proxy accepts TCP connections at all (for PAC dead-proxy detection).
pub async fn reachable(config: &ClientConfig, proxy: &ProxyUrl) -> Result<(), Finding> {
    match tcp::connect_to_override(config, &proxy.host, proxy.port) {
        Some(addr) => match tcp::tcp_connect_addr(config, addr).await {
            (TcpOutcome::Open(_), _) => Ok(()),
            (o, ev) => Err(tcp::tcp_finding(&proxy.to_string(), &o, ev)),
        },
        None => tcp::direct(config, &proxy.host, proxy.port)
            .await
            .map(|_| ()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_urls_parse() {
        assert_eq!(
            ProxyUrl::parse("http://squid.corp:3128").unwrap(),
            ProxyUrl {
                https: false,
                socks: None,
                host: "squid.corp".into(),
                port: 3128
            }
        );
        assert_eq!(ProxyUrl::parse("https://p").unwrap().port, 443);
        assert_eq!(
            ProxyUrl::parse("proxyserver:8080").unwrap().host,
            "proxyserver"
        );
        let socks = ProxyUrl::parse("socks5://x:1").unwrap();
        assert_eq!(socks.socks, Some(SocksResolve::Client));
        assert_eq!(socks.to_string(), "socks5://x:1");
        let socks = ProxyUrl::parse("socks5h://x").unwrap();
        assert_eq!((socks.socks, socks.port), (Some(SocksResolve::Proxy), 1080));
        assert!(ProxyUrl::parse("socks4://x:1").is_none());
    }

    #[test]
    fn refusals_are_classified() {
        let p = ProxyUrl::parse("http://p:1").unwrap();
        let head = |status, headers: Vec<(&str, &str)>| http::HttpHead {
            status,
            reason: "x".into(),
            headers: headers
                .into_iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
            rest: vec![],
        };
        let f = classify_refusal(
            &p,
            "h",
            443,
            &head(
                407,
                vec![
                    ("Proxy-Authenticate", "Basic realm=\"x\""),
                    ("Proxy-Authenticate", "NTLM"),
                    ("proxy-authenticate", "Negotiate"),
                ],
            ),
        );
        assert_eq!(f.code, codes::PROXY_AUTH_REQUIRED);
        assert!(
            f.summary.contains("Basic, NTLM, Negotiate"),
            "{}",
            f.summary
        );
        assert_eq!(
            classify_refusal(&p, "h", 80, &head(403, vec![])).code,
            codes::PROXY_PORT80_REFUSED
        );
        let f = classify_refusal(
            &p,
            "h",
            443,
            &head(503, vec![("X-Squid-Error", "ERR_CONNECT_FAIL 111")]),
        );
        assert_eq!(f.code, codes::PROXY_BAD_GATEWAY);
        assert!(f.summary.contains("ERR_CONNECT_FAIL"));
        // Squid's answer for a name it cannot resolve is its failure to reach the target; any
        // other 500 stays a refusal of its own kind.
        let f = classify_refusal(
            &p,
            "nowhere.example",
            443,
            &head(500, vec![("X-Squid-Error", "ERR_CANNOT_FORWARD 0")]),
        );
        assert_eq!(f.code, codes::PROXY_BAD_GATEWAY);
        assert!(f.summary.contains("500") && f.summary.contains("ERR_CANNOT_FORWARD"));
        assert_eq!(
            classify_refusal(&p, "h", 443, &head(500, vec![])).code,
            codes::PROXY_REFUSED_OTHER
        );
        // Squid 5.7's page without a v6 route (as a real one answered), and the same errno for a
        // v4 address: only the first is the missing v6 path.
        let mut squid = head(503, vec![("X-Squid-Error", "ERR_CONNECT_FAIL 101")]);
        squid.rest = b"<p><b>Connection to fd00:dead::1 failed.</b></p>\n<p id=\"sysmsg\">The system \
            returned: <i>(101) Network is unreachable</i></p><p>Generated Thu, 03 Dec 2026 06:14:49 GMT</p>"
            .to_vec();
        let f = classify_refusal(&p, "v6only.test", 443, &squid);
        assert_eq!(f.code, codes::PROXY_NO_IPV6_PATH, "{}", f.summary);
        squid.rest = b"<p><b>Connection to 192.0.2.1 failed.</b></p> (101) Network is unreachable \
            Generated 06:14:49"
            .to_vec();
        let f = classify_refusal(&p, "v4.test", 443, &squid);
        assert_eq!(f.code, codes::PROXY_BAD_GATEWAY, "{}", f.summary);
    }
}
