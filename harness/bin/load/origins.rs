//! The origins every proxy relays to: echo, sink (bulk), late reply (half-close), TLS (HTTP) and
//! plain keep-alive HTTP (forwarded requests).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use egresslab::certs::{Factory, Profile};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The host name the TLS origin's certificate is for.
pub const TLS_HOST: &str = "origin.egresslab.test";

/// Arguments of `egresslab-load origins`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The persisted lab CAs (created if empty); the TLS origin's certificate comes from them.
    #[arg(long)]
    pub ca_dir: PathBuf,
    /// Written once every origin listens: `ECHO=`, `SINK=`, `LATE=`, `TLS=`, `HTTP=` shell
    /// assignments.
    #[arg(long)]
    pub ready_file: PathBuf,
    /// Stop after this many seconds whatever happens.
    #[arg(long, default_value_t = 1800)]
    pub max_seconds: u64,
}

/// Serve until SIGINT/SIGTERM or `max_seconds`.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let factory = Factory::open(&args.ca_dir).context("opening the CA folder")?;
    let minted = factory
        .mint(Profile::Valid, &[TLS_HOST.to_owned()])
        .context("minting the origin certificate")?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(minted.served_chain, minted.key)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let acceptor = TlsAcceptor::from(Arc::new(config));

    let shutdown = CancellationToken::new();
    let tasks = TaskTracker::new();
    let mut lines = String::new();
    for kind in [Kind::Echo, Kind::Sink, Kind::Late, Kind::Tls, Kind::Http] {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        lines.push_str(&format!("{}={}\n", kind.name(), listener.local_addr()?));
        let (tasks2, shutdown2, acceptor) = (tasks.clone(), shutdown.clone(), acceptor.clone());
        tasks.spawn(async move { serve(listener, kind, acceptor, tasks2, shutdown2).await });
    }
    std::fs::write(&args.ready_file, lines).context("writing the ready file")?;
    wait_for_stop(Duration::from_secs(args.max_seconds)).await;
    shutdown.cancel();
    tasks.close();
    tasks.wait().await;
    Ok(())
}

/// Wait for SIGINT, SIGTERM or the deadline.
pub async fn wait_for_stop(deadline: Duration) {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = term => {}
        () = tokio::time::sleep(deadline) => {}
    }
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Echo,
    Sink,
    Late,
    Tls,
    Http,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Echo => "ECHO",
            Kind::Sink => "SINK",
            Kind::Late => "LATE",
            Kind::Tls => "TLS",
            Kind::Http => "HTTP",
        }
    }
}

async fn serve(
    listener: TcpListener,
    kind: Kind,
    acceptor: TlsAcceptor,
    tasks: TaskTracker,
    shutdown: CancellationToken,
) {
    loop {
        let accepted = tokio::select! {
            () = shutdown.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let Ok((stream, _)) = accepted else {
            // Out of descriptors: back off briefly rather than spin.
            tokio::time::sleep(Duration::from_millis(5)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        let (acceptor, shutdown) = (acceptor.clone(), shutdown.clone());
        tasks.spawn(async move {
            tokio::select! {
                () = shutdown.cancelled() => {}
                _ = handle(stream, kind, acceptor) => {}
            }
        });
    }
}

async fn handle(stream: TcpStream, kind: Kind, acceptor: TlsAcceptor) -> std::io::Result<()> {
    match kind {
        Kind::Echo => echo(stream).await,
        Kind::Sink => sink(stream).await,
        Kind::Late => late(stream).await,
        Kind::Http => http_keepalive(stream).await,
        Kind::Tls => {
            let tls = acceptor.accept(stream).await?;
            http_ok(tls).await
        }
    }
}

/// Echo everything back; close after the client's end of stream.
async fn echo(mut stream: TcpStream) -> std::io::Result<()> {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return stream.shutdown().await;
        }
        stream.write_all(&buf[..n]).await?;
    }
}

/// Read an 8-byte big-endian length, then that many bytes, then answer `k`.
async fn sink(mut stream: TcpStream) -> std::io::Result<()> {
    let total = stream.read_u64().await?;
    let mut buf = vec![0u8; 256 * 1024];
    let mut got = 0u64;
    while got < total {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        got += n as u64;
    }
    stream.write_all(b"k").await?;
    stream.shutdown().await
}

/// Read until the client's end of stream, then send everything back: only a tunnel that carries
/// the half-close delivers the reply.
async fn late(mut stream: TcpStream) -> std::io::Result<()> {
    let mut all = Vec::new();
    (&mut stream).take(64 * 1024).read_to_end(&mut all).await?;
    stream.write_all(&all).await?;
    stream.shutdown().await
}

/// The most requests one connection of the keep-alive origin answers.
const MAX_REQUESTS: usize = 1_000_000;

/// Answer each request head (bodiless requests only) with `200 ok` and a length, keeping the
/// connection until the client (or a `Connection: close` it sent) ends it.
async fn http_keepalive(mut stream: TcpStream) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    for _ in 0..MAX_REQUESTS {
        let end = loop {
            if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
            if buf.len() > 16 * 1024 {
                return Ok(());
            }
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        let close = String::from_utf8_lossy(&buf[..end])
            .to_ascii_lowercase()
            .contains("connection: close");
        buf.drain(..end);
        stream
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            .await?;
        if close {
            return stream.shutdown().await;
        }
    }
    Ok(())
}

/// Read one request head and answer `200 ok`, then close.
async fn http_ok<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S) -> std::io::Result<()> {
    let mut head = Vec::new();
    let mut buf = [0u8; 2048];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
    }
    stream
        .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
        .await?;
    stream.shutdown().await
}
