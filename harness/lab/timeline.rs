//! The timeline: every connection, request, answer, handshake and close, as JSON lines.
//!
//! It is the lab's packet capture. Components record typed events; tests read them back or wait for
//! one ([`Timeline::wait_for`], [`Timeline::assert_event`]), `egresslab up --timeline` streams them to
//! a file. Secrets never enter it: events carry user names, never passwords. The in-memory copy is a
//! ring buffer of bounded capacity that counts what it dropped; a stream file gets every event.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::watch;

/// How many events a timeline keeps in memory unless told otherwise.
pub const DEFAULT_CAPACITY: usize = 100_000;

/// A shared, append-only record of what happened in a lab.
///
/// ```
/// use egresslab::lab::{EventKind, Timeline};
///
/// let timeline = Timeline::new();
/// timeline.record("dns", EventKind::Note { message: "hello".into() });
/// assert_eq!(timeline.events().len(), 1);
/// assert_eq!(timeline.dropped(), 0);
/// ```
#[derive(Clone)]
pub struct Timeline {
    inner: Arc<Inner>,
}

struct Inner {
    started: Instant,
    ring: Mutex<Ring>,
    sink: Mutex<Option<BufWriter<File>>>,
    /// The number of events recorded so far; waiters watch it change.
    recorded: watch::Sender<u64>,
}

/// The events kept in memory: the newest `capacity`, and how many older ones were dropped.
struct Ring {
    events: VecDeque<Event>,
    capacity: usize,
    dropped: u64,
}

/// [`Timeline::wait_for`] gave up: no event matched within the time allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no matching timeline event within {waited:?} ({seen} events seen)")]
#[non_exhaustive]
pub struct WaitTimedOut {
    /// How long it waited.
    pub waited: Duration,
    /// How many events the timeline held when it gave up.
    pub seen: usize,
}

/// One thing that happened, with the component that saw it and when.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    /// Milliseconds since the lab started.
    pub at_ms: f64,
    /// The component that recorded it: `proxy:corp`, `endpoint:login`, `firewall`, `dns`, `udp:ike`.
    pub source: String,
    /// What happened.
    #[serde(flatten)]
    pub kind: EventKind,
}

/// The kinds of events components record.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
#[non_exhaustive]
pub enum EventKind {
    /// A TCP connection was accepted.
    Accepted {
        /// The client's address.
        peer: SocketAddr,
    },
    /// A request line was read (CONNECT or absolute-URI), with the target it names.
    Request {
        /// The client's address.
        peer: SocketAddr,
        /// Method as sent.
        method: String,
        /// Target as sent (`host:port` or an absolute URI).
        target: String,
        /// The user named in `Proxy-Authorization`, if any (never the password).
        user: Option<String>,
    },
    /// An access or firewall rule decided the fate of a connection.
    RuleFired {
        /// Which rule (index and pattern) fired, in words.
        rule: String,
        /// What it did.
        action: String,
        /// The destination it was applied to.
        target: String,
    },
    /// A proxy answered a request.
    Answer {
        /// Status code sent.
        status: u16,
        /// Why, in words (`denied by rule 2`, `origin refused`, `tunnel established`).
        reason: String,
    },
    /// A TLS handshake completed.
    TlsHandshake {
        /// Negotiated protocol version (`TLSv1.2`, `TLSv1.3`).
        version: String,
        /// SNI the client sent.
        sni: Option<String>,
        /// Subject of the certificate served.
        served: String,
        /// Subject of the client certificate received, if any.
        client_cert: Option<String>,
    },
    /// A TLS handshake failed.
    TlsFailed {
        /// SNI the client sent, if it got that far.
        sni: Option<String>,
        /// The error.
        error: String,
    },
    /// A connection closed.
    Closed {
        /// Bytes from client to server.
        bytes_up: u64,
        /// Bytes from server to client.
        bytes_down: u64,
        /// Why it closed (`client closed`, `origin reset`, `reset after 100 bytes`, `shutdown`).
        reason: String,
    },
    /// A DNS query was answered.
    DnsQuery {
        /// Name asked.
        name: String,
        /// Answer given (`127.0.0.1`, `NXDOMAIN`).
        answer: String,
    },
    /// A UDP datagram arrived.
    Datagram {
        /// Sender.
        peer: SocketAddr,
        /// Size.
        bytes: usize,
        /// Whether it was answered.
        answered: bool,
    },
    /// Anything else worth knowing.
    Note {
        /// The message.
        message: String,
    },
}

