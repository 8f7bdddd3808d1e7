//! Middlebox relays: a listener in front of an endpoint that forwards bytes and resets both sides when
//! its rule says so (after N bytes, on a TLS 1.2+ ClientHello, on a SHA-512-signed certificate).

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::tls_sniff::{judge_client_hello, CertificateSniffer, Hello};
use super::SOURCE;
use crate::lab::capture::Leg;
use crate::lab::context::ResetOnShutdown;
use crate::lab::leg;
use crate::lab::timeline::{EventKind, Timeline};
use crate::lab::world::FirewallTag;
use crate::lab::Serving;

/// What a middlebox does to the traffic it relays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Middlebox {
    /// Reset both sides once this many bytes (both directions together) were relayed.
    ResetAfter(u64),
    /// Reset a connection whose ClientHello offers TLS 1.2 or later.
    KillTls12,
    /// Reset a connection once a SHA-512-signed certificate crosses it in plaintext.
    KillSha512,
}

/// One bound relay, waiting to be served.
#[derive(Debug)]
pub(crate) struct Relay {
    pub(crate) listener: TcpListener,
    pub(crate) kind: Middlebox,
    pub(crate) target: SocketAddr,
    /// The rule, for the timeline.
    pub(crate) rule: FirewallTag,
}

/// Serve the relay until the lab shuts down.
pub(crate) async fn serve(relay: Relay, serving: Serving) {
    loop {
        let accepted = tokio::select! {
            () = serving.shutdown.cancelled() => return,
            accepted = relay.listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(error) => {
                tracing::debug!(%error, "relay accept failed");
                continue;
            }
        };
        let local = stream.local_addr().unwrap_or(peer);
        let (id, leg) = serving.timeline.arrival(SOURCE, peer, local);
        let connection = Connection {
            kind: relay.kind,
            target: relay.target,
            rule: relay.rule.clone(),
            vantage: leg.map_or_else(|| "client".to_owned(), |leg| leg.opened_by),
            destination: local,
            serving: serving.clone(),
        };
        let token = serving.shutdown.clone();
        let tap = serving.clone();
        serving.tasks.spawn(Timeline::in_connection(id, async move {
            let reason = || format!("client to a firewall middlebox ({})", connection.rule.rule);
            let stream = tap.tapped(stream, Leg::Accepted, reason).await;
            let stream = ResetOnShutdown::new(stream, &tap.shutdown);
            tokio::select! {
                () = token.cancelled() => {}
                () = connection.run(stream) => {}
            }
        }));
    }
}

struct Connection {
    kind: Middlebox,
    target: SocketAddr,
    rule: FirewallTag,
    /// Whose traffic it is: `client`, or the proxy that opened the leg.
    vantage: String,
    /// The middlebox's own address, where the traffic arrived.
    destination: SocketAddr,
    serving: Serving,
}

#[derive(Clone, Copy)]
enum Direction {
    Up,
    Down,
}

impl Connection {
    async fn run(self, mut client: ResetOnShutdown) {
        let mut first = Vec::new();
        if self.kind == Middlebox::KillTls12 {
            match read_hello(&mut client, &mut first).await {
                Some(Hello::OffersTls12OrLater) => {
                    self.fired("reset: ClientHello offers TLS 1.2 or later");
                    reset(&client);
                    self.closed(
                        first.len() as u64,
                        0,
                        "reset by middlebox (TLS 1.2+ offered)",
                    );
                    return;
                }
                Some(_) => {}
                None => {
                    self.closed(first.len() as u64, 0, "client closed");
                    return;
                }
            }
        }
        let mut origin = match self.open_origin().await {
            Ok(origin) => {
                let reason = || format!("firewall middlebox to its endpoint ({})", self.rule.rule);
                self.serving.tapped(origin, Leg::Connected, reason).await
            }
            Err(error) => {
                reset(&client);
                self.closed(0, 0, &format!("origin unreachable: {error}"));
                return;
            }
        };
        if origin.write_all(&first).await.is_err() {
            self.closed(0, 0, "origin closed");
            return;
        }
        self.pump(client, origin, first.len() as u64).await;
    }

