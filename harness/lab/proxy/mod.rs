//! The lab's forward proxy: CONNECT tunnels and absolute-URI forwarding, with rules, authentication,
//! chaining, faults, an optional TLS listener and TLS interception, answering like Squid or like a
//! generic proxy.
//!
//! The accept loop hands each connection to a tracked task; a connection reads one request head at a
//! time (racing the lab's shutdown), decides, answers, then tunnels, forwards or reads the next head.

mod admission;
mod answers;
pub(crate) mod auth;
mod authority;
mod body;
mod faults;
mod forward;
pub(crate) mod intercept;
mod reply;
pub(crate) mod request;
mod rules;
mod socks;
mod tcp_relay;
mod tunnel;
mod upstream;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::lab::capture::{self, Recording, TakeOver};
use crate::lab::context::{ProxyContext, ResetOnShutdown};
use crate::lab::exchange::{self, Seen};
use crate::lab::live::proxy::ProxyState;
use crate::lab::live::{Gate, GatedListener};
use crate::lab::pattern::host_matches;
use crate::lab::plan::{Personality, ProxyFault, ProxyKind, ProxyPlan};
use crate::lab::timeline::{ConnId, EventKind, Timeline};
use crate::lab::world::World;

use admission::Admission;
use answers::{Failure, Voice, CONNECT_ESTABLISHED};
use auth::{AuthOutcome, AuthSession};
use faults::FaultStep;
use intercept::Interceptor;
use request::{ReadOutcome, Request};
use tcp_relay::AsTcp;
use tunnel::{Prefixed, Relayed};

pub(crate) use authority::LabAuthority;
pub use intercept::ProxyTlsError;

/// The generic personality's answer to a connection beyond the plan's connection cap, written
/// without waiting.
const OVER_CAPACITY: &[u8] =
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

/// Requests one client connection may carry before the proxy closes it (bounds every loop); the
/// last forwarded answer says `Connection: close`, so a client never reuses a connection that is
/// about to go.
const MAX_REQUESTS_PER_CONNECTION: usize = 10_000;

/// Everything a connection handler of one proxy needs.
pub(crate) struct Proxy {
    /// The proxy's plan.
    pub(crate) plan: Arc<ProxyPlan>,
    /// The lab's routing table.
    pub(crate) world: Arc<World>,
    /// Where events go.
    pub(crate) timeline: Timeline,
    /// The timeline source name, `proxy:<name>`.
    pub(crate) source: String,
    /// The port the proxy listens on (Squid names it in `X-Cache-Lookup`).
    pub(crate) port: u16,
    /// Cancelled when the lab shuts down.
    pub(crate) shutdown: CancellationToken,
    /// Tracks every connection task.
    pub(crate) tasks: TaskTracker,
    /// TLS for an `https://` proxy listener.
    pub(crate) tls: Option<TlsAcceptor>,
    /// TLS interception, when the plan asks for it.
    pub(crate) interceptor: Option<Arc<Interceptor>>,
    /// The gate in front of its listener (toxics per destination act on its origin connections).
    pub(crate) gate: Arc<Gate>,
    /// The gate of its route to the parent proxy, if it has one.
    pub(crate) route: Option<Arc<Gate>>,
}

/// Where a request stands on its connection.
#[derive(Debug, Clone, Copy)]
struct At {
    /// The client.
    peer: SocketAddr,
    /// The connection's last permitted request.
    last: bool,
}

/// What a connection does after one request.
enum Next {
    /// Read another request on the same connection.
    KeepAlive,
    /// A forwarded exchange that kept the connection: read another request, counting its bytes.
    Served {
        /// Bytes from the client.
        up: u64,
        /// Bytes to the client.
        down: u64,
    },
    /// Close, with this record of the connection's end.
    Done(Relayed),
    /// Reset the connection (no FIN first), for this reason.
    Reset(String),
}

impl Next {
    fn done(reason: impl AsRef<str>) -> Next {
        Next::Done(Relayed::gone(reason.as_ref()))
    }
}

