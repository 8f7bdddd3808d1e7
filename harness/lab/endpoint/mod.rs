//! Endpoints: servers that answer for a set of host names on one port, plain or over TLS.

pub(crate) mod http;
pub(crate) mod tls;

use std::net::SocketAddr;
use std::sync::Arc;

use base64::Engine;
use egresslab_certs::Factory;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::live::GatedListener;
use tokio_rustls::LazyConfigAcceptor;

use self::http::{Counts, Exchange, Request, Response};
pub(crate) use self::tls::TlsSetup;
use super::capture::{self, Capture, Recorded, TakeOver};
use super::context::{ResetOnShutdown, Serving};
use super::exchange::Seen;
use super::plan::{EndpointBehaviour, EndpointPlan};
use super::timeline::{EventKind, Timeline};
use super::world::World;

/// Where an endpoint of a running lab can be reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointHandle {
    pub(crate) name: String,
    pub(crate) hosts: Vec<String>,
    pub(crate) port: u16,
    pub(crate) address: SocketAddr,
    pub(crate) listen_address: SocketAddr,
    /// A dual-stack endpoint's v6 side: where a direct v6 client connects, and its own listener.
    pub(crate) v6: Option<(SocketAddr, SocketAddr)>,
    pub(crate) certificate: Option<rustls_pki_types::CertificateDer<'static>>,
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

    /// For a dual-stack endpoint, where a direct v6 client connects (the v6 listener or what the
    /// firewall put in front of it); `None` when the endpoint answers in one family only, whose
    /// address is [`EndpointHandle::address`].
    pub fn address_v6(&self) -> Option<SocketAddr> {
        self.v6.map(|(client, _)| client)
    }

    /// For a dual-stack endpoint, its v6 listener, bypassing every firewall rule.
    pub fn listen_address_v6(&self) -> Option<SocketAddr> {
        self.v6.map(|(_, listener)| listener)
    }

    /// The leaf certificate the endpoint serves over TLS (`None` for a plain endpoint): what a client
    /// legitimately sees, read from the running lab rather than minted again.
    pub fn certificate(&self) -> Option<&rustls_pki_types::CertificateDer<'static>> {
        self.certificate.as_ref()
    }
}

/// A bound endpoint waiting to be served.
pub(crate) struct Endpoint {
    pub(crate) plan: Arc<EndpointPlan>,
    pub(crate) listener: GatedListener,
    pub(crate) responder: Arc<Responder>,
    pub(crate) tls: watch::Receiver<Option<TlsSetup>>,
}

/// Answers an endpoint's HTTP requests according to its behaviour.
pub(crate) struct Responder {
    behaviour: EndpointBehaviour,
    certs: Arc<Factory>,
}

impl Responder {
    /// A responder for a behaviour; the factory answers CRL and OCSP requests.
    pub(crate) fn new(behaviour: EndpointBehaviour, certs: Arc<Factory>) -> Responder {
        Responder { behaviour, certs }
    }

    /// A responder for a lab: a PAC script's `${proxy:NAME}` placeholders are replaced by the
    /// addresses `world` gives those proxies, so the served file names where they really listen.
    pub(crate) fn for_lab(
        behaviour: EndpointBehaviour,
        certs: Arc<Factory>,
        world: &World,
    ) -> Responder {
        let behaviour = match behaviour {
            EndpointBehaviour::Pac { script } => EndpointBehaviour::Pac {
                script: substitute_proxies(&script, |name| world.proxy_address(name)),
            },
            other => other,
        };
        Responder::new(behaviour, certs)
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
            EndpointBehaviour::Revocation => self.revocation(request),
            EndpointBehaviour::Echo => Response::new(200, "text/plain", request.body.clone()),
        }
    }
}

