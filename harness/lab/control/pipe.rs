//! One connection through a link: two directions, each reading chunks and passing them through the
//! toxics of its stream, re-read before every chunk so a toxic added or removed acts at once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::draw::{touches, Draws};
use super::toxic::{Stream, Toxic, ToxicKind};

/// The size of one read: Toxiproxy's chunks are of this order, and a bulk transfer with no toxic
/// moves at memory speed with it.
const CHUNK: usize = 32 * 1024;

/// What a connection through a link needs.
pub(crate) struct Connection<'a> {
    pub client: TcpStream,
    pub upstream: TcpStream,
    pub toxics: watch::Receiver<Arc<Vec<Toxic>>>,
    pub seed: u64,
    pub link: &'a str,
    pub number: u64,
    /// Cancelled when the link is disabled, removed or changed, or the lab stops.
    pub stop: CancellationToken,
    /// The destination host of a proxy's origin connection: only toxics whose destination pattern
    /// matches act on it. `None` (a client connection) takes the toxics without a destination.
    pub destination: Option<&'a str>,
}

/// How a connection ended.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Close {
    /// Both sides closed.
    Ended,
    /// The link was disabled, removed or changed.
    Stopped,
    /// A toxic closed it (`timeout`, `limit_data`), in words.
    ToxicClosed(&'static str),
    /// A toxic reset it (`reset_peer`), in words.
    ToxicReset(&'static str),
}

/// Bytes each way and how it ended.
pub(crate) struct Outcome {
    pub up: u64,
    pub down: u64,
    pub close: Close,
}

/// What both directions of one connection share.
struct Shared<'a> {
    seed: u64,
    destination: Option<&'a str>,
    link: &'a str,
    number: u64,
    stop: CancellationToken,
    /// Cancelled when a toxic ends the connection; `verdict` says how.
    end: CancellationToken,
    verdict: Mutex<Option<Close>>,
}

impl Shared<'_> {
    fn finish(&self, close: Close) {
        let mut verdict = self.verdict.lock().unwrap_or_else(|p| p.into_inner());
        verdict.get_or_insert(close);
        self.end.cancel();
    }
}

/// Relay `connection` until both sides close, a toxic ends it or the link stops.
pub(crate) async fn connection(connection: Connection<'_>) -> Outcome {
    let Connection {
        client,
        upstream,
        toxics,
        seed,
        link,
        number,
        stop,
        destination,
    } = connection;
    let shared = Shared {
        seed,
        destination,
        link,
        number,
        stop,
        end: CancellationToken::new(),
        verdict: Mutex::new(None),
    };
    let (client_read, client_write) = client.into_split();
    let (upstream_read, upstream_write) = upstream.into_split();
    let up = direction(
        &shared,
        Stream::Upstream,
        client_read,
        upstream_write,
        toxics.clone(),
    );
    let down = direction(
        &shared,
        Stream::Downstream,
        upstream_read,
        client_write,
        toxics,
    );
    let ((up_bytes, client_read, upstream_write), (down_bytes, upstream_read, client_write)) =
        tokio::join!(up, down);
    let verdict = *shared.verdict.lock().unwrap_or_else(|p| p.into_inner());
    let close = match verdict {
        Some(close) => close,
        None if shared.stop.is_cancelled() => Close::Stopped,
        None => Close::Ended,
    };
    if let Close::ToxicReset(_) = close {
        // SO_LINGER 0 on both sockets, whole again so that dropping a write half does not send a
        // FIN first: their close sends RST, which the client sees as "connection reset by peer".
        for (read, write) in [(client_read, client_write), (upstream_read, upstream_write)] {
            if let Ok(stream) = read.reunite(write) {
                if let Err(error) = stream.set_zero_linger() {
                    tracing::debug!(%error, "cannot set SO_LINGER 0");
                }
            }
        }
    } else {
        drop((client_read, client_write, upstream_read, upstream_write));
    }
    Outcome {
        up: up_bytes,
        down: down_bytes,
        close,
    }
}

