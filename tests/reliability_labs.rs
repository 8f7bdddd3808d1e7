//! 50 labs started and stopped in a row leave no descriptor, port, task or memory behind.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::proxy::{proxy_addr, read_head, status, world, ECHO};
use common::reliab::{alive_tasks, eventually, fd_count, rss_kib, trim_heap};
use egresslab::certs::Factory;
use egresslab::lab::ProxyPlan;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_labs_in_a_row_leave_nothing_behind() {
    let certs = Arc::new(Factory::ephemeral().unwrap());
    let mut figures = Vec::new();
    let one_round = |certs: Arc<Factory>| async move {
        let lab = world()
            .proxy(ProxyPlan::new("corp"))
            .certs(certs)
            .start()
            .await
            .unwrap();
        let proxy = proxy_addr(&lab, "corp");
        let mut stream = TcpStream::connect(proxy).await.unwrap();
        stream
            .write_all(format!("CONNECT {ECHO}:443 HTTP/1.1\r\n\r\n").as_bytes())
            .await
            .unwrap();
        assert_eq!(status(&read_head(&mut stream).await), 200);
        stream.write_all(b"x").await.unwrap();
        let mut one = [0u8; 1];
        stream.read_exact(&mut one).await.unwrap();
        let mut ports: Vec<_> = lab.endpoints().iter().map(|e| e.listen_address()).collect();
        ports.push(proxy);
        tokio::time::timeout(Duration::from_secs(5), lab.shutdown())
            .await
            .expect("bounded shutdown");
        drop(stream);
        ports
    };
    // Warm up (lazy statics, runtime, allocator), then measure.
    one_round(certs.clone()).await;
    trim_heap();
    let (fds_base, rss_base, tasks_base) = (fd_count(), rss_kib(), alive_tasks());
    let started = Instant::now();
    for round in 0..50 {
        let ports = one_round(certs.clone()).await;
        for address in ports {
            std::net::TcpListener::bind(address)
                .unwrap_or_else(|e| panic!("round {round}: {address} not free: {e}"));
        }
        if round % 10 == 9 {
            eventually(Duration::from_secs(2), || fd_count() <= fds_base).await;
            trim_heap();
            figures.push((round + 1, fd_count(), rss_kib(), alive_tasks()));
        }
    }
    println!(
        "50 labs in {:?}; baseline fds {fds_base}, VmRSS {rss_base} KiB, tasks {tasks_base}; \
         (labs, fds, VmRSS KiB, tasks): {figures:?}",
        started.elapsed()
    );
    let (_, fds_end, rss_end, tasks_end) = *figures.last().unwrap();
    assert!(fds_end <= fds_base, "descriptors grew: {figures:?}");
    assert!(tasks_end <= tasks_base, "tasks grew: {figures:?}");
    // The timeline and per-lab folders are freed with each lab; growth would show here.
    assert!(rss_end < rss_base + 8 * 1024, "memory grew: {figures:?}");
}
