//! A minimal HTTP/1.1 server for endpoints: one request at a time, keep-alive, bounded heads and bodies.

use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::lab::status::reason_phrase;

/// Largest request head accepted.
const MAX_HEAD: usize = 16 * 1024;
/// Largest request body accepted (OCSP requests are a few hundred bytes).
const MAX_BODY: usize = 1024 * 1024;

/// A parsed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Request {
    pub(crate) method: String,
    pub(crate) path: String,
    /// The minor version: 1 for HTTP/1.1, 0 for HTTP/1.0.
    pub(crate) minor: u8,
    /// Header fields in order, as sent.
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
    /// The client asked to close after this request (or spoke HTTP/1.0 without keep-alive).
    pub(crate) close: bool,
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

/// Why reading a request stopped.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// The client closed between requests.
    Closed,
    /// The request was malformed or too large; answer 400/431/413 and close.
    Bad(u16, &'static str),
    /// The connection failed.
    Io(std::io::Error),
}

/// Byte counts of one connection.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Counts {
    pub(crate) up: u64,
    pub(crate) down: u64,
}

/// Serve requests on `stream` with `answer` until the client closes or asks to, telling `observe`
/// of each exchange; returns the byte counts and the close reason.
pub(crate) async fn serve<S, F, O>(mut stream: S, mut answer: F, mut observe: O) -> (Counts, String)
where
    S: AsyncRead + AsyncWrite + Unpin,
    F: FnMut(&Request) -> Response,
    O: FnMut(Exchange<'_>),
{
    let mut counts = Counts::default();
    let mut buffer = Vec::new();
    loop {
        let request = match read_request(&mut stream, &mut buffer, &mut counts).await {
            Ok(request) => request,
            Err(ReadError::Closed) => return (counts, "client closed".to_owned()),
            Err(ReadError::Io(error)) => return (counts, format!("read failed: {error}")),
            Err(ReadError::Bad(status, why)) => {
                let mut response = Response::new(status, "text/plain", format!("{why}\n"));
                response.headers.push(("Connection".into(), "close".into()));
                let _ = write_response(&mut stream, &response, false, &mut counts).await;
                return (counts, format!("bad request: {why}"));
            }
        };
        let received = Instant::now();
        let response = answer(&request);
        if !response.delay.is_zero() {
            tokio::time::sleep(response.delay).await;
        }
        let wait = received.elapsed();
        let head_only = request.method.eq_ignore_ascii_case("HEAD");
        let written = write_response(&mut stream, &response, head_only, &mut counts).await;
        observe(Exchange {
            request: &request,
            response: &response,
            wait,
            total: received.elapsed(),
        });
        if let Err(error) = written {
            return (counts, format!("write failed: {error}"));
        }
        if request.close {
            let _ = stream.shutdown().await;
            return (counts, "closed after answer (Connection: close)".to_owned());
        }
    }
}

async fn read_request<S: AsyncRead + Unpin>(
    stream: &mut S,
    buffer: &mut Vec<u8>,
    counts: &mut Counts,
) -> Result<Request, ReadError> {
    let mut chunk = [0u8; 4096];
    let (head_len, mut request, body_len) = loop {
        if let Some(parsed) = parse_head(buffer)? {
            break parsed;
        }
        if buffer.len() > MAX_HEAD {
            return Err(ReadError::Bad(431, "request header fields too large"));
        }
        let n = stream.read(&mut chunk).await.map_err(ReadError::Io)?;
        if n == 0 {
            return if buffer.is_empty() {
                Err(ReadError::Closed)
            } else {
                Err(ReadError::Bad(400, "request ended early"))
            };
        }
        counts.up += n as u64;
        buffer.extend_from_slice(&chunk[..n]);
    };
    buffer.drain(..head_len);
    while buffer.len() < body_len {
        let n = stream.read(&mut chunk).await.map_err(ReadError::Io)?;
        if n == 0 {
            return Err(ReadError::Bad(400, "body ended early"));
        }
        counts.up += n as u64;
        buffer.extend_from_slice(&chunk[..n]);
    }
    request.body = buffer.drain(..body_len).collect();
    Ok(request)
}

/// Parse a complete head: its length, the request, and the body length it announces.
fn parse_head(buffer: &[u8]) -> Result<Option<(usize, Request, usize)>, ReadError> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut parsed = httparse::Request::new(&mut headers);
    let head_len = match parsed.parse(buffer) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(ReadError::Bad(431, "too many header fields"))
        }
        Err(_) => return Err(ReadError::Bad(400, "malformed request")),
    };
    let header = |name: &str| {
        parsed
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| String::from_utf8_lossy(h.value).trim().to_ascii_lowercase())
    };
    if header("transfer-encoding").is_some() {
        return Err(ReadError::Bad(
            501,
            "chunked request bodies are not supported",
        ));
    }
    let body_len = match header("content-length") {
        Some(value) => value
            .parse::<usize>()
            .map_err(|_| ReadError::Bad(400, "invalid Content-Length"))?,
        None => 0,
    };
    if body_len > MAX_BODY {
        return Err(ReadError::Bad(413, "request body too large"));
    }
    let connection = header("connection").unwrap_or_default();
    let http10 = parsed.version == Some(0);
    let close = connection.contains("close") || (http10 && !connection.contains("keep-alive"));
    let request = Request {
        method: parsed.method.unwrap_or_default().to_owned(),
        path: parsed.path.unwrap_or_default().to_owned(),
        minor: parsed.version.unwrap_or(1),
        headers: parsed
            .headers
            .iter()
            .map(|h| {
                let value = String::from_utf8_lossy(h.value).into_owned();
                (h.name.to_owned(), value)
            })
            .collect(),
        body: Vec::new(),
        close,
    };
    Ok(Some((head_len, request, body_len)))
}

