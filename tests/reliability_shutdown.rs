//! Shutdown under load ends every tunnel within a bound, frees every port and leaves no task.

mod common;

use std::time::{Duration, Instant};

use common::proxy::{proxy_addr, read_head, status, world, ECHO};
use common::reliab::{alive_tasks, eventually, fd_count, raise_nofile};
use egresslab::lab::{EventKind, ProxyPlan};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_under_load_closes_every_tunnel_and_frees_every_port() {
    raise_nofile();
    let tasks_before = alive_tasks();
    let fds_before = fd_count();
    let lab = world().proxy(ProxyPlan::new("corp")).start().await.unwrap();
    let proxy = proxy_addr(&lab, "corp");
    let mut ports: Vec<_> = lab.endpoints().iter().map(|e| e.listen_address()).collect();
    ports.push(proxy);
    let mut tunnels = Vec::new();
    for _ in 0..500 {
        let mut stream = TcpStream::connect(proxy).await.unwrap();
        let request = format!("CONNECT {ECHO}:443 HTTP/1.1\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        assert_eq!(status(&read_head(&mut stream).await), 200);
        tunnels.push(stream);
    }
    let timeline = lab.timeline().clone();
    let started = Instant::now();
    tokio::time::timeout(Duration::from_secs(5), lab.shutdown())
        .await
        .expect("shutdown within 5 s with 500 open tunnels");
    let took = started.elapsed();
    for stream in &mut tunnels {
        let mut rest = Vec::new();
        let ended =
            tokio::time::timeout(Duration::from_secs(2), stream.read_to_end(&mut rest)).await;
        assert!(ended.is_ok(), "a tunnel stayed open after shutdown");
    }
    // Every tunnel's end is on record; most say "shutdown", a few see the origin (the lab's echo
    // endpoint, stopping at the same moment) close first.
    let reasons: Vec<String> = timeline
        .events()
        .into_iter()
        .filter(|e| e.source == "proxy:corp")
        .filter_map(|e| match e.kind {
            EventKind::Closed { reason, .. } => Some(reason),
            _ => None,
        })
        .collect();
    assert_eq!(reasons.len(), 500, "{reasons:?}");
    assert!(
        reasons
            .iter()
            .all(|r| r == "shutdown" || r.starts_with("origin")),
        "{reasons:?}"
    );
    for address in &ports {
        std::net::TcpListener::bind(address)
            .unwrap_or_else(|e| panic!("{address} is not free after shutdown: {e}"));
    }
    drop(tunnels);
    let clean = eventually(Duration::from_secs(5), || {
        alive_tasks() <= tasks_before && fd_count() <= fds_before
    })
    .await;
    println!(
        "shutdown with 500 tunnels: {took:?}; tasks {tasks_before} -> {}; fds {fds_before} -> {}",
        alive_tasks(),
        fd_count()
    );
    assert!(clean, "tasks or descriptors left behind");
}
