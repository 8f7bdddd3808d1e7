//! Load: 10 000 tunnels through one proxy, as many open at once as the descriptor limit allows,
//! each moving bytes and closing; then descriptors, tasks and memory are back to baseline.

mod common;

use std::time::{Duration, Instant};

use common::proxy::{proxy_addr, read_head, status, world, ECHO};
use common::reliab::{alive_tasks, eventually, fd_count, raise_nofile, rss_kib, trim_heap};
use egresslab::lab::{EventKind, ProxyPlan};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

const TUNNELS: usize = 10_000;
/// Descriptors one tunnel holds in this process: client, proxy's accepted socket, proxy's origin
/// socket, origin's accepted socket (the lab keeps no duplicate of an accepted socket for the reset at
/// shutdown; tests/reliability_memory.rs measures it).
const FDS_PER_TUNNEL: u64 = 4;

/// Open one tunnel, echo 32 bytes, report, hold it open until `release`, close.
async fn tunnel(
    proxy: std::net::SocketAddr,
    index: usize,
    ready: mpsc::Sender<Result<(), String>>,
    release: CancellationToken,
) {
    let result = async {
        let mut stream = TcpStream::connect(proxy).await.map_err(|e| e.to_string())?;
        let request = format!("CONNECT {ECHO}:443 HTTP/1.1\r\nHost: {ECHO}:443\r\n\r\n");
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let head = read_head(&mut stream).await;
        if status(&head) != 200 {
            return Err(format!("tunnel {index}: {head}"));
        }
        let payload = format!("tunnel {index:>10} payload {:>6}\n", index % 1000);
        stream
            .write_all(payload.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut back = vec![0u8; payload.len()];
        stream
            .read_exact(&mut back)
            .await
            .map_err(|e| e.to_string())?;
        if back != payload.as_bytes() {
            return Err(format!("tunnel {index}: echoed bytes differ"));
        }
        Ok(stream)
    }
    .await;
    match result {
        Ok(stream) => {
            let _ = ready.send(Ok(())).await;
            release.cancelled().await;
            drop(stream);
        }
        Err(error) => {
            let _ = ready.send(Err(error)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_tunnels_then_everything_back_to_baseline() {
    let limit = raise_nofile();
    let fds_before_lab = fd_count();
    let lab = world()
        .proxy(ProxyPlan {
            max_connections: 2 * TUNNELS,
            ..ProxyPlan::new("corp")
        })
        .start()
        .await
        .unwrap();
    let proxy = proxy_addr(&lab, "corp");
    let tasks_base = alive_tasks();
    let fds_base = fd_count();
    trim_heap();
    let rss_base = rss_kib();

    let spare = limit.saturating_sub(fds_base as u64 + 512);
    let at_once = usize::try_from(spare / FDS_PER_TUNNEL)
        .unwrap_or(TUNNELS)
        .min(TUNNELS);
    assert!(at_once >= 500, "descriptor limit {limit} is too low");
    let waves = TUNNELS.div_ceil(at_once);
    let per_wave = TUNNELS.div_ceil(waves);

    let started = Instant::now();
    let (mut done, mut peak_fds, mut peak_rss) = (0, 0, 0);
    while done < TUNNELS {
        let count = per_wave.min(TUNNELS - done);
        let (ready_tx, mut ready_rx) = mpsc::channel(count);
        let release = CancellationToken::new();
        let mut clients = Vec::with_capacity(count);
        for index in done..done + count {
            clients.push(tokio::spawn(tunnel(
                proxy,
                index,
                ready_tx.clone(),
                release.clone(),
            )));
        }
        drop(ready_tx);
        let mut errors = Vec::new();
        for _ in 0..count {
            let next = tokio::time::timeout(Duration::from_secs(60), ready_rx.recv()).await;
            match next {
                Ok(Some(Ok(()))) => {}
                Ok(Some(Err(error))) => errors.push(error),
                Ok(None) | Err(_) => {
                    errors.push("a tunnel stalled".to_owned());
                    break;
                }
            }
        }
        // Every tunnel of the wave is open at this point.
        peak_fds = peak_fds.max(fd_count());
        peak_rss = peak_rss.max(rss_kib());
        release.cancel();
        for client in clients {
            client.await.unwrap();
        }
        assert!(
            errors.is_empty(),
            "{} errors: {:?}",
            errors.len(),
            &errors[..errors.len().min(5)]
        );
        done += count;
    }
    let elapsed = started.elapsed();

    let timeline = lab.timeline().clone();
    let mut closed = 0;
    let all_closed = timeline
        .wait_for(
            |e| {
                closed += usize::from(
                    e.source == "proxy:corp" && matches!(e.kind, EventKind::Closed { .. }),
                );
                closed == TUNNELS
            },
            Duration::from_secs(20),
        )
        .await;
    assert!(
        all_closed.is_ok(),
        "the proxy recorded {closed} of {TUNNELS} tunnels closed"
    );
    let back_to_base = eventually(Duration::from_secs(20), || {
        fd_count() <= fds_base && alive_tasks() <= tasks_base
    })
    .await;
    trim_heap();
    let rss_after = rss_kib();
    let figures = format!(
        "tunnels {TUNNELS} in {waves} waves of {per_wave} open at once (fd limit {limit}); \
         {:.1} s; fds {fds_base} -> peak {peak_fds} -> {}; tasks {tasks_base} -> {}; \
         VmRSS {rss_base} KiB -> peak {peak_rss} KiB -> {rss_after} KiB (timeline holds {} events)",
        elapsed.as_secs_f64(),
        fd_count(),
        alive_tasks(),
        timeline.events().len()
    );
    println!("{figures}");
    assert!(back_to_base, "not back to baseline: {figures}");
    assert!(
        elapsed < Duration::from_secs(50),
        "10 000 tunnels took too long: {figures}"
    );
    assert!(
        peak_fds >= fds_base + per_wave * 3,
        "tunnels were not open at once: {figures}"
    );
    let timeline_events = timeline.events().len();
    drop(timeline);
    tokio::time::timeout(Duration::from_secs(10), lab.shutdown())
        .await
        .expect("shutdown is bounded");
    assert!(
        eventually(Duration::from_secs(10), || fd_count() <= fds_before_lab).await,
        "descriptors left after shutdown: {} > {fds_before_lab}",
        fd_count()
    );
    trim_heap();
    let rss_gone = rss_kib();
    println!("after shutdown ({timeline_events} timeline events freed): VmRSS {rss_gone} KiB");
    // What one tunnel holds while it lives is 13 KiB of task and state plus its relay buffers (32
    // KiB while bulk): leaking a tunnel, or any per-tunnel state of 7 KiB or more, would leave
    // 64 MiB here. What stays is heap the allocator keeps after the peak, and it varies from run
    // to run: measured on 2026-12-03 (debug build), 28-43 MiB above the baseline after 10 000
    // tunnels, 16-21 MiB after 5 000 (docs/reliability.md: not yet explained).
    assert!(
        rss_gone < rss_base + 64 * 1024,
        "memory did not come back near baseline: {rss_gone} KiB after shutdown; {figures}"
    );
}
