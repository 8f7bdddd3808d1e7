//! Raw HTTP/1 on a kept-alive connection, for the keep-alive differential: a small origin that
//! answers each request on its connection, and a client that reads answers by their framing and
//! notes whether the proxy closed the connection afterwards.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One answer as the client saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// Status code.
    pub status: u16,
    /// The `Connection` field, lower case (empty when absent).
    pub connection: String,
    /// `length`, `chunked` or `close`: how the body was delimited.
    pub framing: &'static str,
    /// The body, decoded.
    pub body: String,
}

/// What a sequence of requests on one connection gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sequence {
    /// The answers, in order (fewer than the requests when the connection ended early).
    pub answers: Vec<Answer>,
    /// Whether the proxy closed the connection after the last answer.
    pub closed: bool,
}

/// An origin on loopback: `/close` answers with a close-delimited body and closes; any other path
/// answers `hello <path>` with a `Content-Length` and keeps the connection. Request bodies
/// (`Content-Length` or chunked) are read and their length echoed in `X-Body-Bytes`.
pub async fn origin() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(serve(stream));
        }
    });
    address
}

async fn serve(mut stream: TcpStream) {
    let mut buf = Vec::new();
    // Bounded: each round needs a new request from the proxy.
    for _ in 0..100 {
        let Some((head, used)) = head(&mut stream, &mut buf).await else {
            return;
        };
        buf.drain(..used);
        let lower = head.to_ascii_lowercase();
        let body = if lower.contains("transfer-encoding: chunked") {
            read_chunked(&mut stream, &mut buf).await
        } else if let Some(n) = field(&lower, "content-length").and_then(|v| v.parse().ok()) {
            read_exact(&mut stream, &mut buf, n).await
        } else {
            Some(Vec::new())
        };
        let Some(body) = body else { return };
        let path = head.split(' ').nth(1).unwrap_or("/").to_owned();
        let head_only = head.starts_with("HEAD ");
        if path == "/close" {
            let answer = format!(
                "HTTP/1.1 200 OK\r\nX-Body-Bytes: {}\r\nConnection: close\r\n\r\nbye",
                body.len()
            );
            let _ = stream.write_all(answer.as_bytes()).await;
            return;
        }
        let text = format!("hello {path}, {} body bytes", body.len());
        let answer = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Body-Bytes: {}\r\nContent-Length: {}\r\n\r\n{}",
            body.len(),
            text.len(),
            if head_only { "" } else { &text }
        );
        if stream.write_all(answer.as_bytes()).await.is_err() {
            return;
        }
    }
}

/// A field's value in a lower-cased head.
fn field<'a>(lower: &'a str, name: &str) -> Option<&'a str> {
    lower.lines().find_map(|line| {
        let (n, v) = line.split_once(':')?;
        (n.trim() == name).then(|| v.trim())
    })
}

/// Read a head (to the empty line): the head as text and the bytes it used.
async fn head(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Option<(String, usize)> {
    loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            return Some((String::from_utf8_lossy(&buf[..at]).into_owned(), at + 4));
        }
        if buf.len() > 65536 || !fill(stream, buf).await {
            return None;
        }
    }
}

async fn fill(stream: &mut TcpStream, buf: &mut Vec<u8>) -> bool {
    let mut chunk = [0u8; 8192];
    match tokio::time::timeout(Duration::from_secs(10), stream.read(&mut chunk)).await {
        Ok(Ok(n)) if n > 0 => {
            buf.extend_from_slice(&chunk[..n]);
            true
        }
        _ => false,
    }
}

async fn read_exact(stream: &mut TcpStream, buf: &mut Vec<u8>, n: usize) -> Option<Vec<u8>> {
    while buf.len() < n {
        if !fill(stream, buf).await {
            return None;
        }
    }
    Some(buf.drain(..n).collect())
}

async fn read_chunked(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let size = loop {
            match httparse::parse_chunk_size(buf) {
                Ok(httparse::Status::Complete((used, size))) => {
                    buf.drain(..used);
                    break size as usize;
                }
                Ok(httparse::Status::Partial) => {
                    if !fill(stream, buf).await {
                        return None;
                    }
                }
                Err(_) => return None,
            }
        };
        if size == 0 {
            // No trailers in these tests: the empty line follows.
            read_exact(stream, buf, 2).await?;
            return Some(body);
        }
        body.extend(read_exact(stream, buf, size).await?);
        read_exact(stream, buf, 2).await?;
    }
}

/// Send `requests` on one connection to `proxy`, each once the previous answer came (all at once
/// when `pipelined`), and read the answers.
pub async fn sequence(proxy: SocketAddr, requests: &[String], pipelined: bool) -> Sequence {
    let mut stream = TcpStream::connect(proxy).await.unwrap();
    let mut buf = Vec::new();
    let mut answers = Vec::new();
    if pipelined {
        stream
            .write_all(requests.concat().as_bytes())
            .await
            .unwrap();
    }
    for request in requests {
        if !pipelined && stream.write_all(request.as_bytes()).await.is_err() {
            return Sequence {
                answers,
                closed: true,
            };
        }
        let head_request = request.starts_with("HEAD ");
        match answer(&mut stream, &mut buf, head_request).await {
            Some((answer, eof)) => {
                let close_delimited = answer.framing == "close";
                answers.push(answer);
                if eof || close_delimited {
                    return Sequence {
                        answers,
                        closed: true,
                    };
                }
            }
            None => {
                return Sequence {
                    answers,
                    closed: true,
                }
            }
        }
    }
    // Still open? A close comes at once after the answer; silence for a second means open.
    let closed = buf.is_empty()
        && matches!(
            tokio::time::timeout(Duration::from_secs(1), stream.read(&mut [0u8; 1])).await,
            Ok(Ok(0)) | Ok(Err(_))
        );
    Sequence { answers, closed }
}

/// Read one answer: the answer and whether the connection ended with it.
async fn answer(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    head_request: bool,
) -> Option<(Answer, bool)> {
    let (head, used) = head(stream, buf).await?;
    buf.drain(..used);
    let lower = head.to_ascii_lowercase();
    let status = head.split(' ').nth(1)?.parse().ok()?;
    let connection = field(&lower, "connection").unwrap_or("").to_owned();
    let (framing, body, eof) = if head_request || status == 204 || status == 304 {
        ("length", Vec::new(), false)
    } else if lower.contains("transfer-encoding: chunked") {
        ("chunked", read_chunked(stream, buf).await?, false)
    } else if let Some(n) = field(&lower, "content-length").and_then(|v| v.parse().ok()) {
        ("length", read_exact(stream, buf, n).await?, false)
    } else {
        // Close-delimited: read to the end.
        while fill(stream, buf).await {}
        ("close", std::mem::take(buf), true)
    };
    Some((
        Answer {
            status,
            connection,
            framing,
            body: String::from_utf8_lossy(&body).into_owned(),
        },
        eof,
    ))
}
