//! The hop between client and proxy for a forwarded request: which fields belong to it, whether
//! the client keeps its connection (as Squid 5.7 reads `Connection`/`Proxy-Connection`), and the
//! origin's answer written to the client, re-framed the way Squid frames it.

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use tokio::io::{AsyncWrite, AsyncWriteExt};

use crate::lab::plan::Personality;

use super::answers::http_date;
use super::request::Request;
use super::Proxy;

/// Header fields that concern only one hop (RFC 9110 §7.6.1), never passed on either way.
pub(super) const HOP_BY_HOP: [&str; 9] = [
    "proxy-authorization",
    "proxy-connection",
    "connection",
    "keep-alive",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "proxy-authenticate",
];

/// The lower-case tokens of every `Connection` and `Proxy-Connection` field.
pub(super) fn connection_tokens(headers: &[(String, String)]) -> Vec<String> {
    headers
        .iter()
        .filter(|(name, _)| {
            name.eq_ignore_ascii_case("connection") || name.eq_ignore_ascii_case("proxy-connection")
        })
        .flat_map(|(_, value)| value.split(','))
        .map(|token| token.trim().to_ascii_lowercase())
        .filter(|token| !token.is_empty())
        .collect()
}

/// Whether the client asked to keep its connection, as Squid reads it: HTTP/1.1 unless a
/// `Connection` or `Proxy-Connection` says `close`; HTTP/1.0 only when one says `keep-alive`.
pub(crate) fn client_keeps(request: &Request) -> bool {
    let tokens = connection_tokens(&request.headers);
    let close = tokens.iter().any(|t| t == "close");
    let keep = tokens.iter().any(|t| t == "keep-alive");
    !close && (request.minor >= 1 || keep)
}

/// How the answer's body is delimited towards the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framed {
    /// No body (HEAD, 1xx, 204, 304).
    Empty,
    /// The origin's `Content-Length`, passed on.
    Length,
    /// Re-chunked for an HTTP/1.1 client, as Squid does with a close-delimited origin answer.
    Chunked,
    /// Delimited by the close, for an HTTP/1.0 client.
    Close,
}

/// Writing one answer to the client.
pub(super) struct Relay<'a, C> {
    pub(super) proxy: &'a Proxy,
    pub(super) request: &'a Request,
    pub(super) client: &'a mut C,
    /// The connection's last request: answered with `Connection: close`.
    pub(super) last: bool,
    /// Bytes from the client (the request body).
    pub(super) up: u64,
    /// Bytes written to the client.
    pub(super) down: u64,
}

/// Status, the header fields sent, body bytes, whether the connection stays, and a reason.
pub(super) type Answered = (u16, Vec<(String, String)>, u64, bool, String);