impl Timeline {
    /// An empty timeline whose clock starts now, keeping the newest [`DEFAULT_CAPACITY`] events.
    pub fn new() -> Self {
        Timeline::with_capacity(DEFAULT_CAPACITY)
    }

    /// An empty timeline that keeps the newest `capacity` events in memory (at least one) and counts
    /// the older ones it drops, so a long-running lab's memory stays flat.
    pub fn with_capacity(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Timeline {
            inner: Arc::new(Inner {
                started: Instant::now(),
                ring: Mutex::new(Ring {
                    events: VecDeque::with_capacity(capacity.min(1024)),
                    capacity,
                    dropped: 0,
                }),
                sink: Mutex::new(None),
                recorded: watch::Sender::new(0),
            }),
        }
    }

    /// Also write every future event to `path` as JSON lines (the file is created or truncated). The
    /// file gets every event, including those the in-memory ring later drops.
    pub fn stream_to(&self, path: &Path) -> std::io::Result<()> {
        let file = File::create(path)?;
        *lock(&self.inner.sink) = Some(BufWriter::new(file));
        Ok(())
    }

    /// Record an event from `source`.
    pub fn record(&self, source: &str, kind: EventKind) {
        let event = Event {
            at_ms: self.inner.started.elapsed().as_secs_f64() * 1000.0,
            source: source.to_owned(),
            kind,
        };
        tracing::debug!(target: "egresslab::timeline", source = %event.source, event = ?event.kind);
        if let Some(sink) = lock(&self.inner.sink).as_mut() {
            if let Ok(line) = serde_json::to_string(&event) {
                // A full disk must not stop the lab; the in-memory copy is still kept.
                let _ = writeln!(sink, "{line}").and_then(|()| sink.flush());
            }
        }
        {
            let mut ring = lock(&self.inner.ring);
            if ring.events.len() == ring.capacity {
                ring.events.pop_front();
                ring.dropped += 1;
            }
            ring.events.push_back(event);
        }
        self.inner.recorded.send_modify(|count| *count += 1);
    }

    /// A copy of every event still held in memory, oldest first.
    pub fn events(&self) -> Vec<Event> {
        lock(&self.inner.ring).events.iter().cloned().collect()
    }

    /// How many events the in-memory ring holds at most.
    pub fn capacity(&self) -> usize {
        lock(&self.inner.ring).capacity
    }

    /// How many of the oldest events the in-memory ring dropped to stay within its capacity.
    pub fn dropped(&self) -> u64 {
        lock(&self.inner.ring).dropped
    }

    /// How many events were recorded in all (held plus dropped).
    pub fn recorded(&self) -> u64 {
        *self.inner.recorded.borrow()
    }

    /// The events held in memory as JSON lines.
    pub fn to_json_lines(&self) -> String {
        lock(&self.inner.ring)
            .events
            .iter()
            .filter_map(|event| serde_json::to_string(event).ok())
            .map(|line| line + "\n")
            .collect()
    }

