//! The transfer rate of an answer's body: a path that delivers only a few kilobytes per second is
//! named as slow (`net.slow_path`) with the rate measured, where a head-only probe would pass.

use std::time::{Duration, Instant};

use crate::check::codes;
use crate::check::finding::{Evidence, Finding};
use crate::check::transport::exchange::Answer;

/// Bodies shorter than this are not timed: their time is the round trip's, not the path's rate.
pub const MEASURED_BODY_BYTES: u64 = 4_000;

/// At most this much of a body is read to measure it (a few seconds at a slow rate).
const MEASURE_LIMIT: u64 = 256_000;

/// Below this many KB/s (1 KB = 1000 bytes) a path is called slow: a registration or sign-in
/// download of a few hundred kilobytes then takes longer than a client waits.
pub const SLOW_PATH_KBPS: f64 = 64.0;

/// A body that arrives within this time is never called slow, whatever its rate: over a few
/// kilobytes the rate measures the round trip and a loaded machine's scheduling, not the path.
pub const MIN_SLOW_TIME: Duration = Duration::from_secs(1);

/// Time the body of `answer` (sent at `sent`) for `target`; `net.slow_path` when it is long
/// enough to measure, takes at least [`MIN_SLOW_TIME`] and arrives slower than [`SLOW_PATH_KBPS`];
/// `None` otherwise.
pub async fn slow_body(
    answer: &mut Answer,
    target: &str,
    sent: Instant,
    budget: Duration,
) -> Option<Finding> {
    if answer.content_length()? < MEASURED_BODY_BYTES {
        return None;
    }
    let read = answer.read_body(MEASURE_LIMIT, sent, budget).await;
    let seconds = read.elapsed.as_secs_f64().max(0.001);
    let kbps = read.bytes as f64 / 1000.0 / seconds;
    if kbps >= SLOW_PATH_KBPS || read.elapsed < MIN_SLOW_TIME {
        return None;
    }
    let whole = if read.bytes >= read.announced.min(MEASURE_LIMIT) {
        format!("{} bytes", read.bytes)
    } else {
        format!(
            "{} of {} bytes before giving up",
            read.bytes, read.announced
        )
    };
    Some(
        Finding::new(
            codes::NET_SLOW_PATH,
            target,
            format!(
                "the path to {target} is slow: {kbps:.1} KB/s measured ({whole} in {:.2?}), below {SLOW_PATH_KBPS} KB/s",
                read.elapsed
            ),
        )
        .with_evidence(Evidence::new(
            format!("read the body of the answer from {target}"),
            format!("{whole}: {kbps:.1} KB/s"),
            read.elapsed,
        )),
    )
}
