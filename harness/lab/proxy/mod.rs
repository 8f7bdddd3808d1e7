//! The lab's forward proxy: CONNECT tunnels and absolute-URI forwarding, with rules, authentication,
//! chaining, faults, an optional TLS listener and TLS interception, answering like Squid or like a
//! generic proxy.
//!
//! The accept loop hands each connection to a tracked task; a connection reads one request head at a
//! time (racing the lab's shutdown), decides, answers, then tunnels, forwards or reads the next head.

mod answers;
mod auth;
mod faults;
mod forward;
mod request;
mod rules;
mod tunnel;
mod upstream;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use egresslab_certs::Factory;

use crate::lab::context::ProxyContext;
use crate::lab::plan::ProxyPlan;
use crate::lab::timeline::{EventKind, Timeline};
use crate::lab::world::World;

use answers::{Failure, Voice, CONNECT_ESTABLISHED};
use auth::AuthOutcome;
use faults::FaultStep;
use request::{ReadOutcome, Request};
use tunnel::Relayed;

/// How long a client may take to send a complete request head (the slowloris guard).
const HEADER_TIMEOUT: Duration = Duration::from_secs(30);

/// Requests one client connection may carry before the proxy closes it (bounds every loop).
const MAX_REQUESTS_PER_CONNECTION: usize = 100;

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
    /// The lab's certificate factory (interception leaves, the `https://` listener).
    #[allow(dead_code)]
    pub(crate) certs: Arc<Factory>,
}

/// What a connection does after one request.
enum Next {
    /// Read another request on the same connection.
    KeepAlive,
    /// Close, with this record of the connection's end.
    Done(Relayed),
}

impl Next {
    fn done(reason: impl Into<String>) -> Next {
        Next::Done(Relayed {
            up: 0,
            down: 0,
            reason: reason.into(),
        })
    }
}

/// Serve proxy clients on `listener` until `ctx.shutdown` is cancelled. Every connection runs as a
/// task on `ctx.tasks`; a failing connection never stops the accept loop. The listener is dropped
/// (and its port freed) when this returns.
pub(crate) async fn serve(listener: TcpListener, ctx: ProxyContext) {
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
    let proxy = Arc::new(Proxy {
        source: format!("proxy:{}", ctx.plan.name),
        plan: ctx.plan,
        world: ctx.world,
        timeline: ctx.timeline,
        port,
        shutdown: ctx.shutdown,
        tasks: ctx.tasks,
        certs: ctx.certs,
    });
    run(listener, proxy).await;
}

