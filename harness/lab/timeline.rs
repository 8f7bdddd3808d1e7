//! The timeline: every connection, request, answer, handshake, firewall decision and close, as JSON
//! lines (the schema is docs/timeline.md, version [`SCHEMA_VERSION`]).
//!
//! Components record typed events; tests read them back or wait for one ([`Timeline::wait_for`],
//! [`Timeline::assert_event`]), `egresslab up --timeline` streams them to a file and `egresslab
//! timeline` reads that file back. Every event of a connection carries its id: a component sets the id
//! once where it accepts the connection ([`Timeline::accepted`], [`Timeline::in_connection`]) and every
//! event recorded while serving it carries it. A leg the lab opens on a client's behalf
//! ([`Timeline::upstream`]) gets an id of its own that names the connection it serves, and the lab
//! listener that accepts that leg records under the same id, so one filter on an id reads a whole
//! story. Secrets never enter it: events carry user names, never passwords. The in-memory copy is a
//! ring buffer of bounded capacity that counts what it dropped; a stream file gets every event.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::fs::File;
use std::future::Future;
use std::io::{BufWriter, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;

use super::har::HarWriter;
use super::leg::LegBook;
use tokio::sync::watch;

/// How many events a timeline keeps in memory unless told otherwise.
pub const DEFAULT_CAPACITY: usize = 100_000;

/// The version of the event schema (docs/timeline.md); every event carries it as `v`. Fields are only
/// ever added within a version, so a reader ignores what it does not know.
pub const SCHEMA_VERSION: u32 = 1;

/// The id of one connection (or one datagram exchange) in a lab's timeline, unique within it.
pub type ConnId = u64;

tokio::task_local! {
    /// The connection the current task serves; events recorded inside carry it.
    static CONNECTION: ConnId;
}

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
    /// The wall clock when `started` was taken; wall times are this plus the monotonic elapsed time,
    /// so they never go backwards within a lab.
    started_wall: SystemTime,
    /// The next connection id.
    next_conn: AtomicU64,
    /// Legs the lab opens and their far ends, paired so both ends of a connection share an id.
    legs: Mutex<LegBook>,
    ring: Mutex<Ring>,
    sink: Mutex<Option<BufWriter<File>>>,
    /// The HAR file HTTP exchanges go to, if one was asked for.
    har: Mutex<Option<HarWriter>>,
    /// The number of events recorded so far; waiters watch it change.
    recorded: watch::Sender<u64>,
}

/// The events kept in memory: the newest `capacity`, and how many older ones were dropped.
struct Ring {
    events: VecDeque<Event>,
    capacity: usize,
    dropped: u64,
}

/// A connection the lab itself opened, as the timeline knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leg {
    /// The leg's id.
    pub id: ConnId,
    /// The client connection it serves.
    pub serves: Option<ConnId>,
    /// The component that opened it (`proxy:corp`).
    pub opened_by: String,
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

