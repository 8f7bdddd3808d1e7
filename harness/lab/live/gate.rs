//! A gate: the live switch in front of one lab listener (an endpoint, a proxy, a proxy's route to
//! its parent, a UDP responder). The control API turns it off and on and puts toxics on it; the
//! listener's accept loop asks it what to do with each connection.
//!
//! A gate with no toxic costs one `watch` read per accepted connection: the connection goes to its
//! handler untouched. With toxics, the connection is spliced through a loopback socket pair and
//! the control API's pipe, so the handler still gets a real `TcpStream`.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::lab::capture::{self, Capture, Leg};
use crate::lab::context::Serving;
use crate::lab::control::pipe::{self, Close};
use crate::lab::control::{Toxic, ToxicKind};
use tokio_util::task::TaskTracker;

use crate::lab::timeline::{EventKind, Timeline};
use serde_json::Value;

/// What a gate stands in front of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GateKind {
    /// A lab endpoint's listener.
    Endpoint,
    /// A forward proxy's listener.
    Proxy,
    /// A proxy's connections to its parent proxy.
    Route,
    /// A UDP responder.
    Udp,
}

impl GateKind {
    /// The word used in the API and the timeline.
    pub fn word(self) -> &'static str {
        match self {
            GateKind::Endpoint => "endpoint",
            GateKind::Proxy => "proxy",
            GateKind::Route => "route",
            GateKind::Udp => "udp",
        }
    }
}

/// Why a toxic cannot act on a listener: the rule the control API and the scenario loader share.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ToxicMisfit {
    /// A UDP responder handles datagrams: only dropping, delaying or passing them makes sense.
    #[error("a UDP responder takes packet_loss, latency or noop, not {kind}")]
    NotForUdp {
        /// The toxic's type word.
        kind: &'static str,
    },
    /// `packet_loss` drops datagrams; a TCP listener has none.
    #[error("packet_loss acts on UDP responders only; on TCP use timeout or reset_peer")]
    PacketLossOnTcp,
    /// `destination` picks a lab proxy's origin connections; elsewhere there are none to pick.
    #[error("destination limits a toxic to a lab proxy's connections to matching hosts; this is not a lab proxy")]
    DestinationNotOnProxy,
}

/// Whether `toxic` may act on a listener of `kind` (`None`: a link made through the control API,
/// which relays TCP): `packet_loss` only on UDP responders, which take only it, `latency` and
/// `noop`; a destination only on a lab proxy.
pub(crate) fn toxic_fits(kind: Option<GateKind>, toxic: &Toxic) -> Result<(), ToxicMisfit> {
    let udp = kind == Some(GateKind::Udp);
    let fits_udp = matches!(
        toxic.kind,
        ToxicKind::PacketLoss | ToxicKind::Latency { .. } | ToxicKind::Noop
    );
    if udp && !fits_udp {
        return Err(ToxicMisfit::NotForUdp {
            kind: toxic.kind.word(),
        });
    }
    if !udp && toxic.kind == ToxicKind::PacketLoss {
        return Err(ToxicMisfit::PacketLossOnTcp);
    }
    if toxic.destination.is_some() && kind != Some(GateKind::Proxy) {
        return Err(ToxicMisfit::DestinationNotOnProxy);
    }
    Ok(())
}

/// The live switch of one lab listener.
#[derive(Debug)]
pub(crate) struct Gate {
    /// The scenario's name for it (`corp`, `site`, `corp~parent` for a route).
    pub(crate) name: String,
    pub(crate) kind: GateKind,
    /// Where clients reach it (for a route: the parent proxy's address).
    pub(crate) address: SocketAddr,
    /// What it serves, in words (`endpoint site`, `proxy corp`).
    pub(crate) upstream: String,
    enabled: watch::Sender<bool>,
    /// Whether the scenario started it on (`POST /reset` goes back to it).
    enabled_at_start: bool,
    toxics: watch::Sender<Arc<Vec<Toxic>>>,
    /// The scenario's toxics (`POST /reset` goes back to them).
    toxics_at_start: Mutex<Arc<Vec<Toxic>>>,
    /// Cancelled when the gate is turned off, so that open connections end as Toxiproxy's do.
    sessions: Mutex<CancellationToken>,
    connections: AtomicU64,
    seed: Arc<AtomicU64>,
    /// The lab's timeline, shutdown and task tracker (not its whole `Serving`, which holds the
    /// switchboard that holds this gate: that cycle would keep the lab's memory after it stops).
    timeline: Timeline,
    shutdown: CancellationToken,
    tasks: TaskTracker,
    /// The lab's capture: every connection through the gate is tapped before any toxic.
    capture: Capture,
}

