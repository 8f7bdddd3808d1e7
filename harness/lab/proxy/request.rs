//! Reading and parsing a proxy request head the way Squid 5 does.
//!
//! The request line is split by hand (so that each malformation gets Squid's own answer), the header
//! fields by `httparse`. The answers for each malformation were checked against a real Squid 5.7.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};

/// Squid's `request_header_max_size` default: 64 KiB for the line and the header fields.
pub(crate) const HEAD_LIMIT: usize = crate::lab::plan::DEFAULT_MAX_HEAD_BYTES;

/// How much room a read of a request head makes at least (a CONNECT head is a few hundred bytes).
const HEAD_READ: usize = 2048;

/// Why a request head was refused; each maps to one Squid error page and status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Malformed {
    /// 400 `ERR_INVALID_REQ`: NUL bytes, a broken line or broken header fields.
    InvalidRequest,
    /// 400 `ERR_INVALID_URL`: a target that is not a usable URL for the method.
    InvalidUrl,
    /// 400 `ERR_PROTOCOL_UNKNOWN`: no version, or a version that is not `HTTP/x.y`.
    ProtocolUnknown,
    /// 505 `ERR_UNSUP_HTTPVERSION`: an HTTP major version other than 1.
    UnsupportedVersion,
    /// 414 `ERR_TOO_BIG`: the request line alone exceeds the head limit.
    UriTooLong,
    /// 431 `ERR_TOO_BIG`: the header block exceeds the head limit.
    HeadersTooLarge,
    /// 411 `ERR_INVALID_REQ`: a `Content-Length` that is not plain decimal, or two that disagree.
    InvalidLength,
    /// 501 `ERR_UNSUP_REQ`: a `Transfer-Encoding` other than `chunked` alone.
    UnsupportedCoding,
}

/// How the body of a request is delimited (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// No body.
    None,
    /// `Content-Length` bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

/// What the client asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    /// `CONNECT host:port`.
    Authority {
        /// Host name or IP literal (IPv6 without brackets).
        host: String,
        /// Port; Squid assumes 443 when none is given.
        port: u16,
    },
    /// `GET http://host[:port]/path`.
    Absolute {
        /// Host name or IP literal (IPv6 without brackets).
        host: String,
        /// Port; 80 when none is given.
        port: u16,
        /// Origin-form path and query (`/` when empty).
        path: String,
    },
}

impl Target {
    /// The destination host.
    pub(crate) fn host(&self) -> &str {
        match self {
            Target::Authority { host, .. } | Target::Absolute { host, .. } => host,
        }
    }

    /// The destination port.
    pub(crate) fn port(&self) -> u16 {
        match self {
            Target::Authority { port, .. } | Target::Absolute { port, .. } => *port,
        }
    }
}

/// A parsed request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Request {
    /// Method as sent.
    pub method: String,
    /// Target as sent.
    pub raw_target: String,
    /// The parsed target.
    pub target: Target,
    /// Minor HTTP version (0 or 1).
    pub minor: u8,
    /// Header fields in order, names as sent.
    pub headers: Vec<(String, String)>,
    /// How the body is delimited.
    pub framing: Framing,
}

impl Request {
    /// Whether this is a CONNECT request (Squid 5.7 matches the method without regard to case).
    pub(crate) fn is_connect(&self) -> bool {
        self.method.eq_ignore_ascii_case("CONNECT")
    }

    /// The first header value with this name (case-insensitive).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What reading a head produced.
#[derive(Debug)]
pub(crate) enum ReadOutcome {
    /// A complete request; `consumed` bytes of the buffer belong to it.
    Request(Request, usize),
    /// A head that must be refused with a Squid error.
    Malformed(Malformed),
    /// The client closed before sending a complete head (`partial` says whether any byte came).
    Closed { partial: bool },
    /// The header time-out expired.
    TimedOut,
    /// A read failed.
    Failed(std::io::Error),
}

/// Read one request head of at most `limit` bytes into `buf` (which may already hold bytes) within
/// `timeout`. Every byte counts against `limit`, leading empty lines included, so `buf` never
/// grows past `limit` plus one read; each byte is scanned once, however the client splits them.
pub(crate) async fn read_head<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut Vec<u8>,
    timeout: Duration,
    limit: usize,
) -> ReadOutcome {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut scan = HeadScan::default();
    loop {
        match scan.advance(buf, limit) {
            Ok(Some(head)) => {
                return match finish(buf, head) {
                    Ok(request) => ReadOutcome::Request(request, head.end),
                    Err(malformed) => ReadOutcome::Malformed(malformed),
                }
            }
            Ok(None) => {}
            Err(malformed) => return ReadOutcome::Malformed(malformed),
        }
        // Straight into `buf`: an array here would sit in every connection task's state for
        // the connection's whole life (the task is as large as its largest state).
        buf.reserve(HEAD_READ);
        let read = tokio::time::timeout_at(deadline, stream.read_buf(&mut *buf)).await;
        match read {
            Err(_) => return ReadOutcome::TimedOut,
            Ok(Err(error)) => return ReadOutcome::Failed(error),
            Ok(Ok(0)) => {
                return ReadOutcome::Closed {
                    partial: buf.iter().any(|b| !b.is_ascii_whitespace()),
                }
            }
            Ok(Ok(_)) => {}
        }
    }
}

