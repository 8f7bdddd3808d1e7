//! Leak or allocator? Three rounds of 10 000 tunnels through one lab, with the timeline's ring kept
//! small so its events do not count: what the process holds after the first round is what the
//! allocator keeps after a peak, and a leak would add to it with every round. In its own test
//! binary because it reads the whole process's memory.

mod common;

use std::time::Duration;

use common::proxy::world;
use common::reliab::{raise_nofile, rss_kib, trim_heap};
use common::waves;

const TUNNELS: usize = 10_000;
const ROUNDS: usize = 3;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rounds_of_tunnels_after_the_first_add_nothing_to_memory() {
    let limit = raise_nofile();
    let (lab, proxy, base) = waves::lab_for(world().timeline_capacity(1_000), TUNNELS).await;
    let per_wave = waves::per_wave(limit, base.fds, TUNNELS);
    let mut after = Vec::new();
    for round in 1..=ROUNDS {
        let load = waves::in_waves(proxy, TUNNELS, per_wave).await;
        assert!(load.errors.is_empty(), "round {round}: {:?}", load.errors);
        assert!(
            base.settled(Duration::from_secs(20)).await,
            "round {round}: descriptors or tasks left behind"
        );
        trim_heap();
        after.push(rss_kib());
    }
    lab.shutdown().await;
    let figures = format!(
        "VmRSS {} KiB at the start, after each round of {TUNNELS} tunnels: {after:?} KiB",
        base.rss
    );
    println!("{figures}");
    // Measured on 2026-12-03 (debug build, the same ring): +10.0 MiB after the first round, then
    // +10.9, +10.7, +11.2 MiB after the next three. A leak of 400 bytes per tunnel would add 8 MiB
    // over the two rounds after the first.
    let growth = after[ROUNDS - 1].saturating_sub(after[0]);
    assert!(
        growth < 8 * 1024,
        "memory grew by {growth} KiB over {} rounds after the first: {figures}",
        ROUNDS - 1
    );
}