impl Gate {
    pub(crate) fn new(
        name: String,
        kind: GateKind,
        address: SocketAddr,
        enabled: bool,
        seed: Arc<AtomicU64>,
        serving: Serving,
    ) -> Gate {
        Gate {
            upstream: format!("{} {name}", kind.word()),
            name,
            kind,
            address,
            enabled: watch::Sender::new(enabled),
            enabled_at_start: enabled,
            toxics: watch::Sender::new(Arc::new(Vec::new())),
            toxics_at_start: Mutex::new(Arc::new(Vec::new())),
            sessions: Mutex::new(serving.shutdown.child_token()),
            connections: AtomicU64::new(0),
            seed,
            timeline: serving.timeline.clone(),
            shutdown: serving.shutdown.clone(),
            tasks: serving.tasks.clone(),
            capture: serving.capture.clone(),
        }
    }

    /// The lab's capture, for the TLS secrets of the connections behind this gate.
    pub(crate) fn capture(&self) -> &Capture {
        &self.capture
    }

    /// Whether it lets connections in.
    pub(crate) fn enabled(&self) -> bool {
        *self.enabled.borrow()
    }

    /// A receiver that sees the gate turn on and off.
    pub(crate) fn watch_enabled(&self) -> watch::Receiver<bool> {
        self.enabled.subscribe()
    }

    /// Whether the scenario started it on.
    pub(crate) fn enabled_at_start(&self) -> bool {
        self.enabled_at_start
    }

    /// Turn it on or off; off refuses new connections and ends open ones.
    pub(crate) fn set_enabled(&self, enabled: bool) {
        let was = self.enabled.send_replace(enabled);
        if was && !enabled {
            let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
            sessions.cancel();
            *sessions = self.shutdown.child_token();
        }
    }

    /// Its toxics, in order.
    pub(crate) fn toxics(&self) -> Arc<Vec<Toxic>> {
        self.toxics.borrow().clone()
    }

    /// Replace its toxics.
    pub(crate) fn set_toxics(&self, toxics: Vec<Toxic>) {
        self.toxics.send_replace(Arc::new(toxics));
    }

    /// Start with `toxics` (a scenario's): they act at once and `POST /reset` restores them.
    pub(crate) fn set_scenario_toxics(&self, toxics: Vec<Toxic>) {
        let toxics = Arc::new(toxics);
        *self
            .toxics_at_start
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Arc::clone(&toxics);
        self.toxics.send_replace(toxics);
    }

    /// Put back the toxics the scenario started it with.
    pub(crate) fn reset_toxics(&self) {
        let toxics = self
            .toxics_at_start
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        self.toxics.send_replace(toxics);
    }

    /// Follow its toxics (the UDP responders read them per datagram).
    pub(crate) fn watch_toxics(&self) -> watch::Receiver<Arc<Vec<Toxic>>> {
        self.toxics.subscribe()
    }

    /// The seed of its toxicity draws.
    pub(crate) fn seed(&self) -> u64 {
        self.seed.load(Ordering::Relaxed)
    }