/// Accept connections until `proxy.shutdown` is cancelled; each runs on `proxy.tasks`.
async fn run(listener: TcpListener, proxy: Arc<Proxy>) {
    loop {
        let accepted = tokio::select! {
            () = proxy.shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, peer)) => {
                let _ = stream.set_nodelay(true);
                let span = tracing::info_span!("proxy_connection", proxy = %proxy.plan.name, %peer);
                let handler = Arc::clone(&proxy);
                proxy
                    .tasks
                    .spawn(async move { handler.connection(stream, peer).await }.instrument(span));
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

impl Proxy {
    fn record(&self, kind: EventKind) {
        self.timeline.record(&self.source, kind);
    }

    fn voice(&self, tunnel: bool) -> Voice<'_> {
        Voice {
            personality: self.plan.personality,
            name: &self.plan.name,
            port: self.port,
            tunnel,
        }
    }

    /// Serve one client connection from accept to close.
    async fn connection<S>(self: Arc<Self>, mut client: S, peer: SocketAddr)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        self.record(EventKind::Accepted { peer });
        let mut buf = Vec::new();
        let mut end = Relayed {
            up: 0,
            down: 0,
            reason: "request limit reached".to_owned(),
        };
        for _ in 0..MAX_REQUESTS_PER_CONNECTION {
            let read = tokio::select! {
                () = self.shutdown.cancelled() => {
                    end.reason = "shutdown".to_owned();
                    break;
                }
                read = request::read_head(&mut client, &mut buf, HEADER_TIMEOUT) => read,
            };
            let next = match read {
                ReadOutcome::Request(request, used) => {
                    let mut leftover = buf.split_off(used);
                    std::mem::swap(&mut buf, &mut leftover);
                    self.request(&mut client, &request, &buf, peer).await
                }
                ReadOutcome::Malformed(malformed) => {
                    let failure = Failure::Malformed(malformed);
                    self.answer(&mut client, &failure, "-", false).await;
                    Next::done("malformed request")
                }
                ReadOutcome::Closed { partial: false } => Next::done("client closed"),
                ReadOutcome::Closed { partial: true } => Next::done("client closed mid-request"),
                ReadOutcome::TimedOut => Next::done("header time-out"),
                ReadOutcome::Failed(error) => Next::done(format!("client error: {error}")),
            };
            match next {
                Next::KeepAlive => continue,
                Next::Done(relayed) => {
                    end = relayed;
                    break;
                }
            }
        }
        let _ = client.shutdown().await;
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
        leftover: &[u8],
        peer: SocketAddr,
    ) -> Next
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        let connect = request.is_connect();
        let checked = self
            .plan
            .auth
            .as_ref()
            .map(|plan| auth::check(plan, request.header("Proxy-Authorization")));
        self.record(EventKind::Request {
            peer,
            method: request.method.clone(),
            target: request.raw_target.clone(),
            user: checked
                .as_ref()
                .and_then(AuthOutcome::user)
                .map(str::to_owned),
        });
        let has_body = request.header("Content-Length").is_some_and(|v| v != "0")
            || request.header("Transfer-Encoding").is_some();
        let target = format!("{}:{}", request.target.host(), request.target.port());
        match faults::apply(self.plan.fault.as_ref(), client, &self.shutdown).await {
            FaultStep::Continue => {}
            FaultStep::Answer(failure) => {
                return self
                    .refuse(client, &failure, &target, connect, has_body)
                    .await
            }
            FaultStep::Close(reason) => return Next::done(reason),
        }
        let decision = rules::decide(
            &self.plan,
            connect,
            request.target.host(),
            request.target.port(),
        );
        self.record(EventKind::RuleFired {
            rule: decision.rule.clone(),
            action: if decision.allow { "allow" } else { "deny" }.to_owned(),
            target: target.clone(),
        });
        if !decision.allow {
            return self
                .refuse(client, &Failure::Denied, &target, connect, has_body)
                .await;
        }
        if let (Some(plan), Some(outcome)) = (self.plan.auth.as_ref(), checked) {
            match outcome {
                AuthOutcome::Accepted { .. } => {}
                other => {
                    if let AuthOutcome::Unsupported { scheme } = &other {
                        self.record(EventKind::Note {
                            message: format!(
                                "client attempted {scheme} proxy authentication: offered by the lab but not supported"
                            ),
                        });
                    }
                    let failure = Failure::AuthRequired(auth::challenges(plan));
                    return self
                        .refuse(client, &failure, &target, connect, has_body)
                        .await;
                }
            }
        }
        if connect {
            self.tunnel(client, request, leftover, &target).await
        } else {
            match forward::forward(self, &mut *client, request, leftover).await {
                Ok(relayed) => {
                    self.record(EventKind::Note {
                        message: format!("forwarded {} {}", request.method, request.raw_target),
                    });
                    Next::Done(relayed)
                }
                Err(failure) => self.refuse(client, &failure, &target, false, true).await,
            }
        }
    }

    /// Open the tunnel, answer 200 and relay.
    async fn tunnel<S>(
        &self,
        client: &mut S,
        request: &Request,
        leftover: &[u8],
        target: &str,
    ) -> Next
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        let opened = tokio::select! {
            () = self.shutdown.cancelled() => return Next::done("shutdown"),
            opened = upstream::open_tunnel(self, request.target.host(), request.target.port()) => opened,
        };
        let mut origin = match opened {
            Ok(origin) => origin,
            Err(failure) => return self.refuse(client, &failure, target, true, true).await,
        };
        if let Err(error) = client.write_all(CONNECT_ESTABLISHED).await {
            return Next::done(format!("client error: {error}"));
        }
        self.record(EventKind::Answer {
            status: 200,
            reason: format!("tunnel to {target} established"),
        });
        if !leftover.is_empty() && origin.write_all(leftover).await.is_err() {
            return Next::done("origin closed before the early data");
        }
        let mut relayed = tunnel::relay(client, origin, &self.shutdown).await;
        relayed.up += leftover.len() as u64;
        Next::Done(relayed)
    }

    /// Answer a failure; keep the connection only when the answer allows it and no body is pending.
    async fn refuse<S>(
        &self,
        client: &mut S,
        failure: &Failure,
        target: &str,
        tunnel: bool,
        has_body: bool,
    ) -> Next
    where
        S: AsyncWrite + Unpin,
    {
        let keep = self.answer(client, failure, target, tunnel).await;
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
        failure: &Failure,
        target: &str,
        tunnel: bool,
    ) -> bool {
        let rendered = failure.render(&self.voice(tunnel), target);
        self.record(EventKind::Answer {
            status: rendered.status,
            reason: failure.describe(target),
        });
        let written = client
            .write_all(&rendered.bytes)
            .await
            .and(client.flush().await);
        written.is_ok() && rendered.keep_alive
    }
}