/// One thing that happened, with the component that saw it, the connection it belongs to and when.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    /// The schema version, [`SCHEMA_VERSION`].
    pub v: u32,
    /// Position in the timeline, from 0, counting events the in-memory ring dropped.
    pub seq: u64,
    /// Milliseconds since the lab started.
    pub at_ms: f64,
    /// Wall-clock time, RFC 3339 in UTC with microseconds (`2026-12-02T18:59:01.123456Z`).
    pub time: String,
    /// The component that recorded it: `proxy:corp`, `endpoint:login`, `firewall`, `dns`, `udp:ike`.
    pub source: String,
    /// The connection it belongs to; absent for lab-wide events (a control change, a lab note).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conn: Option<ConnId>,
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
        /// The lab's own address of the connection (the listener's).
        local: SocketAddr,
        /// When the client is the lab itself (a leg a proxy opened), the connection that leg serves.
        #[serde(skip_serializing_if = "Option::is_none")]
        serves: Option<ConnId>,
    },
    /// The lab opened a leg on a client's behalf (a proxy to its origin or parent, a middlebox to the
    /// endpoint behind it), or tried to. Its `conn` is the leg's own id (shared with the lab listener
    /// at its far end); `serves` is the client connection.
    Upstream {
        /// The client connection this leg serves (absent when the lab opened it for itself).
        #[serde(skip_serializing_if = "Option::is_none")]
        serves: Option<ConnId>,
        /// The leg's local address; absent when it never connected.
        #[serde(skip_serializing_if = "Option::is_none")]
        local: Option<SocketAddr>,
        /// Where the leg connected.
        remote: SocketAddr,
        /// What it was opened for (`login.example:443`, `parent proxy corp2`).
        destination: String,
    },
    /// Opening a leg failed; recorded on the client connection it was for.
    UpstreamFailed {
        /// What it was opened for.
        destination: String,
        /// Where the lab tried to connect, if a route was found.
        #[serde(skip_serializing_if = "Option::is_none")]
        remote: Option<SocketAddr>,
        /// Why, in the lab's words.
        error: String,
    },
    /// A firewall or middlebox rule decided what happens to traffic: including drops and rejects the
    /// client only sees as a time-out or a refusal.
    Firewall {
        /// The rule, in words (`rule 1: drop *.msappproxy.net:443 from client`).
        rule: String,
        /// Whose traffic it applied to (`client`, `proxy corp`).
        vantage: String,
        /// What it did (`drop`, `reject`, `hang`, `reset after 100 bytes`, `allow`).
        action: String,
        /// The destination as the client named it (`host:port`).
        destination: String,
    },
    /// A TCP SYN the firewall saw at a place that never completes a handshake (a black hole drops
    /// it, a closed port answers RST). Seen only when the lab may open a raw socket (root or
    /// CAP_NET_RAW); see docs/timeline.md.
    Syn {
        /// The client's address.
        peer: SocketAddr,
        /// The address it was sent to.
        local: SocketAddr,
        /// 1 for the first SYN of this client port, more for the retransmissions.
        attempt: u32,
        /// What the kernel did with it: `dropped` or `refused with RST`.
        fate: String,
    },
    /// An HTTP exchange the lab saw in clear or decrypted: one request and its answer.
    Http {
        /// Where it was seen: `endpoint`, `forwarded` (absolute-URI through a proxy), `connect` (a
        /// proxy's answer to CONNECT), `pac` (the WPAD file).
        role: String,
        /// Method as sent.
        method: String,
        /// The full URL (`https://login.example/path`), user-info removed.
        url: String,
        /// `HTTP/1.1`, `HTTP/1.0`.
        http_version: String,
        /// Request header fields in order; credential values replaced by `[redacted]`.
        request_headers: Vec<(String, String)>,
        /// Request body size.
        request_body_bytes: u64,
        /// Status code answered (0 when no answer was given).
        status: u16,
        /// Answer header fields in order.
        response_headers: Vec<(String, String)>,
        /// Answer body size.
        response_body_bytes: u64,
        /// Milliseconds from the end of the request to the start of the answer.
        wait_ms: f64,
        /// Milliseconds from the first request byte the lab saw to the end of the answer.
        total_ms: f64,
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
    /// A SOCKS5 exchange with a `socks5` proxy, recorded once it ended (answered or cut short):
    /// what the client offered and asked, what the proxy chose and replied. Never the password.
    Socks {
        /// The methods the client offered (`no-auth`, `username/password`).
        methods: Vec<String>,
        /// The method the proxy chose (`no acceptable methods` when none).
        #[serde(skip_serializing_if = "Option::is_none")]
        chosen: Option<String>,
        /// The RFC 1929 user name sent (never the password).
        #[serde(skip_serializing_if = "Option::is_none")]
        user: Option<String>,
        /// Whether the user name and password were accepted (absent without RFC 1929).
        #[serde(skip_serializing_if = "Option::is_none")]
        authenticated: Option<bool>,
        /// The command (`CONNECT`, `BIND`, `UDP ASSOCIATE`).
        #[serde(skip_serializing_if = "Option::is_none")]
        command: Option<String>,
        /// The address type sent: `IPv4`, `IPv6`, `domain name` (the client resolved the name
        /// itself unless it is `domain name`).
        #[serde(skip_serializing_if = "Option::is_none")]
        address_type: Option<String>,
        /// The destination as sent (`host:port`).
        #[serde(skip_serializing_if = "Option::is_none")]
        target: Option<String>,
        /// The reply code sent (0 = succeeded).
        #[serde(skip_serializing_if = "Option::is_none")]
        reply: Option<u8>,
        /// The reply, or why the exchange ended before one, in words.
        outcome: String,
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
        /// The certificate the lab offered (subject and profile), when it got that far.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        served: Option<String>,
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
        /// Who asked, when the query came over the network.
        #[serde(skip_serializing_if = "Option::is_none")]
        peer: Option<SocketAddr>,
        /// Record type asked (`A`, `AAAA`).
        #[serde(skip_serializing_if = "Option::is_none")]
        qtype: Option<String>,
    },
    /// A UDP datagram arrived.
    Datagram {
        /// Sender.
        peer: SocketAddr,
        /// Size.
        bytes: usize,
        /// Whether it was answered.
        answered: bool,
        /// Why it was not answered, in words (`silent responder: …`, `packet_loss dropped the request`).
        #[serde(skip_serializing_if = "Option::is_none")]
        unanswered_because: Option<String>,
    },
    /// The connection's packets are in the capture file as this stream (tshark's `tcp.stream`).
    CaptureStream {
        /// The stream's number in the capture.
        stream: u32,
        /// The side that opened the TCP connection.
        client: SocketAddr,
        /// The side that accepted it.
        server: SocketAddr,
    },
    /// Anything else worth knowing.
    Note {
        /// The message.
        message: String,
    },
}

