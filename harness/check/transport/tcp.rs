//! TCP to one destination: `--connect-to` overrides, name resolution, connect with a time-out, and the
//! classification of what came back (open, refused, filtered, reset). Failures are findings, never errors.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use super::dns::{self, Resolution};
use crate::check::codes;
use crate::check::config::ClientConfig;
use crate::check::finding::{Evidence, Finding};

/// Any byte stream the checks talk over (plain TCP, a proxy tunnel, TLS to an `https://` proxy).
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// A boxed stream.
pub type BoxIo = Box<dyn Io>;

/// A TCP connection outcome, classified.
#[derive(Debug)]
pub enum TcpOutcome {
    /// Connected.
    Open(TcpStream),
    /// Refused: the peer or a firewall answered the SYN with a reset (ECONNREFUSED).
    Refused(String),
    /// No answer within the time-out.
    Filtered,
    /// Reset or aborted after the peer had answered, during the connect.
    Reset(String),
    /// Failed for another reason the system gave (no route, network unreachable …), said as it is.
    Failed(String),
}

/// Classify a failed connect by what the system saw: a refusal is only a refusal, a reset or an
/// abort is a reset, anything else is reported with its own words.
pub fn classify_connect_error(e: &std::io::Error) -> TcpOutcome {
    use std::io::ErrorKind;
    match e.kind() {
        ErrorKind::ConnectionRefused => TcpOutcome::Refused(e.to_string()),
        ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted => {
            TcpOutcome::Reset(e.to_string())
        }
        _ => TcpOutcome::Failed(e.to_string()),
    }
}

/// Where (host, port) really goes under the client's `--connect-to` overrides.
pub fn connect_to_override(config: &ClientConfig, host: &str, port: u16) -> Option<SocketAddr> {
    connect_to_overrides(config, host, port).first().copied()
}

/// Every address (host, port) goes to under the client's `--connect-to` overrides: two for a
/// dual-stack name (its v4 and its v6 address), in the order given.
pub fn connect_to_overrides(config: &ClientConfig, host: &str, port: u16) -> Vec<SocketAddr> {
    config
        .connect_to
        .iter()
        .filter(|c| c.port == port && c.host.eq_ignore_ascii_case(host))
        .map(|c| c.address)
        .collect()
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
        Ok(Err(e)) => classify_connect_error(&e),
    };
    let came_back = match &outcome {
        TcpOutcome::Open(_) => "connected".to_string(),
        TcpOutcome::Refused(e) => format!("refused: {e}"),
        TcpOutcome::Filtered => format!(
            "no answer within {:?} (SYN unanswered)",
            config.connect_timeout
        ),
        TcpOutcome::Reset(e) => format!("reset: {e}"),
        TcpOutcome::Failed(e) => format!("failed: {e}"),
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
    let overrides = connect_to_overrides(config, host, port);
    let addrs: Vec<SocketAddr> = match overrides.is_empty() {
        false => overrides,
        true => {
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
    let v4 = addrs.iter().copied().find(SocketAddr::is_ipv4);
    let v6 = addrs.iter().copied().find(SocketAddr::is_ipv6);
    if let (Some(v4), Some(v6)) = (v4, v6) {
        return both_families(config, &target, v4, v6, found).await;
    }
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

/// A name with an address in each family: both are tried at once (as Happy Eyeballs starts both,
/// but as a diagnostic both attempts run to their end) and each family's result is reported on
/// its own. The v6 connection is used when both open (RFC 6724 prefers it); a v6 path that fails
/// while v4 works is `net.ipv6_path_dropped`, a warning, and the v4 connection is used.
async fn both_families(
    config: &ClientConfig,
    target: &str,
    v4: SocketAddr,
    v6: SocketAddr,
    mut found: Vec<Finding>,
) -> Result<(TcpStream, Vec<Finding>), Finding> {
    let ((out4, ev4), (out6, ev6)) =
        tokio::join!(tcp_connect_addr(config, v4), tcp_connect_addr(config, v6));
    let open = |family: &str, address: SocketAddr, ev: Evidence| {
        Finding::new(
            codes::NET_TCP_OPEN,
            target,
            format!("{target} is open over {family} ({address})"),
        )
        .with_evidence(ev)
    };
    match (out4, out6) {
        (TcpOutcome::Open(_), TcpOutcome::Open(stream)) => {
            found.push(open("IPv4", v4, ev4));
            found.push(open("IPv6", v6, ev6));
            Ok((stream, found))
        }
        (TcpOutcome::Open(stream), failed) => {
            let what = match &failed {
                TcpOutcome::Filtered => "SYNs unanswered (dropped)".to_owned(),
                TcpOutcome::Refused(e) => format!("refused: {e}"),
                TcpOutcome::Reset(e) => format!("reset: {e}"),
                TcpOutcome::Failed(e) => format!("failed: {e}"),
                // Both open is the arm above.
                TcpOutcome::Open(_) => "connected".to_owned(),
            };
            found.push(
                Finding::new(
                    codes::NET_IPV6_PATH_DROPPED,
                    target,
                    format!(
                        "{target} over IPv6 ({v6}): {what}; over IPv4 ({v4}) it is open: the v6 path is dropped, the v4 path works"
                    ),
                )
                .with_evidence(ev6),
            );
            found.push(open("IPv4", v4, ev4));
            Ok((stream, found))
        }
        (failed, TcpOutcome::Open(stream)) => {
            let mut finding = tcp_finding(target, &failed, ev4);
            finding.summary = format!("{} over IPv4 ({v4}); over IPv6 it is open", finding.summary);
            found.push(finding);
            found.push(open("IPv6", v6, ev6));
            Ok((stream, found))
        }
        (failed, _) => Err(tcp_finding(target, &failed, ev4).with_evidence(ev6)),
    }
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
        // No route, host or network unreachable: often a firewall's ICMP rejection, so the code is
        // the refusal's, but the words are what the system said.
        TcpOutcome::Failed(e) => (
            codes::NET_TCP_REFUSED,
            format!("{target} cannot be connected: {e}"),
        ),
    };
    Finding::new(code, target, summary).with_evidence(ev)
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

#[cfg(test)]
mod tests {
    use std::io::{Error, ErrorKind};
    use std::time::Duration;

    use super::*;

    /// Issue 20, break 15: a reset is not a refusal. Each failure is told in the words of what was seen.
    #[test]
    fn a_reset_or_an_abort_is_never_called_a_refusal() {
        let said = |kind: ErrorKind, text: &str| {
            let outcome = classify_connect_error(&Error::new(kind, text.to_string()));
            let ev = Evidence::new("TCP connect x:443", "", Duration::ZERO);
            let f = tcp_finding("x:443", &outcome, ev);
            (f.code.0, f.summary)
        };
        assert_eq!(
            said(ErrorKind::ConnectionRefused, "Connection refused"),
            (
                "net.tcp.refused",
                "x:443 refused the connection".to_string()
            )
        );
        assert_eq!(
            said(ErrorKind::ConnectionReset, "Connection reset by peer"),
            ("net.tcp.reset", "x:443 reset the connection".to_string())
        );
        assert_eq!(
            said(
                ErrorKind::ConnectionAborted,
                "Software caused connection abort"
            ),
            ("net.tcp.reset", "x:443 reset the connection".to_string())
        );
        let (code, summary) = said(ErrorKind::HostUnreachable, "No route to host");
        assert_eq!(code, "net.tcp.refused");
        assert_eq!(summary, "x:443 cannot be connected: No route to host");
        assert!(!summary.contains("refused"));
    }
}
