//! Waves of CONNECT tunnels through one proxy, each echoing a line and held open until its whole
//! wave is open: the load the reliability tests measure descriptors, tasks and memory under.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use egresslab::lab::{Lab, LabBuilder, ProxyPlan};

use super::proxy::{proxy_addr, read_head, status, ECHO};
use super::reliab::{alive_tasks, eventually, fd_count, rss_kib, trim_heap};

/// Descriptors one tunnel holds in this process: client, proxy's accepted socket, proxy's origin
/// socket, origin's accepted socket (the lab keeps no duplicate of an accepted socket for the reset at
/// shutdown; tests/reliability_memory.rs measures it).
pub const FDS_PER_TUNNEL: u64 = 4;

/// A lab of `builder` with one proxy `corp` that admits `tunnels` at once, its address, and the
/// process's tasks, descriptors and memory once it is up.
pub async fn lab_for(builder: LabBuilder, tunnels: usize) -> (Lab, std::net::SocketAddr, Baseline) {
    let lab = builder
        .proxy(ProxyPlan {
            max_connections: 2 * tunnels,
            ..ProxyPlan::new("corp")
        })
        .start()
        .await
        .unwrap();
    let proxy = proxy_addr(&lab, "corp");
    let tasks = alive_tasks();
    let fds = fd_count();
    trim_heap();
    let rss = rss_kib();
    (lab, proxy, Baseline { tasks, fds, rss })
}

/// What the process held before the load.
#[derive(Debug, Clone, Copy)]
pub struct Baseline {
    /// Live tokio tasks.
    pub tasks: usize,
    /// Open descriptors.
    pub fds: usize,
    /// Resident memory, KiB, after trimming the heap.
    pub rss: u64,
}

impl Baseline {
    /// Whether descriptors and tasks came back to the baseline within `within`.
    pub async fn settled(&self, within: Duration) -> bool {
        eventually(within, || {
            fd_count() <= self.fds && alive_tasks() <= self.tasks
        })
        .await
    }
}

/// Open one tunnel, echo 32 bytes, report, hold it open until `release`, close.
pub async fn tunnel(
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

/// What a run of waves saw at its peaks, and the tunnels that failed.
#[derive(Debug, Default)]
pub struct Waves {
    /// The most descriptors this process held with a wave open.
    pub peak_fds: usize,
    /// The most resident memory, in KiB, with a wave open.
    pub peak_rss: u64,
    /// What went wrong, one line per failed or stalled tunnel.
    pub errors: Vec<String>,
}

/// Open `total` tunnels through `proxy`, `per_wave` at once: each wave is all open (peaks read
/// then) before it is released and closed. Stops at the first wave with an error.
pub async fn in_waves(proxy: std::net::SocketAddr, total: usize, per_wave: usize) -> Waves {
    let mut waves = Waves::default();
    let mut done = 0;
    while done < total {
        let count = per_wave.min(total - done);
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
        for _ in 0..count {
            let next = tokio::time::timeout(Duration::from_secs(60), ready_rx.recv()).await;
            match next {
                Ok(Some(Ok(()))) => {}
                Ok(Some(Err(error))) => waves.errors.push(error),
                Ok(None) | Err(_) => {
                    waves.errors.push("a tunnel stalled".to_owned());
                    break;
                }
            }
        }
        // Every tunnel of the wave is open at this point.
        waves.peak_fds = waves.peak_fds.max(fd_count());
        waves.peak_rss = waves.peak_rss.max(rss_kib());
        release.cancel();
        for client in clients {
            client.await.unwrap();
        }
        if !waves.errors.is_empty() {
            break;
        }
        done += count;
    }
    waves
}

/// How many tunnels fit open at once under descriptor limit `limit`, with `base` descriptors
/// already held and [`FDS_PER_TUNNEL`] per tunnel in this process, at most `total`.
pub fn per_wave(limit: u64, base: usize, total: usize) -> usize {
    let spare = limit.saturating_sub(base as u64 + 512);
    let at_once = usize::try_from(spare / FDS_PER_TUNNEL)
        .unwrap_or(total)
        .min(total);
    assert!(at_once >= 500, "descriptor limit {limit} is too low");
    total.div_ceil(total.div_ceil(at_once))
}
