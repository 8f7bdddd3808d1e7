//! Memory and descriptors that stay flat: the descriptors one open tunnel costs the lab process, and
//! resident memory across repeated waves of tunnels and intercepted host names (issue 20 #7: the
//! timeline and the interception leaf cache are bounded).

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use common::proxy::{
    client_hello, client_trusting_nothing, intercepting, proxy_addr, read_head, status, world, ECHO,
};
use common::reliab::{eventually, fd_count, raise_nofile, rss_kib, trim_heap};
use egresslab::lab::{EndpointPlan, Lab, ProxyPlan};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{Mutex, Semaphore};

/// The process's descriptors and memory are what both tests measure: they run one at a time.
static MEASURING: Mutex<()> = Mutex::const_new(());

/// Open a tunnel to the echo origin and prove it carries bytes.
async fn open_tunnel(proxy: SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(proxy).await.unwrap();
    let request = format!("CONNECT {ECHO}:443 HTTP/1.1\r\nHost: {ECHO}:443\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    assert_eq!(status(&read_head(&mut stream).await), 200);
    stream.write_all(b"ping").await.unwrap();
    let mut back = [0u8; 4];
    stream.read_exact(&mut back).await.unwrap();
    assert_eq!(&back, b"ping");
    stream
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_open_tunnel_costs_four_descriptors_in_the_lab_process() {
    const TUNNELS: usize = 200;
    let _alone = MEASURING.lock().await;
    raise_nofile();
    let lab = world().proxy(ProxyPlan::new("corp")).start().await.unwrap();
    let proxy = proxy_addr(&lab, "corp");
    drop(open_tunnel(proxy).await);
    let base = fd_count();
    let mut open = Vec::with_capacity(TUNNELS);
    for _ in 0..TUNNELS {
        open.push(open_tunnel(proxy).await);
    }
    let with_tunnels = fd_count();
    let per_tunnel = (with_tunnels - base) as f64 / TUNNELS as f64;
    println!(
        "fds: {base} -> {with_tunnels} with {TUNNELS} open tunnels: {per_tunnel:.2} per tunnel"
    );
    // Client, proxy's accepted socket, proxy's origin socket, origin's accepted socket: no duplicate
    // of any accepted socket for the reset at shutdown.
    assert!(
        (per_tunnel - 4.0).abs() < 0.1,
        "{per_tunnel:.2} descriptors per tunnel"
    );
    drop(open);
    lab.shutdown().await;
}

/// Through the intercepting proxy, start a TLS handshake with `host` so that the proxy mints (or
/// finds) a leaf for it and answers with a ServerHello; then leave.
async fn intercepted(proxy: SocketAddr, host: &str, hello: &[u8]) {
    let mut stream = TcpStream::connect(proxy).await.unwrap();
    let request = format!("CONNECT {host}:443 HTTP/1.1\r\nHost: {host}:443\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    assert_eq!(status(&read_head(&mut stream).await), 200, "{host}");
    stream.write_all(hello).await.unwrap();
    let mut record = [0u8; 5];
    stream.read_exact(&mut record).await.unwrap();
    assert_eq!(record[0], 0x16, "a ServerHello for {host}");
}

async fn wave(lab: &Lab, wave: usize, config: &Arc<rustls::ClientConfig>) {
    const TUNNELS: usize = 2_000;
    const HOSTS: usize = 3_000;
    let corp = proxy_addr(lab, "corp");
    let inspect = proxy_addr(lab, "inspect");
    let mut open = Vec::with_capacity(TUNNELS);
    for _ in 0..TUNNELS {
        open.push(open_tunnel(corp).await);
    }
    drop(open);
    let gate = Arc::new(Semaphore::new(64));
    let mut handshakes = Vec::with_capacity(HOSTS);
    for index in 0..HOSTS {
        // Fresh names each wave: an unbounded cache would grow by every one of them.
        let host = format!("h{wave}-{index}.inspected.egresslab.test");
        let hello = client_hello(config, &host);
        let permit = Arc::clone(&gate).acquire_owned().await.unwrap();
        handshakes.push(tokio::spawn(async move {
            intercepted(inspect, &host, &hello).await;
            drop(permit);
        }));
    }
    for handshake in handshakes {
        handshake.await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resident_memory_stays_flat_across_waves_of_tunnels_and_intercepted_names() {
    let _alone = MEASURING.lock().await;
    raise_nofile();
    let lab = world()
        .endpoint(EndpointPlan::https(
            "inspected",
            &["*.inspected.egresslab.test"],
            egresslab::certs::Profile::Valid,
        ))
        .proxy(ProxyPlan::new("corp"))
        .proxy(intercepting("inspect"))
        // Small enough to fill in the first wave, so later waves show whether anything else grows.
        .timeline_capacity(2_000)
        .start()
        .await
        .unwrap();
    let config = client_trusting_nothing();
    let fds_base = fd_count();
    trim_heap();
    let start = rss_kib();
    let mut after = Vec::new();
    for index in 1..=3 {
        wave(&lab, index, &config).await;
        // Every connection of the wave is gone from the lab before memory is read.
        assert!(
            eventually(Duration::from_secs(20), || fd_count() <= fds_base).await,
            "descriptors left after wave {index}: {} > {fds_base}",
            fd_count()
        );
        trim_heap();
        after.push(rss_kib());
    }
    let stats = lab.expect_proxy("inspect").leaf_cache().unwrap();
    let timeline = lab.timeline();
    println!(
        "VmRSS before {start} KiB, after waves 1..3: {after:?} KiB; leaf cache {stats:?}; \
         timeline holds {} of {} events ({} dropped)",
        timeline.events().len(),
        timeline.recorded(),
        timeline.dropped()
    );
    assert_eq!(stats.entries, stats.capacity);
    assert!(stats.evictions >= 8_000, "{stats:?}");
    for (index, rss) in after.iter().enumerate().skip(1) {
        let first = after[0] as f64;
        assert!(
            (*rss as f64) <= first * 1.10,
            "VmRSS after wave {} is {rss} KiB, more than 10 % over wave 1's {first} KiB ({after:?})",
            index + 1
        );
    }
    lab.shutdown().await;
}