impl EventKind {
    /// Keep reasons in the lab's own words: a library's error text may end in a link to its
    /// documentation (rustls does for an EOF without close_notify), which a reason never carries.
    fn own_words(&mut self) {
        let text = match self {
            EventKind::Closed { reason, .. } => reason,
            EventKind::TlsFailed { error, .. } | EventKind::UpstreamFailed { error, .. } => error,
            EventKind::Note { message } => message,
            EventKind::Answer { reason, .. } => reason,
            _ => return,
        };
        if let Some(at) = text.find(": https://").or_else(|| text.find(" https://")) {
            text.truncate(at);
        }
    }
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
                started_wall: SystemTime::now(),
                next_conn: AtomicU64::new(1),
                legs: Mutex::new(LegBook::default()),
                ring: Mutex::new(Ring {
                    events: VecDeque::with_capacity(capacity.min(1024)),
                    capacity,
                    dropped: 0,
                }),
                sink: Mutex::new(None),
                har: Mutex::new(None),
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

    /// Also write every future HTTP exchange to `path` as an HTTP Archive (HAR 1.2), valid after
    /// every entry. A write error stops the archive (logged once), never the lab.
    pub fn har_to(&self, path: &Path) -> std::io::Result<()> {
        *lock(&self.inner.har) = Some(HarWriter::create(path)?);
        Ok(())
    }

    /// Record an event from `source`; it belongs to the connection the current task serves
    /// ([`Timeline::in_connection`]), if any.
    pub fn record(&self, source: &str, kind: EventKind) {
        self.record_on(source, Timeline::current_connection(), kind);
    }

    /// Record an event from `source` that belongs to connection `conn` (or to none).
    pub fn record_on(&self, source: &str, conn: Option<ConnId>, mut kind: EventKind) {
        kind.own_words();
        let elapsed = self.inner.started.elapsed();
        let mut event = Event {
            v: SCHEMA_VERSION,
            seq: 0,
            at_ms: elapsed.as_secs_f64() * 1000.0,
            time: wall_clock(self.inner.started_wall + elapsed),
            source: source.to_owned(),
            conn,
            kind,
        };
        tracing::debug!(target: "egresslab::timeline", source = %event.source, conn = ?event.conn, event = ?event.kind);
        // One lock orders the sequence number, the file and the ring alike.
        let mut ring = lock(&self.inner.ring);
        event.seq = ring.dropped + ring.events.len() as u64;
        if let Some(sink) = lock(&self.inner.sink).as_mut() {
            if let Ok(line) = serde_json::to_string(&event) {
                // A full disk must not stop the lab; the in-memory copy is still kept.
                let _ = writeln!(sink, "{line}").and_then(|()| sink.flush());
            }
        }
        if matches!(event.kind, EventKind::Http { .. }) {
            let mut har = lock(&self.inner.har);
            if let Some(writer) = har.as_mut() {
                if let Err(error) = writer.write(&event) {
                    tracing::error!(%error, entries = writer.entries(), "the HAR file could not be written; it stops here and the lab goes on");
                    *har = None;
                }
            }
        }
        if ring.events.len() == ring.capacity {
            ring.events.pop_front();
            ring.dropped += 1;
        }
        ring.events.push_back(event);
        drop(ring);
        self.inner.recorded.send_modify(|count| *count += 1);
    }

    /// A new connection id, for an exchange that is not an accepted TCP connection (a DNS query, a
    /// datagram).
    pub fn new_connection(&self) -> ConnId {
        self.inner.next_conn.fetch_add(1, Ordering::Relaxed)
    }

