//! The client's path to a destination: `--connect-to` overrides, name resolution, TCP connect, and the
//! proxy tunnel (CONNECT) when a proxy is in use. Failures come back as findings, never as errors.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use super::codes;
use super::config::ClientConfig;
use super::dns::{self, Resolution};
use super::finding::{Evidence, Finding};
use super::proxy::{self, ProxyUrl};

/// Any byte stream the checks talk over (plain TCP, a proxy tunnel, TLS to an `https://` proxy).
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// A boxed stream.
pub type BoxIo = Box<dyn Io>;

/// How one destination is reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// Straight to the destination.
    Direct,
    /// Through an HTTP(S) proxy with CONNECT.
    Proxy(ProxyUrl),
}

impl std::fmt::Display for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Route::Direct => f.write_str("direct"),
            Route::Proxy(p) => write!(f, "via proxy {p}"),
        }
    }
}

/// A TCP connection outcome, classified.
#[derive(Debug)]
pub enum TcpOutcome {
    /// Connected.
    Open(TcpStream),
    /// Reset by the peer or a firewall.
    Refused(String),
    /// No answer within the time-out.
    Filtered,
    /// Reset during the connect.
    Reset(String),
}

/// Where (host, port) really goes under the client's `--connect-to` overrides.
pub fn connect_to_override(config: &ClientConfig, host: &str, port: u16) -> Option<SocketAddr> {
    config
        .connect_to
        .iter()
        .find(|c| c.port == port && c.host.eq_ignore_ascii_case(host))
        .map(|c| c.address)
}

/// Connect to a socket address with the configured time-out and classify the result.
pub async fn tcp_connect_addr(config: &ClientConfig, addr: SocketAddr) -> (TcpOutcome, Evidence) {
    let start = Instant::now();
    let tried = format!("TCP connect {addr}");
    let outcome = match tokio::time::timeout(config.connect_timeout, TcpStream::connect(addr)).await
    {
        Err(_) => TcpOutcome::Filtered,
        Ok(Ok(s)) => {
            // Requests go out in several writes; Nagle would hold the last one for the peer's
            // delayed ACK (40 ms on Linux) on every check.
            let _ = s.set_nodelay(true);
            TcpOutcome::Open(s)
        }
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionReset => {
            TcpOutcome::Reset(e.to_string())
        }
        Ok(Err(e)) => TcpOutcome::Refused(e.to_string()),
    };
    let came_back = match &outcome {
        TcpOutcome::Open(_) => "connected".to_string(),
        TcpOutcome::Refused(e) => format!("refused: {e}"),
        TcpOutcome::Filtered => format!(
            "no answer within {:?} (SYN unanswered)",
            config.connect_timeout
        ),
        TcpOutcome::Reset(e) => format!("reset: {e}"),
    };
    (outcome, Evidence::new(tried, came_back, start.elapsed()))
}

/// Connect to (host, port) directly: override, else resolve, else connect. On failure returns the DNS or
/// TCP finding; on success the stream and every finding so far (DNS resolved, port open).
pub async fn direct(
    config: &ClientConfig,
    host: &str,
    port: u16,
) -> Result<(TcpStream, Vec<Finding>), Finding> {
    let target = format!("{host}:{port}");
    let mut found = Vec::new();
    let addrs: Vec<SocketAddr> = match connect_to_override(config, host, port) {
        Some(addr) => vec![addr],
        None => {
            let (res, ev) = dns::resolve(config, host).await;
            let is_literal = host
                .trim_matches(['[', ']'])
                .parse::<std::net::IpAddr>()
                .is_ok();
            match &res {
                Resolution::Resolved(ips) => {
                    if !is_literal {
                        found.push(dns::finding(host, &res, ev));
                    }
                    ips.iter().map(|ip| SocketAddr::new(*ip, port)).collect()
                }
                _ => return Err(dns::finding(host, &res, ev)),
            }
        }
    };
    let mut last = None;
    // Bounded by the number of addresses the name has.
    for addr in addrs.into_iter().take(4) {
        let (outcome, ev) = tcp_connect_addr(config, addr).await;
        match outcome {
            TcpOutcome::Open(s) => {
                found.push(
                    Finding::new(codes::NET_TCP_OPEN, &target, format!("{target} is open"))
                        .with_evidence(ev),
                );
                return Ok((s, found));
            }
            other => last = Some(tcp_finding(&target, &other, ev)),
        }
    }
    Err(last.unwrap_or_else(|| {
        Finding::new(
            codes::NET_DNS_NXDOMAIN,
            host,
            format!("{host} has no address"),
        )
    }))
}

/// The finding for a failed TCP outcome.
pub fn tcp_finding(target: &str, outcome: &TcpOutcome, ev: Evidence) -> Finding {
    let (code, summary) = match outcome {
        TcpOutcome::Open(_) => (codes::NET_TCP_OPEN, format!("{target} is open")),
        TcpOutcome::Refused(_) => (
            codes::NET_TCP_REFUSED,
            format!("{target} refused the connection"),
        ),
        TcpOutcome::Filtered => (
            codes::NET_TCP_FILTERED,
            format!("{target} did not answer: filtered (time-out, not refused)"),
        ),
        TcpOutcome::Reset(_) => (
            codes::NET_TCP_RESET,
            format!("{target} reset the connection"),
        ),
    };
    Finding::new(code, target, summary).with_evidence(ev)
}

