//! The timeline: every connection, request, answer, handshake and close, as JSON lines.
//!
//! It is the lab's packet capture. Components record typed events; tests read them back, `egresslab up
//! --timeline` streams them to a file. Secrets never enter it: events carry user names, never passwords.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use serde::Serialize;

/// A shared, append-only record of what happened in a lab.
#[derive(Clone)]
pub struct Timeline {
    inner: Arc<Inner>,
}

struct Inner {
    started: Instant,
    events: Mutex<Vec<Event>>,
    sink: Mutex<Option<BufWriter<File>>>,
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
    /// An empty timeline whose clock starts now.
    pub fn new() -> Self {
        Timeline {
            inner: Arc::new(Inner {
                started: Instant::now(),
                events: Mutex::new(Vec::new()),
                sink: Mutex::new(None),
            }),
        }
    }

    /// Also write every future event to `path` as JSON lines (the file is created or truncated).
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
                // A full disk must not stop the lab; the in-memory copy stays complete.
                let _ = writeln!(sink, "{line}").and_then(|()| sink.flush());
            }
        }
        lock(&self.inner.events).push(event);
    }

    /// A copy of every event so far, in order.
    pub fn events(&self) -> Vec<Event> {
        lock(&self.inner.events).clone()
    }

    /// The events so far as JSON lines.
    pub fn to_json_lines(&self) -> String {
        lock(&self.inner.events)
            .iter()
            .filter_map(|event| serde_json::to_string(event).ok())
            .map(|line| line + "\n")
            .collect()
    }
}

impl Default for Timeline {
    fn default() -> Self {
        Timeline::new()
    }
}

impl std::fmt::Debug for Timeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Timeline")
            .field("events", &lock(&self.inner.events).len())
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
}