/// Parse a head from `buf` with Squid's default limit: `Ok(None)` when more bytes are needed.
#[cfg(test)]
pub(crate) fn parse(buf: &[u8]) -> Result<Option<(Request, usize)>, Malformed> {
    parse_limited(buf, HEAD_LIMIT)
}

/// Parse a head of at most `limit` bytes from `buf`: `Ok(None)` when more bytes are needed.
pub(crate) fn parse_limited(
    buf: &[u8],
    limit: usize,
) -> Result<Option<(Request, usize)>, Malformed> {
    match HeadScan::default().advance(buf, limit)? {
        Some(head) => finish(buf, head).map(|request| Some((request, head.end))),
        None => Ok(None),
    }
}

/// Where the parts of a complete head lie in the buffer.
#[derive(Debug, Clone, Copy)]
struct HeadSpan {
    /// First byte of the request line (after any leading empty lines).
    start: usize,
    /// The request line's LF.
    line_end: usize,
    /// One past the empty line that ends the head.
    end: usize,
}

/// An incremental scan for the end of a head: it remembers how far it looked, so feeding it a
/// growing buffer costs linear time in total. RFC 9112 §2.2 lets a server ignore empty lines
/// before the request line; they are skipped here but counted against the limit, as Squid 5.7's
/// 400 `ERR_PROTOCOL_UNKNOWN` for a flood of them suggests.
#[derive(Debug, Default)]
struct HeadScan {
    /// The next byte to look at.
    pos: usize,
    /// The start of the request line, once a byte other than CR or LF came.
    start: Option<usize>,
    /// The request line's LF and its parts, once the line is complete.
    line: Option<(usize, Line)>,
}

/// The request line's method, target and minor version.
type Line = (String, String, u8);

impl HeadScan {
    /// Look at the bytes not yet seen: the head's span when it is complete, `None` when more
    /// bytes are needed, or why it is refused (a broken request line as soon as it ends).
    fn advance(&mut self, buf: &[u8], limit: usize) -> Result<Option<HeadSpan>, Malformed> {
        let start = match self.start {
            Some(start) => start,
            None => {
                let blank = buf[self.pos..]
                    .iter()
                    .take_while(|b| matches!(b, b'\r' | b'\n'))
                    .count();
                self.pos += blank;
                if self.pos >= limit {
                    return Err(Malformed::ProtocolUnknown);
                }
                if self.pos == buf.len() {
                    return if buf.len() >= limit {
                        Err(Malformed::ProtocolUnknown)
                    } else {
                        Ok(None)
                    };
                }
                self.start = Some(self.pos);
                self.pos
            }
        };
        let line_end = match &self.line {
            Some((line_end, _)) => *line_end,
            None => {
                let Some(offset) = buf[self.pos..].iter().position(|b| *b == b'\n') else {
                    self.pos = buf.len();
                    return if buf.len() >= limit {
                        Err(Malformed::UriTooLong)
                    } else {
                        Ok(None)
                    };
                };
                let line_end = self.pos + offset;
                if line_end >= limit {
                    return Err(Malformed::UriTooLong);
                }
                let raw = &buf[start..line_end];
                let line = parse_line(raw.strip_suffix(b"\r").unwrap_or(raw))?;
                self.line = Some((line_end, line));
                self.pos = line_end + 1;
                line_end
            }
        };
        // The head ends at the first empty line: an LF preceded by LF or by CR LF. The request
        // line's own LF may be the first of the pair (a head without header fields).
        for at in self.pos..buf.len() {
            if buf[at] != b'\n' {
                continue;
            }
            let before = buf[at - 1];
            let empty = before == b'\n' || (before == b'\r' && buf[at - 2] == b'\n');
            if empty {
                self.pos = at + 1;
                if at + 1 > limit {
                    return Err(Malformed::HeadersTooLarge);
                }
                return Ok(Some(HeadSpan {
                    start,
                    line_end,
                    end: at + 1,
                }));
            }
        }
        self.pos = buf.len();
        if buf.len() >= limit {
            Err(Malformed::HeadersTooLarge)
        } else {
            Ok(None)
        }
    }
}

