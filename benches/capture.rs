//! What the capture costs: bulk throughput through a CONNECT tunnel with the capture off and on, in
//! one run (the target: on ≥ 0.7 × off), and the process's memory before and after a 1 GiB
//! transfer with the capture on (the target: flat; the file grows, the process does not).
//!
//! `cargo bench --bench capture`; the memory figure is printed after criterion's table. Loopback
//! only; the capture file goes to a temporary folder and is removed. `EGRESSLAB_BENCH_DIR` picks
//! that folder (e.g. /dev/shm), `EGRESSLAB_BENCH_CAPTURE_FILE` the throughput run's file itself
//! (`/dev/null` measures the lab's recording without a disk), `EGRESSLAB_BENCH_SKIP_GIB=1` skips
//! the 1 GiB run.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use egresslab::lab::{CaptureOptions, EndpointBehaviour, EndpointPlan, Lab, ProxyPlan};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const ECHO: &str = "echo.egresslab.test";

fn lab(rt: &tokio::runtime::Runtime, capture: Option<&Path>) -> Lab {
    rt.block_on(async {
        let mut builder = Lab::builder()
            .endpoint(EndpointPlan::http("echo", &[ECHO], 443).behaviour(EndpointBehaviour::Echo))
            .proxy(ProxyPlan::new("corp"));
        if let Some(file) = capture {
            builder = builder.capture(CaptureOptions::to_file(file));
        }
        builder.start().await.expect("lab")
    })
}

async fn open_tunnel(proxy: SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(proxy).await.expect("proxy");
    stream.set_nodelay(true).expect("nodelay");
    let request = format!("CONNECT {ECHO}:443 HTTP/1.1\r\nHost: {ECHO}:443\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut answer = [0u8; 39];
    stream.read_exact(&mut answer).await.expect("answer");
    assert!(answer.starts_with(b"HTTP/1.1 200"));
    stream
}

/// Send `total` bytes through the echo and read them back, concurrently.
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

/// The resident set and its peak, in KiB, from /proc/self/status.
fn memory() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// A temporary folder for the capture files: under `EGRESSLAB_BENCH_DIR` when set (e.g. /dev/shm,
/// to take the disk out of the figure), else the system's temporary folder.
fn temp_dir() -> tempfile::TempDir {
    match std::env::var_os("EGRESSLAB_BENCH_DIR") {
        Some(dir) => tempfile::tempdir_in(dir),
        None => tempfile::tempdir(),
    }
    .expect("temp dir")
}

fn throughput(c: &mut Criterion, rt: &tokio::runtime::Runtime) {
    const TOTAL: usize = 32 * 1024 * 1024;
    let dir = temp_dir();
    let off = lab(rt, None);
    // EGRESSLAB_BENCH_CAPTURE_FILE=/dev/null measures the lab's own recording work without a disk.
    let file = std::env::var_os("EGRESSLAB_BENCH_CAPTURE_FILE")
        .map_or_else(|| dir.path().join("bench.pcapng"), std::path::PathBuf::from);
    let on = lab(rt, Some(&file));
    let mut group = c.benchmark_group("capture_tunnel_throughput");
    group.throughput(Throughput::Bytes(TOTAL as u64));
    for (name, lab) in [("capture_off", &off), ("capture_on", &on)] {
        let proxy = lab.expect_proxy("corp").address();
        group.bench_function(BenchmarkId::new(name, "32MiB"), |b| {
            b.to_async(rt)
                .iter(|| async { bulk(open_tunnel(proxy).await, TOTAL).await })
        });
    }
    group.finish();
    rt.block_on(off.shutdown());
    rt.block_on(on.shutdown());
}

/// One 1 GiB transfer with the capture on: memory before and after, and the file's size.
fn memory_over_a_gibibyte(rt: &tokio::runtime::Runtime) {
    const TOTAL: usize = 1024 * 1024 * 1024;
    let dir = temp_dir();
    let file = dir.path().join("gib.pcapng");
    let lab = lab(rt, Some(&file));
    let proxy = lab.expect_proxy("corp").address();
    // A warm-up tunnel so buffers and tasks exist before the first reading.
    rt.block_on(async { bulk(open_tunnel(proxy).await, 16 * 1024 * 1024).await });
    let (before, _) = memory();
    let started = Instant::now();
    rt.block_on(async { bulk(open_tunnel(proxy).await, TOTAL).await });
    let took = started.elapsed();
    let (after, peak) = memory();
    rt.block_on(lab.shutdown());
    let size = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
    println!(
        "capture memory over 1 GiB echoed through a tunnel: RSS {before} KiB before, {after} KiB after (peak {peak} KiB); file {} MiB; {:.0} MB/s",
        size / (1024 * 1024),
        TOTAL as f64 / took.as_secs_f64() / 1e6
    );
}

fn benches(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    throughput(c, &rt);
    if std::env::var_os("EGRESSLAB_BENCH_SKIP_GIB").is_none() {
        memory_over_a_gibibyte(&rt);
    }
}

criterion_group! {
    name = capture;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(4));
    targets = benches
}
criterion_main!(capture);