/// The toxics of `stream` that act on this connection.
fn acting(shared: &Shared<'_>, stream: Stream, all: &[Toxic]) -> Vec<Toxic> {
    all.iter()
        .filter(|t| t.stream == stream)
        .filter(|t| t.acts_on(shared.destination))
        .filter(|t| touches(shared.seed, shared.link, shared.number, &t.name, t.toxicity))
        .cloned()
        .collect()
}

/// The settings of one chunk's journey, gathered from the acting toxics.
#[derive(Default, Clone, Copy)]
struct Plan {
    latency: Option<(u64, u64)>,
    rate: Option<u64>,
    slicer: Option<(u64, u64, u64)>,
    limit: Option<u64>,
    slow_close: Option<u64>,
    /// The earliest moment a `timeout` toxic closes the connection, and whether one holds data.
    hold: Option<Option<Instant>>,
    reset_at: Option<Instant>,
}

fn make_plan(toxics: &[Toxic], first_seen: &mut HashMap<String, Instant>) -> Plan {
    let now = Instant::now();
    let mut plan = Plan::default();
    for toxic in toxics {
        let since = *first_seen.entry(toxic.name.clone()).or_insert(now);
        match toxic.kind {
            ToxicKind::Noop | ToxicKind::PacketLoss => {}
            ToxicKind::Latency { latency, jitter } => plan.latency = Some((latency, jitter)),
            ToxicKind::Bandwidth { rate } if rate > 0 => plan.rate = Some(rate),
            ToxicKind::Bandwidth { .. } => {}
            ToxicKind::SlowClose { delay } => plan.slow_close = Some(delay),
            ToxicKind::Timeout { timeout } => {
                let close = (timeout > 0).then(|| since + Duration::from_millis(timeout));
                plan.hold = Some(close);
            }
            ToxicKind::ResetPeer { timeout } => {
                let at = since + Duration::from_millis(timeout);
                plan.reset_at = Some(plan.reset_at.map_or(at, |other: Instant| other.min(at)));
            }
            ToxicKind::Slicer {
                average_size,
                size_variation,
                delay,
            } => plan.slicer = Some((average_size, size_variation, delay)),
            ToxicKind::LimitData { bytes } => {
                plan.limit = Some(plan.limit.map_or(bytes, |other: u64| other.min(bytes)))
            }
        }
    }
    // Names no longer acting start afresh if they come back.
    first_seen.retain(|name, _| toxics.iter().any(|t| &t.name == name));
    plan
}

/// What ended a wait.
enum Woke {
    Ready,
    ToxicsChanged,
    Over,
}

