//! The loads: bulk stream, tunnel set-ups, TLS handshakes, idle tunnels and a half-close probe.
//! Every load is bounded in count and time; concurrency comes from joined futures, not spawns.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use futures_util::future::join_all;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::client::open;
use crate::Route;

/// No single load runs longer than this.
const LOAD_LIMIT: Duration = Duration::from_secs(120);

/// One stream of `total` bytes to the sink; MB/s (10^6 bytes) until the sink's acknowledgement.
pub async fn bulk(route: &Route, total: u64) -> anyhow::Result<f64> {
    let mut stream = open(route).await?;
    let started = Instant::now();
    let send = async {
        stream.write_u64(total).await?;
        let chunk = vec![0x5au8; 256 * 1024];
        let mut sent = 0u64;
        while sent < total {
            let n = chunk.len().min((total - sent) as usize);
            stream.write_all(&chunk[..n]).await?;
            sent += n as u64;
        }
        let ack = stream.read_u8().await?;
        ensure!(ack == b'k', "the sink did not acknowledge");
        anyhow::Ok(())
    };
    tokio::time::timeout(LOAD_LIMIT, send)
        .await
        .context("bulk stream timed out")??;
    Ok(total as f64 / started.elapsed().as_secs_f64() / 1e6)
}

/// What a run of set-ups measured: the rate and the time each set-up took, from the same loops.
pub struct Setups {
    /// Set-ups per second.
    pub rate: f64,
    /// The median set-up, microseconds (connect to close).
    pub p50_us: f64,
    /// The 99th percentile set-up, microseconds.
    pub p99_us: f64,
}

/// At most this many set-up times are kept per loop (the rate still counts every set-up).
const LATENCY_SAMPLES: usize = 1 << 20;

/// Set-ups per second: `concurrency` loops of open, 32-byte echo, close, for `seconds`; each
/// set-up is timed, so the latency percentiles come from the same load as the rate.
pub async fn setups(route: &Route, concurrency: usize, seconds: f64) -> anyhow::Result<Setups> {
    let deadline = Instant::now() + Duration::from_secs_f64(seconds.min(LOAD_LIMIT.as_secs_f64()));
    let started = Instant::now();
    let worker = || async {
        let (mut done, mut failed) = (0u64, 0u64);
        let mut last_error = None;
        let mut took = Vec::new();
        while Instant::now() < deadline {
            let began = Instant::now();
            match setup(route).await {
                Ok(()) => {
                    done += 1;
                    if took.len() < LATENCY_SAMPLES {
                        took.push(began.elapsed().as_secs_f64() * 1e6);
                    }
                }
                Err(error) => {
                    failed += 1;
                    last_error = Some(error);
                }
            }
        }
        ((done, failed, last_error), took)
    };
    let results = join_all((0..concurrency.max(1)).map(|_| worker())).await;
    let elapsed = started.elapsed().as_secs_f64();
    let (counts, times): (Vec<_>, Vec<_>) = results.into_iter().unzip();
    let mut times: Vec<f64> = times.into_iter().flatten().collect();
    times.sort_by(f64::total_cmp);
    Ok(Setups {
        rate: report(counts, elapsed)?,
        p50_us: percentile(&times, 0.50),
        p99_us: percentile(&times, 0.99),
    })
}

/// The `q` quantile of sorted `times` (nearest rank); 0 when there are none.
fn percentile(times: &[f64], q: f64) -> f64 {
    if times.is_empty() {
        return 0.0;
    }
    let rank = ((times.len() as f64 * q).ceil() as usize).clamp(1, times.len());
    times[rank - 1]
}

async fn setup(route: &Route) -> anyhow::Result<()> {
    let mut stream = open(route).await?;
    let sent = [0x42u8; 32];
    stream.write_all(&sent).await?;
    let mut back = [0u8; 32];
    stream.read_exact(&mut back).await?;
    ensure!(back == sent, "the echo differs");
    Ok(())
}

