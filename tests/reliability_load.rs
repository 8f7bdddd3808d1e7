//! Load: 10 000 tunnels through one proxy, as many open at once as the descriptor limit allows,
//! each moving bytes and closing; then descriptors, tasks and memory are back to baseline.

mod common;

use std::time::{Duration, Instant};

use common::proxy::world;
use common::reliab::{alive_tasks, eventually, fd_count, raise_nofile, rss_kib, trim_heap};
use common::waves;
use egresslab::lab::EventKind;

const TUNNELS: usize = 10_000;
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_tunnels_then_everything_back_to_baseline() {
    let limit = raise_nofile();
    let fds_before_lab = fd_count();
    let (lab, proxy, base) = waves::lab_for(world(), TUNNELS).await;
    let (tasks_base, fds_base, rss_base) = (base.tasks, base.fds, base.rss);

    let per_wave = waves::per_wave(limit, fds_base, TUNNELS);
    let waves = TUNNELS.div_ceil(per_wave);

    let started = Instant::now();
    let load = waves::in_waves(proxy, TUNNELS, per_wave).await;
    assert!(
        load.errors.is_empty(),
        "{} errors: {:?}",
        load.errors.len(),
        &load.errors[..load.errors.len().min(5)]
    );
    let (peak_fds, peak_rss) = (load.peak_fds, load.peak_rss);
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
    let back_to_base = base.settled(Duration::from_secs(20)).await;
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
    // tunnels, 16-21 MiB after 5 000. tests/reliability_rounds.rs shows it is kept heap, not a
    // leak: rounds after the first add nothing.
    assert!(
        rss_gone < rss_base + 64 * 1024,
        "memory did not come back near baseline: {rss_gone} KiB after shutdown; {figures}"
    );
}