impl Responder {
    /// The CRL at the path of [`egresslab_certs::CRL_URL`], OCSP by POST or by GET of a base64 request.
    fn revocation(&self, request: &Request) -> Response {
        let path = request.path.split('?').next().unwrap_or_default();
        let crl_path = egresslab_certs::CRL_URL
            .splitn(4, '/')
            .nth(3)
            .map(|path| format!("/{path}"))
            .unwrap_or_default();
        let ocsp_request = match request.method.as_str() {
            "GET" | "HEAD" if path == crl_path => {
                return match self.certs.crl_der() {
                    Ok(crl) => Response::new(200, "application/pkix-crl", crl),
                    Err(error) => Response::new(500, "text/plain", format!("{error}\n")),
                };
            }
            "POST" => request.body.clone(),
            "GET" if path.len() > 1 => {
                let encoded = percent_decode(&path[1..]);
                match base64::engine::general_purpose::STANDARD.decode(encoded.trim()) {
                    Ok(der) => der,
                    Err(_) => {
                        return Response::new(400, "text/plain", "not a base64 OCSP request\n")
                    }
                }
            }
            _ => return Response::new(404, "text/plain", "not found\n"),
        };
        match self.certs.ocsp_response(&ocsp_request) {
            Ok(answer) => Response::new(200, "application/ocsp-response", answer),
            Err(error) => Response::new(400, "text/plain", format!("{error}\n")),
        }
    }
}