    /// Wait until an event matching `predicate` is in the timeline (one recorded earlier counts) and
    /// return it, or give up after `timeout`. Woken by each new event, it never polls. `predicate`
    /// sees each event once, oldest first, so it may count (`n += 1; n == 3`).
    ///
    /// ```
    /// use std::time::Duration;
    /// use egresslab::lab::{EventKind, Timeline};
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let timeline = Timeline::new();
    /// let recorder = timeline.clone();
    /// tokio::spawn(async move {
    ///     recorder.record("proxy:corp", EventKind::Answer { status: 407, reason: "auth".into() });
    /// });
    /// let event = timeline
    ///     .wait_for(|e| matches!(e.kind, EventKind::Answer { status: 407, .. }), Duration::from_secs(5))
    ///     .await
    ///     .unwrap();
    /// assert_eq!(event.source, "proxy:corp");
    /// # });
    /// ```
    pub async fn wait_for<F>(
        &self,
        mut predicate: F,
        timeout: Duration,
    ) -> Result<Event, WaitTimedOut>
    where
        F: FnMut(&Event) -> bool,
    {
        let mut changes = self.inner.recorded.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        // Sequence number (counting dropped events) of the first event not yet looked at.
        let mut next: u64 = 0;
        loop {
            changes.borrow_and_update();
            {
                let ring = lock(&self.inner.ring);
                let skip = usize::try_from(next.saturating_sub(ring.dropped)).unwrap_or(usize::MAX);
                if let Some(event) = ring.events.iter().skip(skip).find(|event| predicate(event)) {
                    return Ok(event.clone());
                }
                next = ring.dropped + ring.events.len() as u64;
            }
            let changed = tokio::time::timeout_at(deadline, changes.changed()).await;
            if !matches!(changed, Ok(Ok(()))) {
                return Err(WaitTimedOut {
                    waited: timeout,
                    seen: lock(&self.inner.ring).events.len(),
                });
            }
        }
    }

    /// For tests: wait up to `timeout` for an event matching `predicate` and return it; if none comes,
    /// panic with `expected` printed next to every event seen, so the failure shows what happened.
    ///
    /// ```
    /// use std::time::Duration;
    /// use egresslab::lab::{EventKind, Timeline};
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let timeline = Timeline::new();
    /// timeline.record("dns", EventKind::DnsQuery { name: "gone.test".into(), answer: "NXDOMAIN".into() });
    /// timeline
    ///     .assert_event("an NXDOMAIN answer", Duration::ZERO, |e| {
    ///         matches!(&e.kind, EventKind::DnsQuery { answer, .. } if answer == "NXDOMAIN")
    ///     })
    ///     .await;
    /// # });
    /// ```
    ///
    /// # Panics
    ///
    /// When no matching event arrives in time: that is the assertion failing.
    pub async fn assert_event<F>(&self, expected: &str, timeout: Duration, predicate: F) -> Event
    where
        F: FnMut(&Event) -> bool,
    {
        match self.wait_for(predicate, timeout).await {
            Ok(event) => event,
            Err(timed_out) => panic!("{}", self.missing(expected, &timed_out)),
        }
    }

    /// The failure text of [`Timeline::assert_event`]: what was expected, then every event seen.
    fn missing(&self, expected: &str, timed_out: &WaitTimedOut) -> String {
        let ring = lock(&self.inner.ring);
        let mut text = format!(
            "expected timeline event: {expected}\nnone within {:?}; {} events seen",
            timed_out.waited,
            ring.events.len()
        );
        if ring.dropped > 0 {
            let _ = write!(text, " ({} older ones dropped)", ring.dropped);
        }
        text.push_str(":\n");
        for event in &ring.events {
            let line = serde_json::to_string(&event.kind).unwrap_or_default();
            let _ = writeln!(
                text,
                "  {:>10.3} ms  {:<20} {line}",
                event.at_ms, event.source
            );
        }
        text
    }
}

impl Default for Timeline {
    fn default() -> Self {
        Timeline::new()
    }
}

impl std::fmt::Debug for Timeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ring = lock(&self.inner.ring);
        f.debug_struct("Timeline")
            .field("events", &ring.events.len())
            .field("capacity", &ring.capacity)
            .field("dropped", &ring.dropped)
            .finish()
    }
}

