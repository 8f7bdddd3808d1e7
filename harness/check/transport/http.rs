//! Plain HTTP/1.1 on any stream: one GET and a bounded read of the response head.

use std::time::Duration;

use tokio::io::AsyncRead;

use super::tcp::BoxIo;

/// Send a plain HTTP/1.1 GET over `io` and read the status line and headers (bounded in size and time).
pub async fn http_get(
    io: &mut BoxIo,
    host: &str,
    path: &str,
    timeout: Duration,
) -> Result<HttpHead, String> {
    use tokio::io::AsyncWriteExt;
    let req = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: egresslab-check\r\nAccept: */*\r\nConnection: close\r\n\r\n");
    let fut = async {
        io.write_all(req.as_bytes())
            .await
            .map_err(|e| format!("write failed: {e}"))?;
        io.flush().await.map_err(|e| format!("write failed: {e}"))?;
        read_head(io).await
    };
    match tokio::time::timeout(timeout, fut).await {
        Err(_) => Err(format!("{NO_ANSWER} {timeout:?}")),
        Ok(r) => r,
    }
}

/// How [`http_get`]'s error starts when nothing came back in time (the connection stayed open).
pub const NO_ANSWER: &str = "no answer within";

/// A parsed HTTP response head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpHead {
    /// Status code.
    pub status: u16,
    /// Reason phrase.
    pub reason: String,
    /// Headers in order (name, value).
    pub headers: Vec<(String, String)>,
    /// Body bytes that arrived with the head.
    pub rest: Vec<u8>,
}

impl HttpHead {
    /// Every value of a header (case-insensitive name).
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// Why a response head could not be read.
pub const NOT_HTTP: &str = "not an HTTP response";

/// Read one response head. Err("closed ...") on EOF before a head, Err(NOT_HTTP ...) on foreign bytes.
pub async fn read_head<R: AsyncRead + Unpin + ?Sized>(io: &mut R) -> Result<HttpHead, String> {
    use tokio::io::AsyncReadExt;
    let mut buf: Vec<u8> = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    // Bounded: a head larger than 64 KiB is refused.
    while buf.len() < 64 * 1024 {
        let n = io
            .read(&mut chunk)
            .await
            .map_err(|e| format!("read failed: {e}"))?;
        if n == 0 {
            return Err(if buf.is_empty() {
                "closed without answering".into()
            } else {
                format!("closed mid-answer after {} bytes", buf.len())
            });
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.len() >= 5 && !buf.starts_with(b"HTTP/") {
            return Err(format!(
                "{NOT_HTTP}: {:?}",
                String::from_utf8_lossy(&buf[..buf.len().min(40)])
            ));
        }
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut resp = httparse::Response::new(&mut headers);
        match resp.parse(&buf) {
            Ok(httparse::Status::Complete(len)) => {
                return Ok(HttpHead {
                    status: resp.code.unwrap_or(0),
                    reason: resp.reason.unwrap_or("").to_string(),
                    headers: resp
                        .headers
                        .iter()
                        .map(|h| {
                            (
                                h.name.to_string(),
                                String::from_utf8_lossy(h.value).into_owned(),
                            )
                        })
                        .collect(),
                    rest: buf[len..].to_vec(),
                })
            }
            Ok(httparse::Status::Partial) => continue,
            Err(e) => return Err(format!("{NOT_HTTP}: {e}")),
        }
    }
    Err(format!("{NOT_HTTP}: head larger than 64 KiB"))
}

/// How much of a response body arrived, and how long that took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyRead {
    /// Body bytes received (those that came with the head included).
    pub bytes: u64,
    /// What `Content-Length` announced.
    pub announced: u64,
    /// From the request to the last byte read.
    pub elapsed: Duration,
}

/// The `Content-Length` of `head`, if it announces one.
pub fn content_length(head: &HttpHead) -> Option<u64> {
    head.all("content-length")
        .first()
        .and_then(|v| v.trim().parse().ok())
}

/// Read the rest of the body `head` announces, at most `limit` bytes in all, until it ends or
/// `budget` since `sent` (when the request went out) is spent; a slow body is measured, not waited
/// for.
pub async fn read_body(
    io: &mut BoxIo,
    head: &HttpHead,
    limit: u64,
    sent: std::time::Instant,
    budget: Duration,
) -> BodyRead {
    use tokio::io::AsyncReadExt;
    let announced = content_length(head).unwrap_or(0);
    let wanted = announced.min(limit);
    let mut bytes = head.rest.len() as u64;
    let mut chunk = [0u8; 8192];
    let deadline = tokio::time::Instant::from_std(sent + budget);
    while bytes < wanted {
        match tokio::time::timeout_at(deadline, io.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => bytes += n as u64,
            _ => break,
        }
    }
    BodyRead {
        bytes,
        announced,
        elapsed: sent.elapsed(),
    }
}