    /// A token that is cancelled when the gate is next turned off (or the lab stops): every
    /// connection task of the listener ends with it.
    pub(crate) fn session(&self) -> CancellationToken {
        self.sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Resolves when `session` ends because the gate was turned off; never when the lab stops
    /// (then the listener's own shutdown handling closes the connection and records it).
    pub(crate) async fn turned_off(&self, session: &CancellationToken) {
        session.cancelled().await;
        if self.shutdown.is_cancelled() {
            std::future::pending::<()>().await;
        }
    }

    /// Record `message` in the timeline under `gate:NAME`.
    fn note(&self, message: String) {
        self.timeline
            .record(&format!("gate:{}", self.name), EventKind::Note { message });
    }

    /// `accepted` as its handler should see it: itself when no toxic is on, else the inner end of a
    /// splice through the toxics.
    pub(crate) async fn tap_accepted(&self, accepted: TcpStream) -> TcpStream {
        self.tap(accepted, Side::Accepted, None).await
    }

    /// `connected` (a connection the proxy opened) as the proxy should use it: itself when no
    /// toxic acts on it, else spliced through the toxics. On a route gate every toxic without a
    /// destination acts; with `destination`, only those whose pattern matches it.
    pub(crate) async fn tap_connected(
        &self,
        connected: TcpStream,
        destination: Option<&str>,
    ) -> TcpStream {
        self.tap(connected, Side::Connected, destination).await
    }

    /// `stream` itself when no toxic acts on it ([`Toxic::acts_on`]); else the inner end of a
    /// loopback pair whose outer end the toxics' pipe joins to `stream`, on the side it is.
    async fn tap(&self, stream: TcpStream, side: Side, destination: Option<&str>) -> TcpStream {
        let stream = self.capture_tap(stream, side, destination).await;
        let acting: Vec<String> = self
            .toxics
            .borrow()
            .iter()
            .filter(|t| t.acts_on(destination))
            .map(|t| {
                format!(
                    "{} {} {}",
                    t.name,
                    t.kind.word(),
                    Value::Object(t.kind.attributes())
                )
            })
            .collect();
        if acting.is_empty() {
            return stream;
        }
        // Which toxics may act on this connection (each acts with its toxicity): the story of a slow
        // or cut connection names its cause.
        self.note(format!(
            "connection{} passes through toxics: {}",
            destination.map_or(String::new(), |d| format!(" to {d}")),
            acting.join(", ")
        ));
        match pair().await {
            Ok((outer, inner)) => {
                let destination = destination.map(str::to_owned);
                match side {
                    Side::Accepted => self.splice(stream, outer, destination),
                    Side::Connected => self.splice(outer, stream, destination),
                }
                inner
            }
            Err(error) => {
                tracing::warn!(gate = %self.name, %error, "cannot splice a connection through its toxics; passing it on without");
                stream
            }
        }
    }

    /// `stream` tapped for the lab's capture (itself when the capture is off), its SYN commented
    /// with what it is: `endpoint site`, `proxy corp`, `proxy corp to login.example`.
    async fn capture_tap(
        &self,
        stream: TcpStream,
        side: Side,
        destination: Option<&str>,
    ) -> TcpStream {
        if !self.capture.is_recording() {
            return stream;
        }
        let (leg, reason) = match (side, destination) {
            (Side::Accepted, _) => (Leg::Accepted, format!("client to {}", self.upstream)),
            (Side::Connected, Some(host)) => {
                (Leg::Connected, format!("{} to {host}", self.upstream))
            }
            (Side::Connected, None) => (
                Leg::Connected,
                format!("{} (route to the parent proxy)", self.upstream),
            ),
        };
        let ends = match side {
            Side::Accepted => stream
                .peer_addr()
                .and_then(|c| Ok((c, stream.local_addr()?))),
            Side::Connected => stream
                .local_addr()
                .and_then(|c| Ok((c, stream.peer_addr()?))),
        };
        let tapped = capture::tap(
            &self.capture,
            stream,
            leg,
            &reason,
            &self.tasks,
            &self.shutdown,
        )
        .await;
        // The timeline names the capture's stream, so a person moves from the story to the packets.
        if let Ok((client, server)) = ends {
            if let Some(stream) = self.capture.stream_index(client, server) {
                let event = EventKind::CaptureStream {
                    stream,
                    client,
                    server,
                };
                self.timeline.record(&format!("gate:{}", self.name), event);
            }
        }
        tapped
    }

    /// Relay `client` and `upstream` through the toxics until either ends or the gate turns off.
    fn splice(&self, client: TcpStream, upstream: TcpStream, destination: Option<String>) {
        let number = self.connections.fetch_add(1, Ordering::Relaxed);
        let toxics = self.toxics.subscribe();
        let stop = self.session();
        let seed = self.seed();
        let name = self.name.clone();
        let timeline = self.timeline.clone();
        // The splice serves the connection the caller serves: its notes carry that connection's id.
        let conn = Timeline::current_connection();
        self.tasks.spawn(async move {
            let _ = client.set_nodelay(true);
            let _ = upstream.set_nodelay(true);
            let outcome = pipe::connection(pipe::Connection {
                client,
                upstream,
                toxics,
                seed,
                link: &name,
                number,
                stop,
                destination: destination.as_deref(),
            })
            .await;
            if let Close::ToxicClosed(why) | Close::ToxicReset(why) = outcome.close {
                timeline.record_on(
                    &format!("gate:{name}"),
                    conn,
                    EventKind::Note {
                        message: format!(
                            "a toxic ended a connection{}: {why}",
                            destination.map_or(String::new(), |d| format!(" to {d}"))
                        ),
                    },
                );
            }
        });
    }
}

/// Which end of a connection a tapped stream is, as the toxics' pipe sees it.
#[derive(Clone, Copy)]
enum Side {
    /// The client's end, accepted by a lab listener (the pipe's client side).
    Accepted,
    /// The far end, opened by a proxy to an origin or its parent (the pipe's upstream side).
    Connected,
}

/// A connected loopback pair: what one end writes the other reads.
pub(crate) async fn pair() -> io::Result<(TcpStream, TcpStream)> {
    let listener = TcpListener::bind(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0)).await?;
    let address = listener.local_addr()?;
    let (connected, accepted) = tokio::join!(TcpStream::connect(address), listener.accept());
    Ok((connected?, accepted?.0))
}