impl<C: AsyncWrite + Unpin> Relay<'_, C> {
    /// Write the head and stream the body, re-framed for the client.
    pub(super) async fn answer(&mut self, answer: hyper::Response<Incoming>) -> Answered {
        let status = answer.status().as_u16();
        let framed = self.framing(&answer);
        let keep = client_keeps(self.request) && framed != Framed::Close && !self.last;
        let (head, fields) = self.head(&answer, framed, keep);
        let mut body = answer.into_body();
        let mut body_down = 0;
        if let Err(error) = self.write(head.as_bytes()).await {
            return (status, fields, 0, false, format!("client error: {error}"));
        }
        let mut end = None;
        // Bounded by the origin's body, which ends or fails; shutdown cuts it from outside.
        while let Some(frame) = body.frame().await {
            let data = match frame {
                Ok(frame) => match frame.into_data() {
                    Ok(data) => data,
                    Err(_) => continue,
                },
                Err(error) => {
                    end = Some(format!("origin failed mid-answer: {error}"));
                    break;
                }
            };
            body_down += data.len() as u64;
            if let Err(error) = self.write_piece(framed, data).await {
                end = Some(format!("client error: {error}"));
                break;
            }
        }
        if end.is_none() && framed == Framed::Chunked {
            if let Err(error) = self.write(b"0\r\n\r\n").await {
                end = Some(format!("client error: {error}"));
            }
        }
        if end.is_none() {
            if let Err(error) = self.client.flush().await {
                end = Some(format!("client error: {error}"));
            }
        }
        let (keep, reason) = match end {
            Some(reason) => (false, reason),
            None if keep => (true, "kept alive".to_owned()),
            None if framed == Framed::Close => (false, "answer delimited by the close".to_owned()),
            None => (false, "the client asked to close".to_owned()),
        };
        (status, fields, body_down, keep, reason)
    }

    fn framing(&self, answer: &hyper::Response<Incoming>) -> Framed {
        let status = answer.status().as_u16();
        let head = self.request.method.eq_ignore_ascii_case("HEAD");
        if head || (100..200).contains(&status) || status == 204 || status == 304 {
            Framed::Empty
        } else if answer.headers().contains_key(hyper::header::CONTENT_LENGTH) {
            Framed::Length
        } else if self.request.minor >= 1 {
            Framed::Chunked
        } else {
            Framed::Close
        }
    }

    /// The answer's head as Squid 5.7 writes it: the origin's fields without hop-by-hop ones, a
    /// `Date` when the origin sent none, Squid's `X-Cache` pair, the framing, `Via` and
    /// `Connection`. Also the fields, for the timeline.
    fn head(
        &self,
        answer: &hyper::Response<Incoming>,
        framed: Framed,
        keep: bool,
    ) -> (String, Vec<(String, String)>) {
        let status = answer.status();
        let reason = answer
            .extensions()
            .get::<hyper::ext::ReasonPhrase>()
            .and_then(|r| std::str::from_utf8(r.as_bytes()).ok())
            .map(str::to_owned)
            .unwrap_or_else(|| status.canonical_reason().unwrap_or("").to_owned());
        let listed: Vec<String> = answer
            .headers()
            .get_all(hyper::header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|t| t.trim().to_ascii_lowercase())
            .collect();
        let mut fields = Vec::new();
        for (name, value) in answer.headers() {
            let lower = name.as_str();
            if HOP_BY_HOP.contains(&lower) || listed.iter().any(|t| t == lower) {
                continue;
            }
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            fields.push((title_case(lower), value));
        }
        if !answer.headers().contains_key(hyper::header::DATE) {
            fields.push(("Date".to_owned(), http_date()));
        }
        let name = &self.proxy.plan.name;
        let version = match answer.version() {
            hyper::Version::HTTP_10 => "1.0",
            _ => "1.1",
        };
        match self.proxy.plan.personality {
            Personality::Squid => {
                fields.push(("X-Cache".to_owned(), format!("MISS from {name}")));
                fields.push((
                    "X-Cache-Lookup".to_owned(),
                    format!("MISS from {name}:{}", self.proxy.port),
                ));
                if framed == Framed::Chunked {
                    fields.push(("Transfer-Encoding".to_owned(), "chunked".to_owned()));
                }
                fields.push(("Via".to_owned(), format!("{version} {name} (squid/5.7)")));
            }
            Personality::Generic => {
                if framed == Framed::Chunked {
                    fields.push(("Transfer-Encoding".to_owned(), "chunked".to_owned()));
                }
                fields.push(("Via".to_owned(), format!("{version} {name}")));
            }
        }
        let connection = if keep { "keep-alive" } else { "close" };
        fields.push(("Connection".to_owned(), connection.to_owned()));
        let mut head = format!("HTTP/1.1 {} {reason}\r\n", status.as_u16());
        for (name, value) in &fields {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        (head, fields)
    }

    /// One piece of the body, chunked when the client gets it chunked.
    async fn write_piece(&mut self, framed: Framed, data: Bytes) -> std::io::Result<()> {
        match framed {
            Framed::Empty => Ok(()),
            Framed::Length | Framed::Close => self.write(&data).await,
            Framed::Chunked if data.is_empty() => Ok(()),
            Framed::Chunked => {
                let mut piece = Vec::with_capacity(data.len() + 12);
                piece.extend_from_slice(format!("{:x}\r\n", data.len()).as_bytes());
                piece.extend_from_slice(&data);
                piece.extend_from_slice(b"\r\n");
                self.write(&piece).await
            }
        }
    }

    async fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.client.write_all(bytes).await?;
        self.down += bytes.len() as u64;
        Ok(())
    }
}

/// `content-type` as `Content-Type`: hyper keeps names in lower case, Squid writes the usual case.
fn title_case(lower: &str) -> String {
    let mut out = String::with_capacity(lower.len());
    let mut upper = true;
    for c in lower.chars() {
        out.push(if upper { c.to_ascii_uppercase() } else { c });
        upper = c == '-';
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(minor: u8, headers: &[(&str, &str)]) -> Request {
        let raw = format!(
            "GET http://h/ HTTP/1.{minor}\r\n{}\r\n",
            headers
                .iter()
                .map(|(n, v)| format!("{n}: {v}\r\n"))
                .collect::<String>()
        );
        super::super::request::parse(raw.as_bytes())
            .unwrap()
            .unwrap()
            .0
    }

    #[test]
    fn keep_alive_follows_squid() {
        assert!(client_keeps(&request(1, &[])));
        assert!(!client_keeps(&request(1, &[("Connection", "close")])));
        assert!(!client_keeps(&request(1, &[("Proxy-Connection", "close")])));
        assert!(!client_keeps(&request(0, &[])));
        assert!(client_keeps(&request(
            0,
            &[("Proxy-Connection", "keep-alive")]
        )));
        assert!(client_keeps(&request(0, &[("Connection", "Keep-Alive")])));
    }

    #[test]
    fn names_come_out_in_title_case() {
        assert_eq!(title_case("content-type"), "Content-Type");
        assert_eq!(title_case("x-cache-lookup"), "X-Cache-Lookup");
        assert_eq!(title_case("etag"), "Etag");
    }
}
