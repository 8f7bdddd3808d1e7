//! The endpoints' HTTP server: hyper, HTTP/1.1 or HTTP/2 as the client chooses (by ALPN over TLS,
//! by the h2 preface in the clear), keep-alive, bounded heads and bodies.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_util::task::TaskTracker;

/// Largest request head accepted (hyper answers 431 beyond it).
const MAX_HEAD: usize = 16 * 1024;
/// Largest request body accepted (OCSP requests are a few hundred bytes).
const MAX_BODY: usize = 1024 * 1024;

/// A request as the endpoint's behaviour sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Request {
    pub(crate) method: String,
    /// Path and query.
    pub(crate) path: String,
    /// `HTTP/1.0`, `HTTP/1.1` or `HTTP/2`.
    pub(crate) version: &'static str,
    /// The authority of the request (`Host`, or h2's `:authority`).
    pub(crate) authority: Option<String>,
    /// Header fields in order (names in lower case, as hyper gives them).
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

/// One request and the answer it got, with its timings, for the timeline.
#[derive(Debug)]
pub(crate) struct Exchange<'a> {
    pub(crate) request: &'a Request,
    pub(crate) response: &'a Response,
    /// From the complete request to the start of the answer.
    pub(crate) wait: Duration,
    /// From the complete request to the end of the answer.
    pub(crate) total: Duration,
}

/// An answer to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
    pub(crate) delay: Duration,
}

impl Response {
    /// A response with one content type.
    pub(crate) fn new(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Response {
        Response {
            status,
            headers: vec![("Content-Type".to_owned(), content_type.to_owned())],
            body: body.into(),
            delay: Duration::ZERO,
        }
    }
}

/// Byte counts of one connection.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Counts {
    pub(crate) up: u64,
    pub(crate) down: u64,
}

/// What answers and records each request; shared by every stream of an h2 connection.
pub(crate) trait Handler: Send + Sync + 'static {
    /// The answer to `request`.
    fn answer(&self, request: &Request) -> Response;
    /// Record one exchange.
    fn observe(&self, exchange: Exchange<'_>);
}

/// Runs hyper's HTTP/2 stream tasks on the lab's task tracker, so shutdown waits for them.
#[derive(Clone)]
struct Tracked(TaskTracker);

impl<F> hyper::rt::Executor<F> for Tracked
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn execute(&self, future: F) {
        self.0.spawn(future);
    }
}

/// Serve requests on `stream` with `handler` until the client closes (HTTP/2 streams run on
/// `tasks`); returns the byte counts and the close reason.
pub(crate) async fn serve<S, H>(stream: S, handler: Arc<H>, tasks: TaskTracker) -> (Counts, String)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    H: Handler,
{
    let counted = Counted::new(stream);
    let counts = Arc::clone(&counted.counts);
    let service = hyper::service::service_fn(move |request| {
        let handler = Arc::clone(&handler);
        async move { Ok::<_, std::convert::Infallible>(exchange(&*handler, request).await) }
    });
    let mut builder = auto::Builder::new(Tracked(tasks));
    builder
        .http1()
        .title_case_headers(true)
        .max_buf_size(MAX_HEAD);
    let served = builder
        .serve_connection(TokioIo::new(counted), service)
        .await;
    let counts = Counts {
        up: counts.0.load(Ordering::Relaxed),
        down: counts.1.load(Ordering::Relaxed),
    };
    match served {
        Ok(()) => (counts, "client closed".to_owned()),
        Err(error) => (counts, format!("connection ended: {error}")),
    }
}