/// A listener behind a gate: it listens while the gate is on and holds its port bound but not
/// listening (so connections are refused, as by a stopped service) while it is off.
pub(crate) struct GatedListener {
    gate: Arc<Gate>,
    state: Listening,
    enabled: watch::Receiver<bool>,
}

enum Listening {
    Open(TcpListener),
    /// Off: the port held by a bound socket that does not listen, if it could be bound again.
    Closed(Option<TcpSocket>),
}

/// The accept-queue length of a listener re-opened by its gate (as the lab's own listeners).
const BACKLOG: u32 = 8192;

impl GatedListener {
    /// A gated listener; `listener` is `None` when the listener starts off (a proxy that is down:
    /// `held` keeps its port).
    pub(crate) fn new(
        gate: Arc<Gate>,
        listener: Option<TcpListener>,
        held: Option<TcpSocket>,
    ) -> GatedListener {
        let enabled = gate.enabled.subscribe();
        let state = match listener {
            Some(listener) => Listening::Open(listener),
            None => Listening::Closed(held),
        };
        GatedListener {
            gate,
            state,
            enabled,
        }
    }

    /// The gate in front of it.
    pub(crate) fn gate(&self) -> &Arc<Gate> {
        &self.gate
    }

    /// The next connection, or `None` once `stop` is cancelled. While the gate is off it waits.
    pub(crate) async fn accept(
        &mut self,
        stop: &CancellationToken,
    ) -> Option<io::Result<(TcpStream, SocketAddr)>> {
        loop {
            let wanted = *self.enabled.borrow_and_update();
            self.follow(wanted);
            let changed = async {
                if self.enabled.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            };
            match &self.state {
                Listening::Open(listener) => tokio::select! {
                    () = stop.cancelled() => return None,
                    () = changed => {}
                    accepted = listener.accept() => return Some(accepted),
                },
                Listening::Closed(_) => tokio::select! {
                    () = stop.cancelled() => return None,
                    () = changed => {}
                },
            }
        }
    }

    /// Open or close the listener as the gate says.
    fn follow(&mut self, enabled: bool) {
        let address = self.gate.address;
        match (&mut self.state, enabled) {
            (Listening::Open(_), false) => {
                // Dropping the listener refuses new connections; the held socket keeps the port.
                self.state = Listening::Closed(None);
                let held = bound_socket(address);
                if let Err(error) = &held {
                    tracing::warn!(gate = %self.gate.name, %address, %error, "cannot hold the port while off");
                }
                self.state = Listening::Closed(held.ok());
                self.gate.note(format!(
                    "{} off: {address} refuses connections",
                    self.gate.upstream
                ));
            }
            (Listening::Closed(held), true) => {
                let socket = match held.take() {
                    Some(socket) => Ok(socket),
                    None => bound_socket(address),
                };
                match socket.and_then(|socket| socket.listen(BACKLOG)) {
                    Ok(listener) => {
                        self.state = Listening::Open(listener);
                        self.gate.note(format!(
                            "{} on: {address} accepts connections",
                            self.gate.upstream
                        ));
                    }
                    Err(error) => {
                        tracing::warn!(gate = %self.gate.name, %address, %error, "cannot listen again");
                        self.gate.note(format!(
                            "{} cannot listen again on {address}: {error}",
                            self.gate.upstream
                        ));
                    }
                }
            }
            _ => {}
        }
    }
}

/// A socket bound to `address` (address reuse on, as the lab's listeners) that does not listen.
fn bound_socket(address: SocketAddr) -> io::Result<TcpSocket> {
    let socket = match address.ip() {
        IpAddr::V4(_) => TcpSocket::new_v4()?,
        IpAddr::V6(_) => TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.bind(address)?;
    Ok(socket)
}