/// Replace every `${proxy:NAME}` in `script` with `address(NAME)` as `host:port`; a name without an
/// address is left as written (the PAC file then names no usable proxy, which a check reports).
pub(crate) fn substitute_proxies(
    script: &str,
    address: impl Fn(&str) -> Option<SocketAddr>,
) -> String {
    const OPEN: &str = "${proxy:";
    let mut out = String::with_capacity(script.len());
    let mut rest = script;
    while let Some(start) = rest.find(OPEN) {
        let after = &rest[start + OPEN.len()..];
        let Some(end) = after.find('}') else {
            break;
        };
        out.push_str(&rest[..start]);
        match address(&after[..end]) {
            Some(addr) => out.push_str(&addr.to_string()),
            None => out.push_str(&rest[start..start + OPEN.len() + end + 1]),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

/// Decode `%XX` escapes (OCSP GET requests escape `/`, `+` and `=`).
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let escaped = (bytes[index] == b'%')
            .then(|| text.get(index + 1..index + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) => {
                out.push(byte);
                index += 3;
            }
            None => {
                out.push(bytes[index]);
                index += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Serve an endpoint until the lab shuts down.
pub(crate) async fn serve(endpoint: Endpoint, serving: Serving) {
    let source = format!("endpoint:{}", endpoint.plan.name);
    let Endpoint {
        plan,
        mut listener,
        responder,
        tls,
    } = endpoint;
    while let Some(accepted) = listener.accept(&serving.shutdown).await {
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(error) => {
                tracing::debug!(%error, endpoint = %plan.name, "accept failed");
                continue;
            }
        };
        let local = stream.local_addr().unwrap_or(listener.gate().address);
        let id = serving.timeline.accepted(&source, peer, local);
        let gate = Arc::clone(listener.gate());
        let token = gate.session();
        let shutdown = serving.shutdown.clone();
        let timeline = serving.timeline.clone();
        let (plan, responder, source) = (plan.clone(), responder.clone(), source.clone());
        let tls = tls.borrow().clone().map(|mut tls| {
            tls.config = serving.capture.server_config(tls.config);
            tls
        });
        let tasks = serving.tasks.clone();
        serving.tasks.spawn(Timeline::in_connection(id, async move {
            let stream = ResetOnShutdown::new(gate.tap_accepted(stream).await, &shutdown);
            let serving = Serve {
                plan: &plan,
                responder: &responder,
                timeline: &timeline,
                source: &source,
                tasks: &tasks,
                capture: gate.capture(),
                shutdown: &shutdown,
            };
            let (counts, reason) = tokio::select! {
                () = shutdown.cancelled() => (Counts::default(), "shutdown".to_owned()),
                () = gate.turned_off(&token) => (Counts::default(), "endpoint turned off through the control API".to_owned()),
                done = connection(stream, serving, tls.as_ref()) => done,
            };
            timeline.record(
                &source,
                EventKind::Closed {
                    bytes_up: counts.up,
                    bytes_down: counts.down,
                    reason,
                },
            );
        }));
    }
}

/// What one endpoint connection is served with.
#[derive(Clone, Copy)]
struct Serve<'a> {
    plan: &'a Arc<EndpointPlan>,
    responder: &'a Arc<Responder>,
    timeline: &'a Timeline,
    source: &'a str,
    tasks: &'a TaskTracker,
    /// The lab's capture (the echo takes its connection over from the tap).
    capture: &'a Capture,
    /// The lab's shutdown.
    shutdown: &'a CancellationToken,
}

impl Serve<'_> {
    /// Run the behaviour on `stream`, its exchanges recorded under `scheme`.
    async fn behave<S>(self, stream: S, scheme: &'static str) -> (Counts, String)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let observer = Observer::new(self.timeline.clone(), self.source.to_owned(), scheme);
        behave(
            stream,
            Arc::clone(self.plan),
            Arc::clone(self.responder),
            observer,
            self.tasks.clone(),
        )
        .await
    }
}

async fn connection(
    stream: ResetOnShutdown,
    serve: Serve<'_>,
    tls: Option<&TlsSetup>,
) -> (Counts, String) {
    let (timeline, source) = (serve.timeline, serve.source);
    let _ = stream.set_nodelay(true);
    let Some(tls) = tls else {
        if matches!(serve.plan.behaviour, EndpointBehaviour::Echo) {
            // The bulk endpoint records what it echoes itself rather than through its tap's
            // loopback pair.
            match capture::take_over(serve.capture, &stream).await {
                TakeOver::Taken(taken) => {
                    return echo(Recorded::accepted(taken, serve.shutdown)).await
                }
                TakeOver::Gone => {
                    let reason = "connection lost while its capture was handed over";
                    return (Counts::default(), reason.to_owned());
                }
                TakeOver::NotTapped => {}
            }
        }
        return serve.behave(stream, "http").await;
    };
    let start = match LazyConfigAcceptor::new(rustls::server::Acceptor::default(), stream).await {
        Ok(start) => start,
        Err(error) => {
            let error = tls::failure(&error);
            timeline.record(
                source,
                EventKind::TlsFailed {
                    sni: None,
                    error: error.clone(),
                    served: None,
                },
            );
            return (Counts::default(), format!("no TLS handshake: {error}"));
        }
    };
    let sni = start.client_hello().server_name().map(str::to_owned);
    let stream = match start.into_stream(tls.config.clone()).await {
        Ok(stream) => stream,
        Err(error) => {
            let error = tls::failure(&error);
            timeline.record(
                source,
                EventKind::TlsFailed {
                    sni,
                    error: error.clone(),
                    served: Some(tls.served.clone()),
                },
            );
            return (Counts::default(), format!("TLS handshake failed: {error}"));
        }
    };
    let (_, connection) = stream.get_ref();
    let client_cert = connection
        .peer_certificates()
        .and_then(|chain| chain.first())
        .map(|leaf| tls::subject(leaf));
    timeline.record(
        source,
        EventKind::TlsHandshake {
            version: tls::version_name(connection),
            sni,
            served: tls.served.clone(),
            client_cert,
        },
    );
    serve.behave(stream, "https").await
}

/// Where an endpoint's HTTP exchanges are recorded, and the scheme its clients spoke.
pub(crate) struct Observer {
    timeline: Timeline,
    source: String,
    scheme: &'static str,
}

impl Observer {
    pub(crate) fn new(timeline: Timeline, source: String, scheme: &'static str) -> Self {
        Observer {
            timeline,
            source,
            scheme,
        }
    }

    /// Record one exchange as an `http` event (`pac` for the WPAD file).
    fn record(&self, exchange: &Exchange<'_>, plan: &EndpointPlan) {
        let request = exchange.request;
        let host = request
            .authority
            .clone()
            .or_else(|| plan.hosts.first().cloned())
            .unwrap_or_default();
        let pac = matches!(plan.behaviour, EndpointBehaviour::Pac { .. })
            && exchange.response.status == 200;
        let response = exchange.response;
        let mut response_headers = response.headers.clone();
        response_headers.push(("Content-Length".to_owned(), response.body.len().to_string()));
        let seen = Seen {
            role: if pac { "pac" } else { "endpoint" },
            method: &request.method,
            url: format!("{}://{host}{}", self.scheme, request.path),
            version: request.version,
            request_headers: &request.headers,
            request_body_bytes: request.body.len() as u64,
            status: response.status,
            response_headers,
            response_body_bytes: response.body.len() as u64,
            wait: exchange.wait,
            total: exchange.total,
        };
        self.timeline.record(&self.source, seen.event());
    }
}

/// Run the endpoint's behaviour on an established (plain or decrypted) stream; HTTP/2 streams
/// run on `tasks`.
pub(crate) async fn behave<S>(
    stream: S,
    plan: Arc<EndpointPlan>,
    responder: Arc<Responder>,
    observer: Observer,
    tasks: TaskTracker,
) -> (Counts, String)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    match plan.behaviour {
        EndpointBehaviour::Echo => echo(stream).await,
        _ => {
            let answering = Answering {
                plan,
                responder,
                observer,
            };
            http::serve(stream, Arc::new(answering), tasks).await
        }
    }
}

/// An endpoint's HTTP behaviour, shared by every stream of a connection.
struct Answering {
    plan: Arc<EndpointPlan>,
    responder: Arc<Responder>,
    observer: Observer,
}

impl http::Handler for Answering {
    fn answer(&self, request: &Request) -> Response {
        self.responder.answer(request)
    }

    fn observe(&self, exchange: Exchange<'_>) {
        self.observer.record(&exchange, &self.plan);
    }
}

/// The echo's first read buffer, and the most it grows to for bulk.
const ECHO_FIRST: usize = 1024;
const ECHO_ROOM: usize = 16 * 1024;

async fn echo<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S) -> (Counts, String) {
    let mut counts = Counts::default();
    // Never zeroed (only what is read touches its pages); small while the exchange is small, so
    // a quiet connection holds little, and grown once a read fills it.
    let mut buffer: Vec<u8> = Vec::with_capacity(ECHO_FIRST);
    loop {
        buffer.clear();
        let n = match stream.read_buf(&mut buffer).await {
            Ok(0) => return (counts, "client closed".to_owned()),
            Ok(n) => n,
            Err(error) => return (counts, format!("read failed: {error}")),
        };
        counts.up += n as u64;
        if let Err(error) = stream.write_all(&buffer[..n]).await {
            return (counts, format!("write failed: {error}"));
        }
        counts.down += n as u64;
        if n == buffer.capacity() && n < ECHO_ROOM {
            buffer.reserve(ECHO_ROOM - n);
        } else if buffer.capacity() > ECHO_FIRST {
            buffer = Vec::with_capacity(ECHO_FIRST);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pac_placeholders_become_proxy_addresses() {
        let address =
            |name: &str| (name == "corp").then(|| SocketAddr::from(([127, 0, 0, 1], 3128)));
        let script = "return \"PROXY ${proxy:corp}; PROXY ${proxy:gone}; DIRECT\";";
        assert_eq!(
            substitute_proxies(script, address),
            "return \"PROXY 127.0.0.1:3128; PROXY ${proxy:gone}; DIRECT\";"
        );
        assert_eq!(
            substitute_proxies("no ${proxy:corp", address),
            "no ${proxy:corp"
        );
        assert_eq!(substitute_proxies("DIRECT", address), "DIRECT");
    }
}