/// Answer one request: its body read (bounded), the behaviour asked, the delay kept.
async fn exchange<H: Handler>(
    handler: &H,
    request: hyper::Request<Incoming>,
) -> hyper::Response<Full<Bytes>> {
    let (parts, body) = request.into_parts();
    let body = match Limited::new(body, MAX_BODY).collect().await {
        Ok(collected) => collected.to_bytes().to_vec(),
        Err(_) => return plain(413, "request body too large\n"),
    };
    let version = match parts.version {
        hyper::Version::HTTP_10 => "HTTP/1.0",
        hyper::Version::HTTP_2 => "HTTP/2",
        _ => "HTTP/1.1",
    };
    let headers = parts
        .headers
        .iter()
        .map(|(name, value)| {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            (name.as_str().to_owned(), value)
        })
        .collect();
    let authority = parts
        .headers
        .get(hyper::header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| parts.uri.authority().map(|a| a.to_string()));
    let request = Request {
        method: parts.method.as_str().to_owned(),
        path: parts
            .uri
            .path_and_query()
            .map_or_else(|| "/".to_owned(), |p| p.as_str().to_owned()),
        version,
        authority,
        headers,
        body,
    };
    let received = Instant::now();
    let response = handler.answer(&request);
    if !response.delay.is_zero() {
        tokio::time::sleep(response.delay).await;
    }
    let wait = received.elapsed();
    let built = build(&response);
    handler.observe(Exchange {
        request: &request,
        response: &response,
        wait,
        total: received.elapsed(),
    });
    built
}

/// The hyper response for an answer; fields hyper cannot carry are left out.
fn build(response: &Response) -> hyper::Response<Full<Bytes>> {
    let mut built = hyper::Response::new(Full::new(Bytes::from(response.body.clone())));
    *built.status_mut() =
        hyper::StatusCode::from_u16(response.status).unwrap_or(hyper::StatusCode::OK);
    let headers = built.headers_mut();
    for (name, value) in &response.headers {
        let name = hyper::header::HeaderName::from_bytes(name.as_bytes());
        let value = hyper::header::HeaderValue::from_str(value);
        if let (Ok(name), Ok(value)) = (name, value) {
            headers.append(name, value);
        }
    }
    built
}

fn plain(status: u16, text: &'static str) -> hyper::Response<Full<Bytes>> {
    build(&Response::new(status, "text/plain", text))
}

/// A stream that counts the bytes read and written through it.
struct Counted<S> {
    inner: S,
    counts: Arc<(AtomicU64, AtomicU64)>,
}

impl<S> Counted<S> {
    fn new(inner: S) -> Self {
        Counted {
            inner,
            counts: Arc::new((AtomicU64::new(0), AtomicU64::new(0))),
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Counted<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        let read = buf.filled().len() - before;
        self.counts.0.fetch_add(read as u64, Ordering::Relaxed);
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Counted<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = &polled {
            self.counts.1.fetch_add(*n as u64, Ordering::Relaxed);
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = &polled {
            self.counts.1.fetch_add(*n as u64, Ordering::Relaxed);
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    struct Echoing;

    impl Handler for Echoing {
        fn answer(&self, request: &Request) -> Response {
            let text = format!("{} {} {}", request.method, request.path, request.body.len());
            Response::new(200, "text/plain", text)
        }

        fn observe(&self, _: Exchange<'_>) {}
    }

    async fn answers(request: &[u8]) -> (String, String) {
        let (client, server) = tokio::io::duplex(256 * 1024);
        let task = tokio::spawn(serve(server, Arc::new(Echoing), TaskTracker::new()));
        let (mut read, mut write) = tokio::io::split(client);
        write.write_all(request).await.unwrap();
        let mut all = String::new();
        read.read_to_string(&mut all).await.unwrap();
        let (_, reason) = task.await.unwrap();
        (all, reason)
    }

    #[tokio::test]
    async fn keep_alive_chunked_bodies_then_close() {
        let (all, _) = answers(
            b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n\
              POST /b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n\
              POST /c HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\nde",
        )
        .await;
        assert!(all.contains("GET /a 0"), "{all}");
        assert!(all.contains("POST /b 3"), "{all}");
        assert!(all.ends_with("POST /c 2"), "{all}");
        assert_eq!(all.matches("HTTP/1.1 200 OK").count(), 3, "{all}");
        assert!(all.contains("Content-Type: text/plain"), "{all}");
    }

    #[tokio::test]
    async fn oversized_head_is_refused() {
        let mut request = b"GET / HTTP/1.1\r\nX: ".to_vec();
        request.extend(vec![b'a'; 20 * 1024]);
        let (all, _) = answers(&request).await;
        assert!(all.starts_with("HTTP/1.1 431"), "{all}");
    }
}
