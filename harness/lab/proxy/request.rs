//! Reading and parsing a proxy request head the way Squid 5 does.
//!
//! The request line is split by hand (so that each malformation gets Squid's own answer), the header
//! fields by `httparse`. The answers for each malformation were checked against a real Squid 5.7.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};

/// Squid's `request_header_max_size` default: 64 KiB for the line and the header fields.
pub(crate) const HEAD_LIMIT: usize = crate::lab::plan::DEFAULT_MAX_HEAD_BYTES;

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
/// `timeout`.
pub(crate) async fn read_head<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut Vec<u8>,
    timeout: Duration,
    limit: usize,
) -> ReadOutcome {
    let deadline = tokio::time::Instant::now() + timeout;
    // A head only completes (or breaks) when a line ends or the limit is crossed: parsing again after
    // every chunk would let a client trickling one byte at a time cost quadratic work.
    let mut parse_now = true;
    loop {
        if parse_now {
            match parse_limited(buf, limit) {
                Ok(Some((request, used))) => return ReadOutcome::Request(request, used),
                Ok(None) => {}
                Err(malformed) => return ReadOutcome::Malformed(malformed),
            }
        }
        let mut chunk = [0u8; 8192];
        let read = tokio::time::timeout_at(deadline, stream.read(&mut chunk)).await;
        match read {
            Err(_) => return ReadOutcome::TimedOut,
            Ok(Err(error)) => return ReadOutcome::Failed(error),
            Ok(Ok(0)) => {
                return ReadOutcome::Closed {
                    partial: buf.iter().any(|b| !b.is_ascii_whitespace()),
                }
            }
            Ok(Ok(n)) => {
                buf.extend_from_slice(&chunk[..n]);
                parse_now = chunk[..n].contains(&b'\n') || buf.len() >= limit;
            }
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
    // Squid ignores empty lines before a request line.
    let skip = buf
        .iter()
        .take_while(|b| **b == b'\r' || **b == b'\n')
        .count();
    let rest = &buf[skip..];
    let Some(line_end) = rest.iter().position(|b| *b == b'\n') else {
        return if rest.len() >= limit {
            Err(Malformed::UriTooLong)
        } else {
            Ok(None)
        };
    };
    if line_end >= limit {
        return Err(Malformed::UriTooLong);
    }
    let line = rest[..line_end]
        .strip_suffix(b"\r")
        .unwrap_or(&rest[..line_end]);
    let (method, raw_target, minor) = parse_line(line)?;
    let fields = &rest[line_end + 1..];
    let mut storage = [httparse::EMPTY_HEADER; 128];
    let (used, parsed) = match httparse::parse_headers(fields, &mut storage) {
        Ok(httparse::Status::Complete((used, parsed))) => (used, parsed),
        Ok(httparse::Status::Partial) if buf.len() >= limit => {
            return Err(Malformed::HeadersTooLarge)
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err(Malformed::InvalidRequest),
    };
    let consumed = skip + line_end + 1 + used;
    if consumed > limit {
        return Err(Malformed::HeadersTooLarge);
    }
    let mut headers = Vec::with_capacity(parsed.len());
    for field in parsed.iter() {
        if field.value.contains(&0) {
            return Err(Malformed::InvalidRequest);
        }
        let value = String::from_utf8_lossy(field.value).trim().to_owned();
        headers.push((field.name.to_owned(), value));
    }
    let connect = method.eq_ignore_ascii_case("CONNECT");
    let target = if connect {
        parse_authority(&raw_target)?
    } else {
        parse_absolute(&raw_target)?
    };
    let request = Request {
        method,
        raw_target,
        target,
        minor,
        headers,
    };
    Ok(Some((request, consumed)))
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
    if host.is_empty() {
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