    /// Record that `source` accepted a TCP connection from `peer` on `local`, and return its id. When
    /// `peer` is a leg the lab itself opened ([`Timeline::upstream`]), the connection keeps that leg's
    /// id, so both ends of one TCP connection tell one story.
    pub fn accepted(&self, source: &str, peer: SocketAddr, local: SocketAddr) -> ConnId {
        self.arrival(source, peer, local).0
    }

    /// As [`Timeline::accepted`], and the leg `peer` is when the lab itself opened it (and reported
    /// it already: a leg that reports later adopts this connection's id, see
    /// [`Timeline::leg_opened`]).
    pub fn arrival(
        &self,
        source: &str,
        peer: SocketAddr,
        local: SocketAddr,
    ) -> (ConnId, Option<Leg>) {
        let fresh = self.new_connection();
        let leg = lock(&self.inner.legs).arrived(peer, fresh).ok();
        let id = leg.as_ref().map_or(fresh, |leg| leg.id);
        self.record_on(
            source,
            Some(id),
            EventKind::Accepted {
                peer,
                local,
                serves: leg.as_ref().and_then(|leg| leg.serves),
            },
        );
        (id, leg)
    }

    /// `source` starts opening a leg to `remote`, serving the connection the current task serves.
    pub fn leg_opening(&self, source: &str, remote: SocketAddr) -> Leg {
        let leg = Leg {
            id: self.new_connection(),
            serves: Timeline::current_connection(),
            opened_by: source.to_owned(),
        };
        lock(&self.inner.legs).opening(remote, leg.clone());
        leg
    }

    /// The leg is connected from `local` to `remote` for `destination`: record it, and return its
    /// id (that of its far end when the lab listener there accepted it first).
    pub fn leg_opened(
        &self,
        leg: &Leg,
        local: SocketAddr,
        remote: SocketAddr,
        destination: &str,
    ) -> ConnId {
        let id = lock(&self.inner.legs).opened(leg, local);
        self.record_upstream(leg, id, Some(local), remote, destination);
        id
    }

    /// The leg could not connect: record it (the client connection's own event says why).
    pub fn leg_failed(&self, leg: &Leg, remote: SocketAddr, destination: &str) {
        lock(&self.inner.legs).failed(leg);
        self.record_upstream(leg, leg.id, None, remote, destination);
    }

    /// The oldest leg under way to `remote` not yet claimed (for the firewall's SYN watcher).
    pub fn claim_opening_leg(&self, remote: SocketAddr) -> Option<Leg> {
        lock(&self.inner.legs).claim_opening(remote)
    }

    fn record_upstream(
        &self,
        leg: &Leg,
        id: ConnId,
        local: Option<SocketAddr>,
        remote: SocketAddr,
        destination: &str,
    ) {
        let source = leg.opened_by.clone();
        self.record_on(
            &source,
            Some(id),
            EventKind::Upstream {
                serves: leg.serves,
                local,
                remote,
                destination: destination.to_owned(),
            },
        );
    }

    /// Run `future` as the task that serves connection `id`: every event it records carries the id.
    pub fn in_connection<F: Future>(id: ConnId, future: F) -> impl Future<Output = F::Output> {
        CONNECTION.scope(id, future)
    }

    /// The connection the current task serves, if it was started with [`Timeline::in_connection`].
    pub fn current_connection() -> Option<ConnId> {
        CONNECTION.try_with(|id| *id).ok()
    }

    /// A copy of every event still held in memory, oldest first.
    pub fn events(&self) -> Vec<Event> {
        lock(&self.inner.ring).events.iter().cloned().collect()
    }

    /// A copy of at most `limit` events held in memory whose `seq` is `from` or later, oldest
    /// first, so that a reader (the web view's event stream) catches up in bounded steps.
    pub fn events_from(&self, from: u64, limit: usize) -> Vec<Event> {
        let ring = lock(&self.inner.ring);
        let skip = usize::try_from(from.saturating_sub(ring.dropped)).unwrap_or(usize::MAX);
        ring.events.iter().skip(skip).take(limit).cloned().collect()
    }

    /// A receiver of the count of events recorded, which changes with every event: a reader waits
    /// on it instead of polling.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.inner.recorded.subscribe()
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