    /// Relay both directions until both sides close or the middlebox resets them.
    async fn pump(&self, mut client: ResetOnShutdown, mut origin: TcpStream, already_up: u64) {
        let (mut up, mut down) = (already_up, 0u64);
        let (mut sniff_up, mut sniff_down) =
            (CertificateSniffer::default(), CertificateSniffer::default());
        let (mut client_open, mut origin_open) = (true, true);
        let mut from_client = vec![0u8; 16 * 1024];
        let mut from_origin = vec![0u8; 16 * 1024];
        let reason = loop {
            if !client_open && !origin_open {
                break "both sides closed".to_owned();
            }
            let (direction, read) = tokio::select! {
                read = client.read(&mut from_client), if client_open => (Direction::Up, read),
                read = origin.read(&mut from_origin), if origin_open => (Direction::Down, read),
            };
            let (buf, writer, open): (&[u8], &mut TcpStream, &mut bool) = match direction {
                Direction::Up => (&from_client, &mut origin, &mut client_open),
                Direction::Down => (&from_origin, &mut *client, &mut origin_open),
            };
            let n = match read {
                Ok(0) | Err(_) => {
                    *open = false;
                    let _ = writer.shutdown().await;
                    continue;
                }
                Ok(n) => n,
            };
            let chunk = &buf[..n];
            let verdict = match self.kind {
                Middlebox::ResetAfter(limit) => {
                    let seen = up + down;
                    (seen + n as u64 >= limit).then(|| {
                        (
                            usize::try_from(limit.saturating_sub(seen)).unwrap_or(n),
                            format!("reset after {limit} bytes"),
                        )
                    })
                }
                Middlebox::KillSha512 => {
                    let sniffer = match direction {
                        Direction::Up => &mut sniff_up,
                        Direction::Down => &mut sniff_down,
                    };
                    sniffer
                        .feed(chunk)
                        .then(|| (0, "reset: SHA-512-signed certificate".to_owned()))
                }
                Middlebox::KillTls12 => None,
            };
            let forward = verdict.as_ref().map_or(n, |(forward, _)| (*forward).min(n));
            if writer.write_all(&chunk[..forward]).await.is_err() {
                break "peer closed".to_owned();
            }
            match direction {
                Direction::Up => up += forward as u64,
                Direction::Down => down += forward as u64,
            }
            if let Some((_, why)) = verdict {
                self.fired(&why);
                reset(&client);
                reset(&origin);
                break format!("{why} (middlebox)");
            }
        };
        self.closed(up, down, &reason);
    }

    /// The middlebox's leg to the endpoint behind it.
    async fn open_origin(&self) -> std::io::Result<TcpStream> {
        let what = format!("the endpoint behind the middlebox ({})", self.target);
        leg::open(&self.serving.timeline, SOURCE, self.target, &what).await
    }

    fn fired(&self, action: &str) {
        self.serving.timeline.record(
            SOURCE,
            EventKind::Firewall {
                rule: self.rule.rule.clone(),
                vantage: self.vantage.clone(),
                action: action.to_owned(),
                destination: self.destination.to_string(),
            },
        );
    }

    fn closed(&self, bytes_up: u64, bytes_down: u64, reason: &str) {
        self.serving.timeline.record(
            SOURCE,
            EventKind::Closed {
                bytes_up,
                bytes_down,
                reason: reason.to_owned(),
            },
        );
    }
}

/// Read until the first bytes can be judged; `None` when the client closed first.
async fn read_hello(client: &mut TcpStream, buf: &mut Vec<u8>) -> Option<Hello> {
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(verdict) = judge_client_hello(buf) {
            return Some(verdict);
        }
        match client.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// Make the coming close an RST instead of a FIN.
pub(crate) fn reset(stream: &TcpStream) {
    if let Err(error) = stream.set_zero_linger() {
        tracing::debug!(%error, "cannot set SO_LINGER 0");
    }
}