/// Forwarded requests through the proxy for `seconds`: each worker sends `GET http://TO/` on one
/// kept-alive connection and reads the answer (its `Content-Length` body), opening a new
/// connection only when the proxy closed the last one; requests/s.
pub async fn forwarded(route: &Route, concurrency: usize, seconds: f64) -> anyhow::Result<f64> {
    let via = route.via.context("forwarded requests need a proxy")?;
    let deadline = Instant::now() + Duration::from_secs_f64(seconds.min(LOAD_LIMIT.as_secs_f64()));
    let request = format!(
        "GET http://{to}/ HTTP/1.1\r\nHost: {to}\r\n\r\n",
        to = route.to
    );
    let started = Instant::now();
    let worker = || async {
        let (mut done, mut failed) = (0u64, 0u64);
        let mut last_error = None;
        let mut connection: Option<(TcpStream, Vec<u8>)> = None;
        while Instant::now() < deadline {
            if connection.is_none() {
                match TcpStream::connect(via).await {
                    Ok(stream) => {
                        let _ = stream.set_nodelay(true);
                        connection = Some((stream, Vec::new()));
                    }
                    Err(error) => {
                        failed += 1;
                        last_error = Some(anyhow::Error::from(error));
                        continue;
                    }
                }
            }
            let Some((stream, buf)) = connection.as_mut() else {
                continue;
            };
            let answered = tokio::time::timeout(
                Duration::from_secs(10),
                exchange(stream, buf, request.as_bytes()),
            )
            .await
            .unwrap_or_else(|_| Err(anyhow::anyhow!("no answer within 10 s")));
            match answered {
                Ok(keep) => {
                    done += 1;
                    if !keep {
                        connection = None;
                    }
                }
                Err(error) => {
                    failed += 1;
                    last_error = Some(error);
                    connection = None;
                }
            }
        }
        (done, failed, last_error)
    };
    let results = join_all((0..concurrency.max(1)).map(|_| worker())).await;
    report(results, started.elapsed().as_secs_f64())
}

/// One request and its answer on a kept-alive connection; whether the proxy keeps it.
async fn exchange(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    request: &[u8],
) -> anyhow::Result<bool> {
    stream.write_all(request).await?;
    let mut chunk = [0u8; 4096];
    let end = loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        ensure!(buf.len() < 64 * 1024, "the answer head is too long");
        let n = stream.read(&mut chunk).await?;
        ensure!(n > 0, "the proxy closed before answering");
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
    ensure!(
        head.starts_with("http/1.1 200"),
        "not a 200: {}",
        head.lines().next().unwrap_or_default()
    );
    let length: usize = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .context("an answer without Content-Length")?;
    while buf.len() < end + length {
        let n = stream.read(&mut chunk).await?;
        ensure!(n > 0, "the proxy closed mid-answer");
        buf.extend_from_slice(&chunk[..n]);
    }
    buf.drain(..end + length);
    Ok(!head.contains("connection: close"))
}

/// Sum the workers' counts into a rate; fail when more than 1 % of attempts failed.
fn report(results: Vec<(u64, u64, Option<anyhow::Error>)>, elapsed: f64) -> anyhow::Result<f64> {
    let done: u64 = results.iter().map(|r| r.0).sum();
    let failed: u64 = results.iter().map(|r| r.1).sum();
    if failed * 100 > done + failed {
        let error = results.into_iter().find_map(|r| r.2);
        bail!(
            "{failed} of {} attempts failed; last: {}",
            done + failed,
            error.map(|e| format!("{e:#}")).unwrap_or_default()
        );
    }
    if failed > 0 {
        eprintln!(
            "egresslab-load: {failed} of {} attempts failed",
            done + failed
        );
    }
    Ok(done as f64 / elapsed)
}