/// Turn a complete head into a request: header fields, target and message framing.
fn finish(buf: &[u8], head: HeadSpan) -> Result<Request, Malformed> {
    let raw = &buf[head.start..head.line_end];
    let (method, raw_target, minor) = parse_line(raw.strip_suffix(b"\r").unwrap_or(raw))?;
    let fields = unfold(&buf[head.line_end + 1..head.end]);
    let mut storage = [httparse::EMPTY_HEADER; 128];
    let parsed = match httparse::parse_headers(&fields, &mut storage) {
        Ok(httparse::Status::Complete((_, parsed))) => parsed,
        Ok(httparse::Status::Partial) | Err(_) => return Err(Malformed::InvalidRequest),
    };
    let mut headers = Vec::with_capacity(parsed.len());
    for field in parsed.iter() {
        if field.value.contains(&0) {
            return Err(Malformed::InvalidRequest);
        }
        let value = String::from_utf8_lossy(field.value).trim().to_owned();
        headers.push((field.name.to_owned(), value));
    }
    let target = if method.eq_ignore_ascii_case("CONNECT") {
        parse_authority(&raw_target)?
    } else {
        parse_absolute(&raw_target)?
    };
    let framing = framing(&headers)?;
    Ok(Request {
        method,
        raw_target,
        target,
        minor,
        headers,
        framing,
    })
}

/// Replace each obs-fold (a line break followed by spaces or tabs) with one space, as RFC 9112
/// §5.2 allows and Squid 5.7 does (it forwards `X: a\r\n b` as `X: a b`).
fn unfold(fields: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    let folded = |at: usize| {
        fields[at] == b'\n' && matches!(fields.get(at + 1), Some(b' ' | b'\t')) && at > 0
    };
    if !(0..fields.len()).any(folded) {
        return std::borrow::Cow::Borrowed(fields);
    }
    let mut out = Vec::with_capacity(fields.len());
    let mut at = 0;
    while at < fields.len() {
        if folded(at) {
            if out.last() == Some(&b'\r') {
                out.pop();
            }
            while out.last().is_some_and(|b| matches!(b, b' ' | b'\t')) {
                out.pop();
            }
            out.push(b' ');
            at += 1;
            while matches!(fields.get(at), Some(b' ' | b'\t')) {
                at += 1;
            }
        } else {
            out.push(fields[at]);
            at += 1;
        }
    }
    std::borrow::Cow::Owned(out)
}

/// How the request's body is delimited (RFC 9112 §6.3), refused where Squid 5.7 refuses it:
/// `Content-Length` values that are not plain decimal or disagree get 411 `ERR_INVALID_REQ`; a
/// `Transfer-Encoding` other than exactly `chunked` (or `identity`, which Squid ignores) gets
/// 501 `ERR_UNSUP_REQ`. With `chunked`, any `Content-Length` is ignored (and not forwarded).
fn framing(headers: &[(String, String)]) -> Result<Framing, Malformed> {
    let values = |name: &'static str| {
        headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .flat_map(|(_, v)| v.split(','))
            .map(str::trim)
    };
    let mut length = None;
    for value in values("Content-Length") {
        let parsed = match value.bytes().all(|b| b.is_ascii_digit()) {
            true => value.parse::<u64>().ok(),
            false => None,
        };
        match (parsed, length) {
            (None, _) => return Err(Malformed::InvalidLength),
            (Some(n), Some(seen)) if n != seen => return Err(Malformed::InvalidLength),
            (Some(n), _) => length = Some(n),
        }
    }
    let coded = headers
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case("Transfer-Encoding"));
    if !coded {
        return Ok(length.map_or(Framing::None, Framing::Length));
    }
    let codings: Vec<String> = values("Transfer-Encoding")
        .filter(|c| !c.is_empty())
        .map(str::to_ascii_lowercase)
        .collect();
    match codings.as_slice() {
        [only] if only == "chunked" => Ok(Framing::Chunked),
        [only] if only == "identity" => Ok(length.map_or(Framing::None, Framing::Length)),
        _ => Err(Malformed::UnsupportedCoding),
    }
}

/// `target` with any userinfo (`user:password@`) in its authority replaced by `***@`, for logs
/// and the timeline. The parser refuses such targets; this keeps a refused one out of the logs too.
pub(crate) fn redact_userinfo(target: &str) -> std::borrow::Cow<'_, str> {
    let (prefix, rest) = match target.find("://") {
        Some(at) => target.split_at(at + 3),
        None => ("", target),
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => std::borrow::Cow::Owned(format!("{prefix}***{}", &rest[at..])),
        None => std::borrow::Cow::Borrowed(target),
    }
}

