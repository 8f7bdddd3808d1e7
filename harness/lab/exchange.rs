//! HTTP exchanges as timeline events: one shape for the endpoints', the proxies' and the PAC
//! server's, with credentials masked before they are recorded.

use std::time::Duration;

use super::timeline::EventKind;

/// Header fields whose values are credentials; the timeline keeps their scheme only. The
/// challenges are among them: an NTLM CHALLENGE or a Digest nonce next to its answer is what an
/// offline password guesser needs (a bare offer such as `NTLM` is kept whole).
const CREDENTIALS: [&str; 6] = [
    "authorization",
    "proxy-authorization",
    "proxy-authenticate",
    "www-authenticate",
    "cookie",
    "set-cookie",
];

/// The credential fields whose bare value (one word, no payload) is a scheme name, kept whole.
const CHALLENGES: [&str; 2] = ["proxy-authenticate", "www-authenticate"];

/// An HTTP request and its answer, as a component saw them.
#[derive(Debug)]
pub(crate) struct Seen<'a> {
    /// `endpoint`, `forwarded`, `proxy`, `connect`, `pac`.
    pub(crate) role: &'a str,
    pub(crate) method: &'a str,
    pub(crate) url: String,
    /// The request's HTTP version as the timeline names it (`HTTP/1.1`, `HTTP/2`).
    pub(crate) version: &'static str,
    pub(crate) request_headers: &'a [(String, String)],
    pub(crate) request_body_bytes: u64,
    pub(crate) status: u16,
    pub(crate) response_headers: Vec<(String, String)>,
    pub(crate) response_body_bytes: u64,
    pub(crate) wait: Duration,
    pub(crate) total: Duration,
}

impl Seen<'_> {
    /// The timeline event, credentials masked.
    pub(crate) fn event(self) -> EventKind {
        EventKind::Http {
            role: self.role.to_owned(),
            method: self.method.to_owned(),
            url: self.url,
            http_version: self.version.to_owned(),
            request_headers: masked(self.request_headers),
            request_body_bytes: self.request_body_bytes,
            status: self.status,
            response_headers: masked(&self.response_headers),
            response_body_bytes: self.response_body_bytes,
            wait_ms: millis(self.wait),
            total_ms: millis(self.total),
        }
    }
}

/// The version name of an HTTP/1 request with this minor version.
pub(crate) fn http1(minor: u8) -> &'static str {
    match minor {
        0 => "HTTP/1.0",
        _ => "HTTP/1.1",
    }
}

/// `headers` with each credential's value cut to its scheme (`Basic [redacted]`).
pub(crate) fn masked(headers: &[(String, String)]) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(name, value)| {
            let lower = name.to_ascii_lowercase();
            let bare = !value.trim().contains(' ');
            if CHALLENGES.contains(&lower.as_str()) && bare {
                (name.clone(), value.clone())
            } else if CREDENTIALS.contains(&lower.as_str()) {
                let scheme = value
                    .split_whitespace()
                    .next()
                    .filter(|_| value.contains(' '));
                let kept = scheme.map_or_else(
                    || "[redacted]".to_owned(),
                    |scheme| format!("{scheme} [redacted]"),
                );
                (name.clone(), kept)
            } else {
                (name.clone(), value.clone())
            }
        })
        .collect()
}

/// Header fields in order, as (name, value).
pub(crate) type Fields = Vec<(String, String)>;

/// The status, the header fields in order and the head's length of a response head in `bytes`
/// (the lab's own rendered answers, an origin's head).
pub(crate) fn response_head(bytes: &[u8]) -> Option<(u16, Fields, usize)> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut response = httparse::Response::new(&mut headers);
    let httparse::Status::Complete(length) = response.parse(bytes).ok()? else {
        return None;
    };
    let fields = response
        .headers
        .iter()
        .map(|h| {
            (
                h.name.to_owned(),
                String::from_utf8_lossy(h.value).into_owned(),
            )
        })
        .collect();
    Some((response.code?, fields, length))
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_keep_only_their_scheme() {
        let headers = vec![
            (
                "Proxy-Authorization".to_owned(),
                "Basic dXNlcjpzZWNyZXQ=".to_owned(),
            ),
            ("Cookie".to_owned(), "session=abc".to_owned()),
            ("Host".to_owned(), "login.example".to_owned()),
        ];
        let kept = masked(&headers);
        assert_eq!(kept[0].1, "Basic [redacted]");
        assert_eq!(kept[1].1, "[redacted]");
        assert_eq!(kept[2].1, "login.example");
    }

    #[test]
    fn a_rendered_answer_head_is_read_back() {
        let (status, fields, length) =
            response_head(b"HTTP/1.1 407 Proxy Authentication Required\r\nX-Squid-Error: ERR_CACHE_ACCESS_DENIED 0\r\n\r\nbody").unwrap();
        assert_eq!(status, 407);
        assert_eq!(fields[0].0, "X-Squid-Error");
        assert_eq!(length, 88);
    }
}