/// Sleep until `at` (or forever with `None`), unless the connection ends or the toxics change.
async fn wait(
    shared: &Shared<'_>,
    at: Option<Instant>,
    toxics: &mut watch::Receiver<Arc<Vec<Toxic>>>,
) -> Woke {
    let sleep = async {
        match at {
            Some(at) => tokio::time::sleep_until(at).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        () = shared.end.cancelled() => Woke::Over,
        () = shared.stop.cancelled() => Woke::Over,
        changed = toxics.changed() => if changed.is_ok() { Woke::ToxicsChanged } else { Woke::Over },
        () = sleep => Woke::Ready,
    }
}

/// One direction: read from `from`, pass through the toxics, write to `to`. Gives the halves back
/// so the connection can reset them.
async fn direction(
    shared: &Shared<'_>,
    stream: Stream,
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    mut toxics: watch::Receiver<Arc<Vec<Toxic>>>,
) -> (u64, OwnedReadHalf, OwnedWriteHalf) {
    let mut buf = vec![0u8; CHUNK];
    let mut draws = Draws::new(shared.seed, shared.link, shared.number, stream.word());
    let mut first_seen = HashMap::new();
    let mut sent: u64 = 0;
    let mut next_free = Instant::now();
    let mut plan = Plan::default();
    let mut stale = true;
    loop {
        // The acting toxics and their plan change only when the list does, not per chunk.
        if stale || toxics.has_changed().unwrap_or(false) {
            let all = toxics.borrow_and_update().clone();
            plan = make_plan(&acting(shared, stream, &all), &mut first_seen);
            stale = false;
        }
        if let Some(at) = plan.reset_at {
            if at <= Instant::now() {
                shared.finish(Close::ToxicReset("reset by the reset_peer toxic"));
                return (sent, from, to);
            }
        }
        if let Some(close_at) = plan.hold {
            // A timeout toxic: read nothing, so data waits in the socket buffers, until it is
            // removed (flow resumes) or its time-out closes the connection.
            let until = match (close_at, plan.reset_at) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            match wait(shared, until, &mut toxics).await {
                Woke::ToxicsChanged => {
                    stale = true;
                    continue;
                }
                Woke::Over => return (sent, from, to),
                Woke::Ready => {
                    if plan.reset_at.is_some_and(|at| at <= Instant::now()) {
                        shared.finish(Close::ToxicReset("reset by the reset_peer toxic"));
                    } else {
                        shared.finish(Close::ToxicClosed("closed by the timeout toxic"));
                    }
                    return (sent, from, to);
                }
            }
        }
        let read = tokio::select! {
            () = shared.end.cancelled() => return (sent, from, to),
            () = shared.stop.cancelled() => return (sent, from, to),
            changed = toxics.changed() => {
                if changed.is_err() {
                    return (sent, from, to);
                }
                stale = true;
                continue;
            }
            () = async {
                match plan.reset_at {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            } => continue,
            read = from.read(&mut buf) => read,
        };
        let n = match read {
            Ok(0) | Err(_) => {
                if let Some(delay) = plan.slow_close {
                    let at = Instant::now() + Duration::from_millis(delay);
                    if let Woke::Over = wait_ignoring_changes(shared, at).await {
                        return (sent, from, to);
                    }
                }
                let _ = to.shutdown().await;
                return (sent, from, to);
            }
            Ok(n) => n,
        };
        let arrived = Instant::now();
        let mut chunk = &buf[..n];
        let mut limited = false;
        if let Some(limit) = plan.limit {
            let room = limit.saturating_sub(sent);
            if (chunk.len() as u64) >= room {
                chunk = &chunk[..room as usize];
                limited = true;
            }
        }
        if let Some((latency, jitter)) = plan.latency {
            let delay = (latency as i64 + draws.around(jitter)).max(0) as u64;
            let at = arrived + Duration::from_millis(delay);
            if let Woke::Over = wait_ignoring_changes(shared, at).await {
                return (sent, from, to);
            }
        }
        while !chunk.is_empty() {
            let mut size = chunk.len();
            if let Some((average, variation, _)) = plan.slicer {
                size = size.min((average as i64 + draws.around(variation)).max(1) as usize);
            }
            if let Some(rate) = plan.rate {
                // A tenth of a second's worth at most, so the rate holds over short spans too.
                size = size.min(((rate * 100) as usize).max(1));
                let now = Instant::now();
                if next_free > now {
                    if let Woke::Over = wait_ignoring_changes(shared, next_free).await {
                        return (sent, from, to);
                    }
                }
                next_free = next_free.max(now)
                    + Duration::from_secs_f64(size as f64 / (rate as f64 * 1000.0));
            }
            let (piece, rest) = chunk.split_at(size);
            let written = tokio::select! {
                () = shared.end.cancelled() => return (sent, from, to),
                () = shared.stop.cancelled() => return (sent, from, to),
                written = to.write_all(piece) => written,
            };
            if written.is_err() {
                shared.finish(Close::Ended);
                return (sent, from, to);
            }
            sent += piece.len() as u64;
            chunk = rest;
            if let Some((_, _, delay_us)) = plan.slicer {
                if !chunk.is_empty() {
                    let at = Instant::now() + Duration::from_micros(delay_us);
                    if let Woke::Over = wait_ignoring_changes(shared, at).await {
                        return (sent, from, to);
                    }
                }
            }
        }
        if limited {
            shared.finish(Close::ToxicClosed("closed by the limit_data toxic"));
            return (sent, from, to);
        }
    }
}

/// Sleep until `at` unless the connection ends; a toxic change does not cut a pacing wait short.
async fn wait_ignoring_changes(shared: &Shared<'_>, at: Instant) -> Woke {
    tokio::select! {
        () = shared.end.cancelled() => Woke::Over,
        () = shared.stop.cancelled() => Woke::Over,
        () = tokio::time::sleep_until(at) => Woke::Ready,
    }
}