    /// Wait until no event has been recorded for `quiet`, or `at_most` has passed: the ends of
    /// connections still in flight (a client's reset the lab has not read yet) get into the record
    /// before a lab is stopped.
    pub async fn settle(&self, quiet: Duration, at_most: Duration) {
        let deadline = tokio::time::Instant::now() + at_most;
        loop {
            let before = self.recorded();
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return;
            }
            tokio::time::sleep(quiet.min(deadline - now)).await;
            if self.recorded() == before {
                return;
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
    /// timeline.record("dns", EventKind::DnsQuery {
    ///     name: "gone.test".into(),
    ///     answer: "NXDOMAIN".into(),
    ///     peer: None,
    ///     qtype: Some("A".into()),
    /// });
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

/// `time` as RFC 3339 in UTC with microseconds.
fn wall_clock(time: SystemTime) -> String {
    const FORMAT: &[time::format_description::FormatItem<'static>] = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
    );
    time::OffsetDateTime::from(time)
        .format(FORMAT)
        .unwrap_or_default()
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
                peer: None,
                qtype: None,
            },
        );
        let lines = timeline.to_json_lines();
        let first: serde_json::Value = serde_json::from_str(lines.lines().next().unwrap()).unwrap();
        assert_eq!(first["event"], "answer");
        assert_eq!(first["status"], 407);
        assert_eq!(first["source"], "proxy:corp");
        assert_eq!(timeline.events().len(), 2);
        assert_eq!(first["v"], SCHEMA_VERSION);
        assert_eq!(first["seq"], 0);
        let time = first["time"].as_str().unwrap();
        assert_eq!(time.len(), "2026-12-02T18:59:01.123456Z".len(), "{time}");
        assert!(time.ends_with('Z') && time.as_bytes()[10] == b'T', "{time}");
    }

    #[test]
    fn a_reason_never_carries_a_library_documentation_link() {
        let timeline = Timeline::new();
        timeline.record(
            "endpoint:x",
            EventKind::Closed {
                bytes_up: 0,
                bytes_down: 0,
                reason: "read failed: peer closed connection without sending TLS close_notify: https://docs.rs/rustls/latest/x".into(),
            },
        );
        let lines = timeline.to_json_lines();
        assert!(!lines.contains("https://"), "{lines}");
        assert!(
            lines.contains("without sending TLS close_notify"),
            "{lines}"
        );
    }

    #[tokio::test]
    async fn a_leg_and_its_far_end_share_an_id_that_names_the_client_connection() {
        let timeline = Timeline::new();
        let client: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let proxy: SocketAddr = "127.0.0.1:3128".parse().unwrap();
        let leg_local: SocketAddr = "127.0.0.1:6000".parse().unwrap();
        let origin: SocketAddr = "127.0.0.1:443".parse().unwrap();
        let id = timeline.accepted("proxy:corp", client, proxy);
        let leg = Timeline::in_connection(id, async {
            timeline.record(
                "proxy:corp",
                EventKind::Note {
                    message: "inside".into(),
                },
            );
            let leg = timeline.leg_opening("proxy:corp", origin);
            timeline.leg_opened(&leg, leg_local, origin, "login.test:443")
        })
        .await;
        assert_ne!(leg, id);
        let (far_end, claimed) = timeline.arrival("endpoint:login", leg_local, origin);
        assert_eq!(far_end, leg, "the far end records under the leg's id");
        assert_eq!(claimed.unwrap().opened_by, "proxy:corp");
        let other = timeline.accepted("endpoint:login", client, origin);
        assert!(
            other != id && other != leg,
            "an outside client gets a new id"
        );
        let events = timeline.events();
        assert_eq!(events[1].conn, Some(id), "the task-local id is carried");
        assert!(matches!(events[2].kind, EventKind::Upstream { serves: Some(s), .. } if s == id));
        assert!(matches!(events[3].kind, EventKind::Accepted { serves: Some(s), .. } if s == id));
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

    #[test]
    fn events_from_reads_a_bounded_batch_from_a_seq_past_the_dropped() {
        let timeline = Timeline::with_capacity(3);
        let recorded = timeline.subscribe();
        for n in 0..5 {
            timeline.record(
                "t",
                EventKind::Note {
                    message: format!("{n}"),
                },
            );
        }
        assert!(recorded.has_changed().unwrap());
        let seqs = |from, limit| -> Vec<u64> {
            timeline
                .events_from(from, limit)
                .iter()
                .map(|e| e.seq)
                .collect()
        };
        assert_eq!(seqs(0, 10), vec![2, 3, 4], "the ring dropped 0 and 1");
        assert_eq!(seqs(3, 10), vec![3, 4]);
        assert_eq!(seqs(2, 2), vec![2, 3]);
        assert!(seqs(5, 10).is_empty());
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
