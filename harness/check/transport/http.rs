//! A proxy's answer to CONNECT: a bounded read of the response head.
//!
//! Hand-written over httparse on purpose. After a `200` the same stream becomes the tunnel, which
//! hyper's client would only hand back through an upgrade meant for `CONNECT` requests it sent
//! itself, not for the NTLM and Digest rounds the checks play on the kept connection first; and the
//! checks read Squid's error page (its `ERR_*` code and system message) byte for byte, bytes that
//! came with the head included. Requests to origins and endpoints go through hyper's client
//! instead ([`super::exchange`]).

use tokio::io::AsyncRead;

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
        header_values(&self.headers, name)
    }
}

/// Every value of the header `name` (case-insensitive) among `headers`, in order.
pub fn header_values<'a>(headers: &'a [(String, String)], name: &str) -> Vec<&'a str> {
    headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
        .collect()
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

/// The `Content-Length` that `headers` announce, if any.
pub fn content_length(headers: &[(String, String)]) -> Option<u64> {
    header_values(headers, "content-length")
        .first()
        .and_then(|v| v.trim().parse().ok())
}