/// A poisoned lock only means another thread panicked while appending; the data is still usable.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_in_order_and_serialises_as_tagged_json() {
        let timeline = Timeline::new();
        timeline.record(
            "proxy:corp",
            EventKind::Answer {
                status: 407,
                reason: "auth".into(),
            },
        );
        timeline.record(
            "dns",
            EventKind::DnsQuery {
                name: "x.test".into(),
                answer: "NXDOMAIN".into(),
            },
        );
        let lines = timeline.to_json_lines();
        let first: serde_json::Value = serde_json::from_str(lines.lines().next().unwrap()).unwrap();
        assert_eq!(first["event"], "answer");
        assert_eq!(first["status"], 407);
        assert_eq!(first["source"], "proxy:corp");
        assert_eq!(timeline.events().len(), 2);
    }

    #[test]
    fn the_ring_keeps_the_newest_events_and_counts_the_dropped_while_the_file_gets_all() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("timeline.jsonl");
        let timeline = Timeline::with_capacity(3);
        timeline.stream_to(&path).unwrap();
        for index in 0..5 {
            timeline.record(
                "dns",
                EventKind::Note {
                    message: format!("event {index}"),
                },
            );
        }
        let kept: Vec<String> = timeline
            .events()
            .into_iter()
            .map(|event| match event.kind {
                EventKind::Note { message } => message,
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(kept, ["event 2", "event 3", "event 4"]);
        assert_eq!(
            (timeline.dropped(), timeline.recorded(), timeline.capacity()),
            (2, 5, 3)
        );
        let streamed = std::fs::read_to_string(&path).unwrap();
        assert_eq!(streamed.lines().count(), 5);
    }

    #[tokio::test]
    async fn wait_for_wakes_on_a_later_event_and_times_out_without_one() {
        tokio::time::pause();
        let timeline = Timeline::new();
        let recorder = timeline.clone();
        let waiter = tokio::spawn({
            let timeline = timeline.clone();
            async move {
                timeline
                    .wait_for(
                        |event| matches!(event.kind, EventKind::Answer { status: 503, .. }),
                        Duration::from_secs(30),
                    )
                    .await
            }
        });
        tokio::task::yield_now().await;
        recorder.record(
            "proxy:corp",
            EventKind::Answer {
                status: 200,
                reason: "tunnel".into(),
            },
        );
        recorder.record(
            "proxy:corp",
            EventKind::Answer {
                status: 503,
                reason: "cap".into(),
            },
        );
        let event = waiter.await.unwrap().unwrap();
        assert!(matches!(event.kind, EventKind::Answer { status: 503, .. }));

        let missing = timeline
            .wait_for(
                |event| matches!(event.kind, EventKind::Answer { status: 404, .. }),
                Duration::from_secs(10),
            )
            .await;
        assert_eq!(
            missing,
            Err(WaitTimedOut {
                waited: Duration::from_secs(10),
                seen: 2
            })
        );
    }

    #[tokio::test]
    async fn a_failed_assertion_prints_the_expected_event_beside_every_event_seen() {
        let timeline = Timeline::new();
        timeline.record(
            "proxy:corp",
            EventKind::Answer {
                status: 407,
                reason: "auth".into(),
            },
        );
        let probe = timeline.clone();
        let failure = tokio::spawn(async move {
            probe
                .assert_event("a 200 answer", Duration::ZERO, |event| {
                    matches!(event.kind, EventKind::Answer { status: 200, .. })
                })
                .await
        })
        .await
        .unwrap_err();
        let message = failure.into_panic();
        let message = message.downcast_ref::<String>().unwrap();
        assert!(
            message.contains("expected timeline event: a 200 answer"),
            "{message}"
        );
        assert!(message.contains("proxy:corp"), "{message}");
        assert!(message.contains(r#""status":407"#), "{message}");
    }
}