/// Serve proxy clients on `listener` until `ctx.shutdown` is cancelled. Every connection runs as a
/// task on `ctx.tasks`; a failing connection never stops the accept loop. The listener is dropped
/// (and its port freed) when this returns. Its TLS was set up before the port was bound.
pub(crate) async fn serve(listener: GatedListener, ctx: ProxyContext) {
    let port = listener.gate().address.port();
    let mut live = ctx.live.subscribe();
    let state = live.borrow_and_update().clone();
    let proxy = Arc::new(Proxy {
        source: format!("proxy:{}", ctx.live.name),
        plan: state.plan,
        world: ctx.world,
        timeline: ctx.timeline,
        port,
        shutdown: ctx.shutdown,
        tasks: ctx.tasks,
        tls: ctx.tls.listener,
        interceptor: state.interceptor,
        gate: Arc::clone(listener.gate()),
        route: ctx.route,
    });
    run(listener, proxy, live).await;
}

/// Accept connections until `proxy.shutdown` is cancelled; each runs on `proxy.tasks` with the
/// proxy's plan as it was when the connection arrived (the control API may change it).
async fn run(
    mut listener: GatedListener,
    mut proxy: Arc<Proxy>,
    mut live: watch::Receiver<ProxyState>,
) {
    let active = Arc::new(AtomicUsize::new(0));
    while let Some(accepted) = listener.accept(&proxy.shutdown).await {
        if live.has_changed().unwrap_or(false) {
            let state = live.borrow_and_update().clone();
            proxy = Arc::new(proxy.with_state(state));
        }
        match accepted {
            Ok((stream, peer)) => {
                if active.load(Ordering::Acquire) >= proxy.plan.max_connections {
                    proxy.over_capacity(&stream, peer);
                    continue;
                }
                let _ = stream.set_nodelay(true);
                let span = tracing::info_span!("proxy_connection", proxy = %proxy.plan.name, %peer);
                let handler = Arc::clone(&proxy);
                let slot = Slot::take(&active);
                let session = proxy.gate.session();
                let id = proxy.accepted_connection(&stream, peer);
                proxy.tasks.spawn(Timeline::in_connection(
                    id,
                    async move {
                        let _slot = slot;
                        let stream = handler.gate.tap_accepted(stream).await;
                        let recorder = Arc::clone(&handler);
                        tokio::select! {
                            () = recorder.gate.turned_off(&session) => recorder.record(EventKind::Closed {
                                bytes_up: 0,
                                bytes_down: 0,
                                reason: "proxy turned off through the control API".to_owned(),
                            }),
                            () = handler.accept(stream, peer) => {}
                        }
                    }
                    .instrument(span),
                ));
            }
            Err(error) => {
                // Out of descriptors or a connection reset before accept: pause briefly, keep serving.
                tracing::warn!(proxy = %proxy.plan.name, %error, "accept failed");
                tokio::select! {
                    () = proxy.shutdown.cancelled() => break,
                    () = tokio::time::sleep(Duration::from_millis(20)) => {}
                }
            }
        }
    }
}

/// One counted client connection; the count goes down when the connection's task ends.
struct Slot(Arc<AtomicUsize>);

