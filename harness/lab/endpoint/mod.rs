//! Endpoints: servers that answer for a set of host names on one port, plain or over TLS.

pub(crate) mod http;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use self::http::{Counts, Request, Response};
use super::context::Serving;
use super::plan::{EndpointBehaviour, EndpointPlan};
use super::timeline::EventKind;

/// Where an endpoint of a running lab can be reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointHandle {
    pub(crate) name: String,
    pub(crate) hosts: Vec<String>,
    pub(crate) port: u16,
    pub(crate) address: SocketAddr,
    pub(crate) listen_address: SocketAddr,
}

impl EndpointHandle {
    /// The endpoint's name in the plan.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The host-name patterns it answers for.
    pub fn hosts(&self) -> &[String] {
        &self.hosts
    }

    /// The port clients believe they connect to (443, 80, ...).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Where a direct client connects: the endpoint itself, or whatever the client-side firewall put
    /// in front of it (a closed port, a black hole, a middlebox).
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Where the endpoint's own listener is, bypassing every firewall rule.
    pub fn listen_address(&self) -> SocketAddr {
        self.listen_address
    }
}

/// A bound endpoint waiting to be served.
pub(crate) struct Endpoint {
    pub(crate) plan: Arc<EndpointPlan>,
    pub(crate) listener: TcpListener,
    pub(crate) responder: Arc<Responder>,
}

/// Answers an endpoint's HTTP requests according to its behaviour.
pub(crate) struct Responder {
    behaviour: EndpointBehaviour,
}

impl Responder {
    /// A responder for a behaviour.
    pub(crate) fn new(behaviour: EndpointBehaviour) -> Responder {
        Responder { behaviour }
    }

    fn answer(&self, request: &Request) -> Response {
        match &self.behaviour {
            EndpointBehaviour::Http(answer) => Response {
                status: answer.status,
                headers: answer.headers.clone(),
                body: answer.body.clone().into_bytes(),
                delay: answer.delay,
            },
            EndpointBehaviour::Pac { script } => {
                let path = request.path.split('?').next().unwrap_or_default();
                if request.method == "GET" && (path == "/wpad.dat" || path == "/proxy.pac") {
                    Response::new(200, "application/x-ns-proxy-autoconfig", script.clone())
                } else {
                    Response::new(404, "text/plain", "not found\n")
                }
            }
            EndpointBehaviour::Revocation => {
                Response::new(501, "text/plain", "revocation not available\n")
            }
            EndpointBehaviour::Echo => Response::new(200, "text/plain", request.body.clone()),
        }
    }
}

/// Serve an endpoint until the lab shuts down.
pub(crate) async fn serve(endpoint: Endpoint, serving: Serving) {
    let source = format!("endpoint:{}", endpoint.plan.name);
    loop {
        let accepted = tokio::select! {
            () = serving.shutdown.cancelled() => return,
            accepted = endpoint.listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(error) => {
                tracing::debug!(%error, endpoint = %endpoint.plan.name, "accept failed");
                continue;
            }
        };
        serving
            .timeline
            .record(&source, EventKind::Accepted { peer });
        let token = serving.shutdown.clone();
        let timeline = serving.timeline.clone();
        let (plan, responder, source) = (
            endpoint.plan.clone(),
            endpoint.responder.clone(),
            source.clone(),
        );
        serving.tasks.spawn(async move {
            let (counts, reason) = tokio::select! {
                () = token.cancelled() => (Counts::default(), "shutdown".to_owned()),
                done = connection(stream, &plan, &responder) => done,
            };
            timeline.record(
                &source,
                EventKind::Closed {
                    bytes_up: counts.up,
                    bytes_down: counts.down,
                    reason,
                },
            );
        });
    }
}

async fn connection(
    stream: TcpStream,
    plan: &EndpointPlan,
    responder: &Responder,
) -> (Counts, String) {
    let _ = stream.set_nodelay(true);
    behave(stream, plan, responder).await
}

/// Run the endpoint's behaviour on an established (plain or decrypted) stream.
pub(crate) async fn behave<S>(
    stream: S,
    plan: &EndpointPlan,
    responder: &Responder,
) -> (Counts, String)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    match plan.behaviour {
        EndpointBehaviour::Echo => echo(stream).await,
        _ => http::serve(stream, |request| responder.answer(request)).await,
    }
}

async fn echo<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S) -> (Counts, String) {
    let mut counts = Counts::default();
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        let n = match stream.read(&mut buffer).await {
            Ok(0) => return (counts, "client closed".to_owned()),
            Ok(n) => n,
            Err(error) => return (counts, format!("read failed: {error}")),
        };
        counts.up += n as u64;
        if let Err(error) = stream.write_all(&buffer[..n]).await {
            return (counts, format!("write failed: {error}"));
        }
        counts.down += n as u64;
    }
}