/// Handshakes per second: open, TLS handshake (no resumption), GET, read the 200, close.
pub async fn handshakes(
    route: &Route,
    sni: &str,
    ca: &Path,
    concurrency: usize,
    seconds: f64,
) -> anyhow::Result<f64> {
    let pem = std::fs::read(ca).with_context(|| format!("reading {}", ca.display()))?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
        roots.add(cert?)?;
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    // Every handshake is a full one, as a fleet of distinct clients would make.
    config.resumption = rustls::client::Resumption::disabled();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let connector = TlsConnector::from(Arc::new(config));
    let name = ServerName::try_from(sni.to_owned()).context("--sni is not a server name")?;
    let deadline = Instant::now() + Duration::from_secs_f64(seconds.min(LOAD_LIMIT.as_secs_f64()));
    let started = Instant::now();
    let worker = || async {
        let (mut done, mut failed) = (0u64, 0u64);
        let mut last_error = None;
        while Instant::now() < deadline {
            match handshake(route, &connector, name.clone(), sni).await {
                Ok(()) => done += 1,
                Err(error) => {
                    failed += 1;
                    last_error = Some(error);
                }
            }
        }
        (done, failed, last_error)
    };
    let results = join_all((0..concurrency.max(1)).map(|_| worker())).await;
    report(results, started.elapsed().as_secs_f64())
}

async fn handshake(
    route: &Route,
    connector: &TlsConnector,
    name: ServerName<'static>,
    sni: &str,
) -> anyhow::Result<()> {
    let stream = open(route).await?;
    let mut tls = connector.connect(name, stream).await?;
    let request = format!("GET / HTTP/1.1\r\nHost: {sni}\r\nConnection: close\r\n\r\n");
    tls.write_all(request.as_bytes()).await?;
    let mut answer = Vec::new();
    // Some proxies close without close_notify; the answer counts if it arrived.
    let _ = (&mut tls).take(64 * 1024).read_to_end(&mut answer).await;
    ensure!(
        answer.starts_with(b"HTTP/1.1 200"),
        "no 200 from the origin: {:?}",
        String::from_utf8_lossy(&answer[..answer.len().min(80)])
    );
    Ok(())
}

/// The proxy's memory while holding idle tunnels.
pub struct Memory {
    /// Peak resident set (VmHWM) after the tunnels were opened.
    pub hwm_kib: u64,
    /// Resident set before the first tunnel.
    pub rss_before_kib: u64,
    /// Resident set while every tunnel is held open.
    pub rss_holding_kib: u64,
}

/// Open `count` tunnels (64 at a time), prove each with a 32-byte echo, hold them, read memory.
pub async fn idle(route: &Route, count: usize, pid: u32) -> anyhow::Result<Memory> {
    let rss_before_kib = status(pid, "VmRSS")?;
    let open_all = async {
        let mut held = Vec::with_capacity(count);
        let mut left = count;
        while left > 0 {
            let batch = left.min(64);
            let opened = join_all((0..batch).map(|_| async {
                let mut stream = open(route).await?;
                stream.write_all(&[7u8; 32]).await?;
                let mut back = [0u8; 32];
                stream.read_exact(&mut back).await?;
                anyhow::Ok(stream)
            }))
            .await;
            for stream in opened {
                held.push(stream?);
            }
            left -= batch;
        }
        anyhow::Ok(held)
    };
    let held = tokio::time::timeout(LOAD_LIMIT, open_all)
        .await
        .context("opening idle tunnels timed out")??;
    let memory = Memory {
        hwm_kib: status(pid, "VmHWM")?,
        rss_before_kib,
        rss_holding_kib: status(pid, "VmRSS")?,
    };
    drop(held);
    Ok(memory)
}

/// One `kB` field of /proc/PID/status.
fn status(pid: u32, field: &str) -> anyhow::Result<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    text.lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|value| value.split_whitespace().next()?.parse().ok())
        .with_context(|| format!("no {field} in /proc/{pid}/status"))
}

/// Send 32 bytes, half-close, and wait up to 5 s for the late origin's reply.
pub async fn halfclose(route: &Route) -> anyhow::Result<bool> {
    let mut stream = open(route).await?;
    stream.write_all(&[9u8; 32]).await?;
    stream.shutdown().await?;
    let mut back = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut back)).await;
    Ok(matches!(read, Ok(Ok(_))) && back == [9u8; 32])
}