impl Slot {
    fn take(active: &Arc<AtomicUsize>) -> Slot {
        active.fetch_add(1, Ordering::AcqRel);
        Slot(Arc::clone(active))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Proxy {
    /// This proxy with a new plan and interception, for the connections accepted from now on.
    fn with_state(&self, state: ProxyState) -> Proxy {
        Proxy {
            plan: state.plan,
            world: Arc::clone(&self.world),
            timeline: self.timeline.clone(),
            source: self.source.clone(),
            port: self.port,
            shutdown: self.shutdown.clone(),
            tasks: self.tasks.clone(),
            tls: self.tls.clone(),
            interceptor: state.interceptor,
            gate: Arc::clone(&self.gate),
            route: self.route.clone(),
        }
    }

    /// Refuse a connection beyond the cap and close it. Squid (`client_ip_max_connections`)
    /// closes it without reading or answering; the generic personality answers 503 if the socket
    /// takes it at once.
    fn over_capacity(&self, stream: &TcpStream, peer: SocketAddr) {
        let cap = self.plan.max_connections;
        tracing::warn!(proxy = %self.plan.name, %peer, cap, "connection cap reached; refusing");
        let id = Some(self.accepted_connection(stream, peer));
        if self.plan.personality == Personality::Generic {
            let _ = stream.try_write(OVER_CAPACITY);
            let answer = EventKind::Answer {
                status: 503,
                reason: format!("connection cap of {cap} reached"),
            };
            self.timeline.record_on(&self.source, id, answer);
        }
        let closed = EventKind::Closed {
            bytes_up: 0,
            bytes_down: 0,
            reason: format!("refused: connection cap of {cap} reached"),
        };
        self.timeline.record_on(&self.source, id, closed);
    }

    /// Record an accepted client connection and return its id.
    fn accepted_connection(&self, stream: &TcpStream, peer: SocketAddr) -> ConnId {
        let local = stream.local_addr().unwrap_or(self.gate.address);
        self.timeline.accepted(&self.source, peer, local)
    }

    fn record(&self, kind: EventKind) {
        self.timeline.record(&self.source, kind);
    }

    /// Record that a leg for `destination` could not be opened, and give back the failure.
    fn failed(&self, destination: &str, remote: Option<SocketAddr>, failure: Failure) -> Failure {
        self.record(EventKind::UpstreamFailed {
            destination: destination.to_owned(),
            remote,
            error: failure.describe(destination),
        });
        failure
    }

    fn voice(&self, tunnel: bool) -> Voice<'_> {
        Voice {
            personality: self.plan.personality,
            name: &self.plan.name,
            port: self.port,
            tunnel,
        }
    }

    /// Take a new connection: record it, serve it, and reset it if shutdown cut it off.
    async fn accept(self: Arc<Self>, stream: TcpStream, peer: SocketAddr) {
        // Cut off by shutdown, the connection closes with RST so no FIN_WAIT or TIME_WAIT socket
        // keeps the port.
        let stream = ResetOnShutdown::new(stream, &self.shutdown);
        self.accepted(stream, peer).await;
    }

    /// Complete the TLS handshake of an `https://` proxy, then serve.
    async fn accepted(self: Arc<Self>, stream: ResetOnShutdown, peer: SocketAddr) {
        let Some(acceptor) = self.tls.clone() else {
            return self.connection(stream, peer).await;
        };
        let handshake = tokio::select! {
            () = self.shutdown.cancelled() => {
                return self.record(EventKind::Closed {
                    bytes_up: 0,
                    bytes_down: 0,
                    reason: "shutdown during the TLS handshake".to_owned(),
                })
            }
            handshake = tokio::time::timeout(self.plan.header_timeout, acceptor.accept(stream)) => handshake,
        };
        match handshake {
            Ok(Ok(tls)) => {
                let (_, session) = tls.get_ref();
                self.record(EventKind::TlsHandshake {
                    version: tls_version(session.protocol_version()),
                    sni: session.server_name().map(str::to_owned),
                    served: format!(
                        "proxy certificate (profile {})",
                        self.plan.tls_profile.map(|p| p.name()).unwrap_or_default()
                    ),
                    client_cert: None,
                });
                self.connection(tls, peer).await;
            }
            Ok(Err(error)) => self.tls_failed(error.to_string()),
            Err(_) => self.tls_failed("handshake timed out".to_owned()),
        }
    }

    /// The `https://` listener's handshake failed: record it and the close it means.
    fn tls_failed(&self, error: String) {
        let served = self
            .plan
            .tls_profile
            .map(|profile| format!("proxy certificate (profile {})", profile.name()));
        self.record(EventKind::TlsFailed {
            sni: None,
            error: error.clone(),
            served,
        });
        self.record(EventKind::Closed {
            bytes_up: 0,
            bytes_down: 0,
            reason: format!("TLS handshake failed: {error}"),
        });
    }

    /// Serve one client connection from its first request to close.
    async fn connection<S>(self: Arc<Self>, mut client: S, peer: SocketAddr)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + AsTcp,
    {
        if self.plan.kind == ProxyKind::Socks5 {
            let end = self.socks(&mut client, peer).await;
            return self.closed(&mut client, end).await;
        }
        let mut buf = Vec::new();
        let mut session = AuthSession::new(self.plan.digest_nonce_lifetime);
        let mut end = Relayed::gone("request limit reached");
        // Bytes of the forwarded exchanges before the last one, for the `closed` event.
        let (mut up, mut down) = (0, 0);
        for served in 1..=MAX_REQUESTS_PER_CONNECTION {
            let last = served == MAX_REQUESTS_PER_CONNECTION;
            let read = tokio::select! {
                () = self.shutdown.cancelled() => {
                    end.reason = "shutdown".to_owned();
                    break;
                }
                read = request::read_head(
                    &mut client,
                    &mut buf,
                    self.plan.header_timeout,
                    self.plan.max_head_bytes,
                ) => read,
            };
            let next = match read {
                ReadOutcome::Request(request, used) => {
                    buf.drain(..used);
                    // The head is parsed into `request`: what stays is what followed it, and a
                    // tunnel must not hold the head's buffer (its pages are per-tunnel memory).
                    buf.shrink_to_fit();
                    let at = At { peer, last };
                    self.request(&mut client, &request, &mut buf, at, &mut session)
                        .await
                }
                ReadOutcome::Malformed(malformed) => {
                    let failure = Failure::Malformed(malformed);
                    self.answer(&mut client, None, &failure, "-", false).await;
                    Next::done("malformed request")
                }
                ReadOutcome::Closed { partial: false } => Next::done("client closed"),
                ReadOutcome::Closed { partial: true } => Next::done("client closed mid-request"),
                ReadOutcome::TimedOut => Next::done("header time-out"),
                ReadOutcome::Failed(error) => Next::done(format!("client error: {error}")),
            };
            match next {
                Next::KeepAlive => continue,
                Next::Served { up: u, down: d } => {
                    up += u;
                    down += d;
                    continue;
                }
                Next::Done(relayed) => {
                    end = relayed;
                    break;
                }
                Next::Reset(reason) => {
                    // Dropping the stream with a zero linger sends RST, as Squid's TCP_RESET does.
                    if let Some(tcp) = client.as_tcp() {
                        let _ = tcp.set_zero_linger();
                    }
                    self.record(EventKind::Closed {
                        bytes_up: 0,
                        bytes_down: 0,
                        reason,
                    });
                    return;
                }
            }
        }
        let end = Relayed {
            up: end.up + up,
            down: end.down + down,
            ..end
        };
        self.closed(&mut client, end).await;
    }

    /// Close a client connection that ended as `end` says, and record it.
    async fn closed<S: AsyncWrite + Unpin>(&self, client: &mut S, end: Relayed) {
        if !end.both_shut() {
            let _ = client.shutdown().await;
        }
        self.record(EventKind::Closed {
            bytes_up: end.up,
            bytes_down: end.down,
            reason: end.reason,
        });
    }

    /// Handle one parsed request.
    async fn request<S>(
        &self,
        client: &mut S,
        request: &Request,
        buf: &mut Vec<u8>,
        at: At,
        session: &mut AuthSession,
    ) -> Next
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + AsTcp,
    {
        let connect = request.is_connect();
        let checked = self.plan.auth.as_ref().map(|plan| {
            let header = request.header("Proxy-Authorization");
            session.check(plan, header, &request.method, &request.raw_target)
        });
        self.record(EventKind::Request {
            peer: at.peer,
            method: request.method.clone(),
            target: request::redact_userinfo(&request.raw_target).into_owned(),
            user: checked
                .as_ref()
                .and_then(AuthOutcome::user)
                .map(str::to_owned),
        });
        let has_body = request.header("Content-Length").is_some_and(|v| v != "0")
            || request.header("Transfer-Encoding").is_some();
        let target = format!("{}:{}", request.target.host(), request.target.port());
        match self.fault(client).await {
            FaultStep::Continue => {}
            FaultStep::Answer(failure) => {
                return self
                    .refuse(client, request, &failure, &target, connect, has_body)
                    .await
            }
            FaultStep::Close(reason) => return Next::done(reason),
        }
        let challenged = matches!(checked, Some(AuthOutcome::Continue { .. }));
        let direct = match self.admit(request, checked, at.peer, &target) {
            Admission::Relay { direct } => direct,
            Admission::Refuse(failure) => {
                let next = self
                    .refuse(client, request, &failure, &target, connect, has_body)
                    .await;
                if challenged && self.plan.fault == Some(ProxyFault::CloseAfterChallenge) {
                    return Next::done("closed right after the NTLM challenge (fault)");
                }
                return next;
            }
            Admission::Reset => return Next::Reset("reset (deny_info TCP_RESET)".to_owned()),
        };
        let parent = self.plan.upstream.as_deref().filter(|_| !direct);
        if connect {
            self.tunnel(client, request, buf, &target, parent).await
        } else {
            // Boxed: a connection's task is as large as its largest state, and hyper's client
            // exchange would otherwise make every idle tunnel's task that large.
            let forwarded = Box::pin(forward::forward(
                self,
                &mut *client,
                request,
                buf,
                parent,
                at.last,
            ));
            match forwarded.await {
                Ok(forwarded) => {
                    self.record(EventKind::Note {
                        message: format!(
                            "forwarded {} {}",
                            request.method,
                            request::redact_userinfo(&request.raw_target)
                        ),
                    });
                    let relayed = forwarded.relayed;
                    if forwarded.keep_alive {
                        Next::Served {
                            up: relayed.up,
                            down: relayed.down,
                        }
                    } else {
                        Next::Done(relayed)
                    }
                }
                Err(failure) => {
                    self.refuse(client, request, &failure, &target, false, true)
                        .await
                }
            }
        }
    }

    /// Apply the scenario's fault to a request just read, noting it in the timeline.
    async fn fault<S: AsyncWrite + Unpin>(&self, client: &mut S) -> FaultStep {
        if let Some(fault) = self.plan.fault.as_ref() {
            self.record(EventKind::Note {
                message: format!("the scenario's fault: {}", faults::describe(fault)),
            });
        }
        faults::apply(self.plan.fault.as_ref(), client, &self.shutdown).await
    }

    /// Open the tunnel, answer 200 and relay.
    async fn tunnel<S>(
        &self,
        client: &mut S,
        request: &Request,
        leftover: &[u8],
        target: &str,
        parent: Option<&str>,
    ) -> Next
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + AsTcp,
    {
        let opened = tokio::select! {
            () = self.shutdown.cancelled() => return Next::done("shutdown"),
            opened = upstream::open_tunnel(self, parent, request.target.host(), request.target.port()) => opened,
        };
        let mut origin = match opened {
            Ok(origin) => origin,
            Err(failure) => {
                return self
                    .refuse(client, request, &failure, target, true, true)
                    .await
            }
        };
        let started = Instant::now();
        if let Err(error) = client.write_all(CONNECT_ESTABLISHED).await {
            return Next::done(format!("client error: {error}"));
        }
        self.record_exchange(request, CONNECT_ESTABLISHED, started.elapsed());
        self.record(EventKind::Answer {
            status: 200,
            reason: format!("tunnel to {target} established"),
        });
        let host = request.target.host();
        if let Some(interceptor) = self.interceptor.as_ref().filter(|_| self.inspects(host)) {
            let client = Prefixed::new(leftover.to_vec(), client);
            return Next::Done(
                // Boxed for the same reason: the TLS handshakes' state stays out of blind tunnels.
                Box::pin(intercept::intercept(
                    self,
                    interceptor,
                    client,
                    origin,
                    host,
                    target,
                ))
                .await,
            );
        }
        if !leftover.is_empty() && origin.write_all(leftover).await.is_err() {
            return Next::done("origin closed before the early data");
        }
        // A plain TCP client gets the zero-copy relay; a client of the https:// listener the copy.
        let mut relayed = match client.as_tcp() {
            Some(tcp) => self.relay_blind(tcp, origin).await,
            None => tunnel::relay(client, origin, &self.shutdown).await,
        };
        relayed.up += leftover.len() as u64;
        Next::Done(relayed)
    }

    /// Relay a blind tunnel between two TCP sockets. With the capture on, each tapped socket is
    /// taken back from its tap first and the relay records the bytes itself: a tunnel then costs
    /// no loopback pair per leg.
    async fn relay_blind(&self, client: &TcpStream, origin: TcpStream) -> Relayed {
        let capture = self.gate.capture();
        let mut recording = Recording::default();
        let mut held = Vec::new();
        let mut early = (0u64, 0u64);
        let mut sockets = [None, None];
        for (index, socket) in [client, &origin].into_iter().enumerate() {
            match capture::take_over(capture, socket).await {
                TakeOver::NotTapped => {}
                TakeOver::Gone => {
                    return Relayed::gone("connection lost while its capture was handed over")
                }
                TakeOver::Taken(mut taken) => {
                    recording.add(&taken);
                    let pending = std::mem::take(&mut taken.pending);
                    sockets[index] = Some(taken.stream);
                    held.push((index, pending));
                }
            }
        }
        let client = sockets[0].as_ref().unwrap_or(client);
        let origin = sockets[1].as_ref().unwrap_or(&origin);
        // What each side sent that was on its way through the tap goes on first. Its own tap
        // recorded it on its own leg already; only the other leg is still to show it.
        for (index, pending) in held {
            if pending.is_empty() {
                continue;
            }
            let (to, count, record): (&TcpStream, _, fn(&Recording, &[u8])) = if index == 0 {
                (origin, &mut early.0, Recording::up_from_tap)
            } else {
                (client, &mut early.1, Recording::down_from_tap)
            };
            record(&recording, &pending);
            if capture::write_all(to, &pending).await.is_err() {
                return Relayed::gone("peer closed before the early data");
            }
            *count += pending.len() as u64;
        }
        let mut relayed = tcp_relay::relay_tcp(client, origin, &recording, &self.shutdown).await;
        if self.shutdown.is_cancelled() {
            for socket in sockets.iter().flatten() {
                let _ = socket.set_zero_linger();
            }
        }
        relayed.up += early.0;
        relayed.down += early.1;
        relayed
    }

    /// Whether TLS to `host` is intercepted (not a passthrough host).
    fn inspects(&self, host: &str) -> bool {
        let passthrough = self
            .plan
            .intercept
            .as_ref()
            .map(|plan| plan.passthrough.as_slice())
            .unwrap_or_default();
        !passthrough
            .iter()
            .any(|pattern| host_matches(pattern, host))
    }

    /// Answer a failure; keep the connection only when the answer allows it and no body is pending.
    async fn refuse<S>(
        &self,
        client: &mut S,
        request: &Request,
        failure: &Failure,
        target: &str,
        tunnel: bool,
        has_body: bool,
    ) -> Next
    where
        S: AsyncWrite + Unpin,
    {
        let keep = self
            .answer(client, Some(request), failure, target, tunnel)
            .await;
        if keep && !has_body {
            Next::KeepAlive
        } else {
            Next::done(format!("answered {}", failure.describe(target)))
        }
    }

    /// Write a failure's answer and record it; true when the connection may carry another request.
    async fn answer<S: AsyncWrite + Unpin>(
        &self,
        client: &mut S,
        request: Option<&Request>,
        failure: &Failure,
        target: &str,
        tunnel: bool,
    ) -> bool {
        let rendered = failure.render(&self.voice(tunnel), target);
        self.record(EventKind::Answer {
            status: rendered.status,
            reason: failure.describe(target),
        });
        let started = Instant::now();
        let written = client
            .write_all(&rendered.bytes)
            .await
            .and(client.flush().await);
        if let Some(request) = request {
            self.record_exchange(request, &rendered.bytes, started.elapsed());
        }
        written.is_ok() && rendered.keep_alive
    }

    /// Record the proxy's own answer `bytes` to `request` as an `http` event.
    fn record_exchange(&self, request: &Request, bytes: &[u8], took: Duration) {
        let Some((status, response_headers, head)) = exchange::response_head(bytes) else {
            return;
        };
        let seen = Seen {
            role: if request.is_connect() {
                "connect"
            } else {
                "proxy"
            },
            method: &request.method,
            url: request::redact_userinfo(&request.raw_target).into_owned(),
            version: exchange::http1(request.minor),
            request_headers: &request.headers,
            request_body_bytes: 0,
            status,
            response_headers,
            response_body_bytes: (bytes.len() - head) as u64,
            wait: Duration::ZERO,
            total: took,
        };
        self.record(seen.event());
    }
}

/// A negotiated TLS version as the timeline names it.
fn tls_version(version: Option<rustls::ProtocolVersion>) -> String {
    match version {
        Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3".to_owned(),
        Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2".to_owned(),
        Some(other) => format!("{other:?}"),
        None => "unknown".to_owned(),
    }
}