/// Open a byte stream to (host, port) along `route`. Err carries the findings that explain the failure.
pub async fn open(
    config: &ClientConfig,
    route: &Route,
    host: &str,
    port: u16,
) -> Result<(BoxIo, Vec<Finding>), Vec<Finding>> {
    match route {
        Route::Direct => match direct(config, host, port).await {
            Ok((s, f)) => Ok((Box::new(s), f)),
            Err(f) => Err(vec![f]),
        },
        Route::Proxy(p) => proxy::tunnel(config, p, host, port).await,
    }
}

/// Send a plain HTTP/1.1 GET over `io` and read the status line and headers (bounded in size and time).
pub async fn http_get(
    io: &mut BoxIo,
    host: &str,
    path: &str,
    timeout: Duration,
) -> Result<HttpHead, String> {
    use tokio::io::AsyncWriteExt;
    let req = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: egresslab-check\r\nAccept: */*\r\nConnection: close\r\n\r\n");
    let fut = async {
        io.write_all(req.as_bytes())
            .await
            .map_err(|e| format!("write failed: {e}"))?;
        io.flush().await.map_err(|e| format!("write failed: {e}"))?;
        read_head(io).await
    };
    match tokio::time::timeout(timeout, fut).await {
        Err(_) => Err(format!("no answer within {timeout:?}")),
        Ok(r) => r,
    }
}

/// A parsed HTTP response head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpHead {
    /// Status code.
    pub status: u16,
    /// Reason phrase.
    pub reason: String,
    /// Headers in order (name, value).
    pub headers: Vec<(String, String)>,
    /// Body bytes that arrived with the head.
    pub rest: Vec<u8>,
}

impl HttpHead {
    /// Every value of a header (case-insensitive name).
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// Why a response head could not be read.
pub const NOT_HTTP: &str = "not an HTTP response";

/// Read one response head. Err("closed ...") on EOF before a head, Err(NOT_HTTP ...) on foreign bytes.
pub async fn read_head<R: AsyncRead + Unpin + ?Sized>(io: &mut R) -> Result<HttpHead, String> {
    use tokio::io::AsyncReadExt;
    let mut buf: Vec<u8> = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    // Bounded: a head larger than 64 KiB is refused.
    while buf.len() < 64 * 1024 {
        let n = io
            .read(&mut chunk)
            .await
            .map_err(|e| format!("read failed: {e}"))?;
        if n == 0 {
            return Err(if buf.is_empty() {
                "closed without answering".into()
            } else {
                format!("closed mid-answer after {} bytes", buf.len())
            });
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.len() >= 5 && !buf.starts_with(b"HTTP/") {
            return Err(format!(
                "{NOT_HTTP}: {:?}",
                String::from_utf8_lossy(&buf[..buf.len().min(40)])
            ));
        }
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut resp = httparse::Response::new(&mut headers);
        match resp.parse(&buf) {
            Ok(httparse::Status::Complete(len)) => {
                return Ok(HttpHead {
                    status: resp.code.unwrap_or(0),
                    reason: resp.reason.unwrap_or("").to_string(),
                    headers: resp
                        .headers
                        .iter()
                        .map(|h| {
                            (
                                h.name.to_string(),
                                String::from_utf8_lossy(h.value).into_owned(),
                            )
                        })
                        .collect(),
                    rest: buf[len..].to_vec(),
                })
            }
            Ok(httparse::Status::Partial) => continue,
            Err(e) => return Err(format!("{NOT_HTTP}: {e}")),
        }
    }
    Err(format!("{NOT_HTTP}: head larger than 64 KiB"))
}

/// A stream wrapper counting the bytes read from the peer (to tell "cut right after ClientHello" from
/// "cut after the server answered").
pub struct Counting {
    inner: BoxIo,
    read: Arc<std::sync::atomic::AtomicU64>,
}

impl Counting {
    /// Wrap a stream; the counter is shared with the caller.
    pub fn new(inner: BoxIo, read: Arc<std::sync::atomic::AtomicU64>) -> Self {
        Counting { inner, read }
    }
}

impl AsyncRead for Counting {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        let n = buf.filled().len().saturating_sub(before) as u64;
        self.read.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
        r
    }
}

impl AsyncWrite for Counting {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Split `http(s)://host[:port]/path` into (https, host, port, path).
pub fn split_url(url: &str) -> Option<(bool, String, u16, String)> {
    let (https, rest) = if let Some(r) = url.strip_prefix("https://") {
        (true, r)
    } else if let Some(r) = url.strip_prefix("http://") {
        (false, r)
    } else {
        return None;
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].to_string()),
        None => (rest, "/".to_string()),
    };
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    let default = if https { 443 } else { 80 };
    let (host, port) = split_host_port(authority, default)?;
    Some((https, host, port, path))
}

/// Split `host[:port]` (with `[v6]` brackets) into host and port.
pub fn split_host_port(s: &str, default: u16) -> Option<(String, u16)> {
    if s.is_empty() {
        return None;
    }
    if let Some(rest) = s.strip_prefix('[') {
        let end = rest.find(']')?;
        let host = rest[..end].to_string();
        let port = match rest[end + 1..].strip_prefix(':') {
            Some(p) => p.parse().ok()?,
            None => default,
        };
        return Some((host, port));
    }
    match s.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => Some((h.to_string(), p.parse().ok()?)),
        _ => Some((s.to_string(), default)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split() {
        assert_eq!(
            split_url("https://a.example/x?y").unwrap(),
            (true, "a.example".into(), 443, "/x?y".into())
        );
        assert_eq!(
            split_url("http://a.example:8080").unwrap(),
            (false, "a.example".into(), 8080, "/".into())
        );
        assert_eq!(split_host_port("[::1]:99", 1).unwrap(), ("::1".into(), 99));
        assert!(split_url("ftp://x").is_none());
    }
}
