//! Proxy benches: tunnel set-up and throughput through the proxy against a direct connection, and an
//! intercepted TLS handshake with a warm leaf cache against a cold one. Loopback only.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use egresslab::certs::{CaRole, Profile};
use egresslab::lab::{EndpointBehaviour, EndpointPlan, InterceptPlan, Lab, ProxyPlan};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

const ECHO: &str = "echo.egresslab.test";

async fn open_tunnel(proxy: SocketAddr, host: &str) -> TcpStream {
    let mut stream = TcpStream::connect(proxy).await.expect("proxy");
    stream.set_nodelay(true).expect("nodelay");
    let request = format!("CONNECT {host}:443 HTTP/1.1\r\nHost: {host}:443\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("write");
    let expected = b"HTTP/1.1 200 Connection established\r\n\r\n";
    let mut answer = [0u8; 39];
    stream.read_exact(&mut answer).await.expect("answer");
    assert_eq!(&answer, expected);
    stream
}

async fn echo_round<S: AsyncRead + AsyncWrite + Unpin>(stream: &mut S, bytes: &[u8]) {
    stream.write_all(bytes).await.expect("write");
    let mut back = vec![0u8; bytes.len()];
    stream.read_exact(&mut back).await.expect("echo");
}

/// Send `total` bytes through an echo and read them back, writing and reading concurrently.
async fn bulk(stream: TcpStream, total: usize) {
    let (mut read, mut write) = stream.into_split();
    let writer = async move {
        let chunk = vec![0x5au8; 64 * 1024];
        let mut sent = 0;
        while sent < total {
            let n = chunk.len().min(total - sent);
            write.write_all(&chunk[..n]).await.expect("write");
            sent += n;
        }
        write
    };
    let reader = async move {
        let mut buf = vec![0u8; 64 * 1024];
        let mut got = 0;
        while got < total {
            let n = read.read(&mut buf).await.expect("read");
            assert!(n > 0, "echo closed early");
            got += n;
        }
    };
    let (_write, ()) = tokio::join!(writer, reader);
}

fn lab(rt: &tokio::runtime::Runtime) -> Lab {
    rt.block_on(async {
        Lab::builder()
            .endpoint(EndpointPlan::http("echo", &[ECHO], 443).behaviour(EndpointBehaviour::Echo))
            .endpoint(EndpointPlan::https(
                "web",
                &["*.web.egresslab.test"],
                Profile::Valid,
            ))
            .proxy(ProxyPlan::new("corp"))
            .proxy(ProxyPlan {
                intercept: Some(InterceptPlan {
                    passthrough: Vec::new(),
                }),
                ..ProxyPlan::new("inspect")
            })
            .start()
            .await
            .expect("lab")
    })
}

fn tunnel_setup(c: &mut Criterion, rt: &tokio::runtime::Runtime, lab: &Lab) {
    let proxy = lab.expect_proxy("corp").address();
    let direct = lab.expect_endpoint("echo").address();
    let mut group = c.benchmark_group("tunnel_setup");
    group.bench_function("direct", |b| {
        b.to_async(rt).iter(|| async {
            let mut stream = TcpStream::connect(direct).await.expect("echo");
            stream.set_nodelay(true).expect("nodelay");
            echo_round(&mut stream, &[1u8; 32]).await;
        })
    });
    group.bench_function("through_proxy", |b| {
        b.to_async(rt).iter(|| async {
            let mut stream = open_tunnel(proxy, ECHO).await;
            echo_round(&mut stream, &[1u8; 32]).await;
        })
    });
    group.finish();
}

fn throughput(c: &mut Criterion, rt: &tokio::runtime::Runtime, lab: &Lab) {
    const TOTAL: usize = 8 * 1024 * 1024;
    let proxy = lab.expect_proxy("corp").address();
    let direct = lab.expect_endpoint("echo").address();
    let mut group = c.benchmark_group("tunnel_throughput");
    group.throughput(Throughput::Bytes(TOTAL as u64));
    group.bench_function(BenchmarkId::new("direct", "8MiB"), |b| {
        b.to_async(rt)
            .iter(|| async { bulk(TcpStream::connect(direct).await.expect("echo"), TOTAL).await })
    });
    group.bench_function(BenchmarkId::new("through_proxy", "8MiB"), |b| {
        b.to_async(rt)
            .iter(|| async { bulk(open_tunnel(proxy, ECHO).await, TOTAL).await })
    });
    group.finish();
}

fn intercepted_handshake(c: &mut Criterion, rt: &tokio::runtime::Runtime, lab: &Lab) {
    let proxy = lab.expect_proxy("inspect").address();
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(lab.certs().authority(CaRole::Inspection).cert_der().clone())
        .expect("root");
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let handshake = |host: String| {
        let connector = connector.clone();
        async move {
            let stream = open_tunnel(proxy, &host).await;
            let name = ServerName::try_from(host).expect("name");
            let mut tls = connector.connect(name, stream).await.expect("handshake");
            tls.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .await
                .expect("request");
            let mut answer = Vec::new();
            let _ = tls.read_to_end(&mut answer).await;
            assert!(
                answer.starts_with(b"HTTP/1.1 200"),
                "origin answered through interception"
            );
        }
    };
    let mut group = c.benchmark_group("intercepted_handshake");
    group.bench_function("warm_leaf_cache", |b| {
        b.to_async(rt)
            .iter(|| handshake("warm.web.egresslab.test".to_owned()))
    });
    let counter = AtomicU64::new(0);
    group.bench_function("cold_leaf_cache", |b| {
        b.to_async(rt).iter(|| {
            let n = counter.fetch_add(1, Ordering::Relaxed);
            handshake(format!("h{n}.web.egresslab.test"))
        })
    });
    group.finish();
}

fn benches(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let lab = lab(&rt);
    tunnel_setup(c, &rt, &lab);
    throughput(c, &rt, &lab);
    intercepted_handshake(c, &rt, &lab);
    rt.block_on(lab.shutdown());
}

criterion_group! {
    name = proxy;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    targets = benches
}
criterion_main!(proxy);