async fn write_response<S: AsyncWrite + Unpin>(
    stream: &mut S,
    response: &Response,
    head_only: bool,
    counts: &mut Counts,
) -> std::io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {} {}\r\n",
        response.status,
        reason_phrase(response.status)
    );
    for (name, value) in &response.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", response.body.len()));
    let mut bytes = head.into_bytes();
    if !head_only {
        bytes.extend_from_slice(&response.body);
    }
    stream.write_all(&bytes).await?;
    stream.flush().await?;
    counts.down += bytes.len() as u64;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn keep_alive_then_close() {
        let (client, server) = tokio::io::duplex(64 * 1024);
        let task = tokio::spawn(serve(
            server,
            |request: &Request| {
                Response::new(
                    200,
                    "text/plain",
                    format!("{} {}", request.method, request.path),
                )
            },
            |_: Exchange<'_>| {},
        ));
        let (mut read, mut write) = tokio::io::split(client);
        write
            .write_all(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nPOST /b HTTP/1.1\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc")
            .await
            .unwrap();
        let mut all = String::new();
        read.read_to_string(&mut all).await.unwrap();
        assert!(all.contains("GET /a"), "{all}");
        assert!(all.ends_with("POST /b"), "{all}");
        assert_eq!(all.matches("HTTP/1.1 200 OK").count(), 2);
        let (_, reason) = task.await.unwrap();
        assert!(reason.contains("Connection: close"), "{reason}");
    }

    #[tokio::test]
    async fn oversized_head_is_refused() {
        let (client, server) = tokio::io::duplex(256 * 1024);
        let task = tokio::spawn(serve(
            server,
            |_: &Request| Response::new(200, "text/plain", ""),
            |_: Exchange<'_>| {},
        ));
        let (mut read, mut write) = tokio::io::split(client);
        let mut request = b"GET / HTTP/1.1\r\nX: ".to_vec();
        request.extend(vec![b'a'; 20 * 1024]);
        write.write_all(&request).await.unwrap();
        let mut all = String::new();
        read.read_to_string(&mut all).await.unwrap();
        assert!(all.starts_with("HTTP/1.1 431"), "{all}");
        task.await.unwrap();
    }
}