/// `METHOD SP target SP HTTP/x.y`, classified as Squid does.
fn parse_line(line: &[u8]) -> Result<(String, String, u8), Malformed> {
    if line.contains(&0) || !line.is_ascii() {
        return Err(Malformed::InvalidRequest);
    }
    let text = String::from_utf8_lossy(line);
    let parts: Vec<&str> = text.split(' ').filter(|p| !p.is_empty()).collect();
    match parts.as_slice() {
        [method, target, version] => {
            if !method.bytes().all(|b| b.is_ascii_alphabetic() || b == b'-') {
                return Err(Malformed::InvalidRequest);
            }
            let minor = parse_version(version)?;
            Ok(((*method).to_owned(), (*target).to_owned(), minor))
        }
        [_, _] => Err(Malformed::ProtocolUnknown),
        _ => Err(Malformed::InvalidRequest),
    }
}

fn parse_version(version: &str) -> Result<u8, Malformed> {
    let digits = version
        .strip_prefix("HTTP/")
        .ok_or(Malformed::ProtocolUnknown)?;
    let (major, minor) = digits.split_once('.').ok_or(Malformed::ProtocolUnknown)?;
    let single = |s: &str| s.len() == 1 && s.as_bytes()[0].is_ascii_digit();
    if !single(major) || !single(minor) {
        return Err(Malformed::ProtocolUnknown);
    }
    if major != "1" {
        return Err(Malformed::UnsupportedVersion);
    }
    Ok(minor.as_bytes()[0] - b'0')
}

/// CONNECT's authority-form. Squid 5.7 reads the port like `atoi` (no digits: assume 443) and refuses
/// port 0 or above 65535; an IPv6 literal must be bracketed.
fn parse_authority(target: &str) -> Result<Target, Malformed> {
    let (host, port_text) = if let Some(inner) = target.strip_prefix('[') {
        let (literal, after) = inner.split_once(']').ok_or(Malformed::InvalidUrl)?;
        if literal.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(Malformed::InvalidUrl);
        }
        (literal, after.strip_prefix(':').unwrap_or(""))
    } else {
        target.split_once(':').unwrap_or((target, ""))
    };
    // A userinfo (`user:password@host`) has no place in CONNECT: Squid 5.7 reads `user` as the host.
    if host.is_empty() || target.contains('@') {
        return Err(Malformed::InvalidUrl);
    }
    let port = atoi_port(port_text)?.unwrap_or(443);
    Ok(Target::Authority {
        host: host.to_owned(),
        port,
    })
}

/// Leading decimal digits as a port: `None` when there are none, an error for 0 or above 65535.
fn atoi_port(text: &str) -> Result<Option<u16>, Malformed> {
    let digits: String = text.chars().take_while(char::is_ascii_digit).collect();
    if digits.is_empty() {
        return Ok(None);
    }
    match digits.parse::<u32>() {
        Ok(port) if (1..=65535).contains(&port) => Ok(Some(port as u16)),
        _ => Err(Malformed::InvalidUrl),
    }
}

/// `http://host[:port][/path]`; anything else is refused like Squid's ERR_INVALID_URL.
fn parse_absolute(target: &str) -> Result<Target, Malformed> {
    let (scheme, rest) = target.split_once("://").ok_or(Malformed::InvalidUrl)?;
    if !scheme.eq_ignore_ascii_case("http") {
        return Err(Malformed::InvalidUrl);
    }
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let path = if path.is_empty() || path.starts_with('#') {
        "/".to_owned()
    } else if path.starts_with('?') {
        format!("/{path}")
    } else {
        path.to_owned()
    };
    if authority.contains('@') {
        return Err(Malformed::InvalidUrl);
    }
    let (host, port_text) = if let Some(inner) = authority.strip_prefix('[') {
        let (literal, after) = inner.split_once(']').ok_or(Malformed::InvalidUrl)?;
        if literal.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(Malformed::InvalidUrl);
        }
        (literal, after.strip_prefix(':'))
    } else {
        match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    let valid_host = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b':'));
    if !valid_host {
        return Err(Malformed::InvalidUrl);
    }
    let port = match port_text {
        None | Some("") => 80,
        Some(text) if text.bytes().all(|b| b.is_ascii_digit()) => match text.parse::<u32>() {
            Ok(port) if (1..=65535).contains(&port) => port as u16,
            _ => return Err(Malformed::InvalidUrl),
        },
        Some(_) => return Err(Malformed::InvalidUrl),
    };
    Ok(Target::Absolute {
        host: host.to_owned(),
        port,
        path,
    })
}

#[cfg(test)]
#[path = "request_tests.rs"]
mod tests;
