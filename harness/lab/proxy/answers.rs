//! The answers a proxy sends, in the words of the product it imitates.
//!
//! Squid's header set and order were taken from a real Squid 5.7: error pages carry `Server`,
//! `Mime-Version`, `Date`, `Content-Type`, `Content-Length`, `X-Squid-Error`, `Vary`,
//! `Content-Language`, then (except for a failed CONNECT) `X-Cache`, `X-Cache-Lookup`, `Via` and
//! `Connection`. The generic personality answers like mitmproxy or goproxy: terse, 502 for any
//! failure to reach the origin.

use crate::lab::plan::Personality;
use crate::lab::status::reason_phrase;

use super::request::Malformed;

/// Squid's exact success line for CONNECT.
pub(crate) const CONNECT_ESTABLISHED: &[u8] = b"HTTP/1.1 200 Connection established\r\n\r\n";

/// Why a request is not relayed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Failure {
    /// An access rule (or Squid's port policy) denied it.
    Denied,
    /// The destination is an IP literal the lab never declared: refused, the lab is no open proxy.
    Undeclared,
    /// Proxy authentication is required; one challenge per scheme.
    AuthRequired(Vec<String>),
    /// Squid access lists refused the request: 403 (or 407 with `challenges`) naming `page` in
    /// `X-Squid-Error`, or a `deny_info` redirect to `location`.
    AccessRefused {
        /// 403, 407, or the redirect's 3xx.
        status: u16,
        /// The error page's name (`ERR_ACCESS_DENIED`, a custom one, ...).
        page: String,
        /// `Proxy-Authenticate` values, for a 407.
        challenges: Vec<String>,
        /// The redirect target, for a 3xx.
        location: Option<String>,
    },
    /// The request head was malformed.
    Malformed(Malformed),
    /// The destination name does not resolve.
    DnsFail,
    /// The origin refused or reset the connection; `errno` as Squid prints it (111 = refused).
    ConnectFail {
        /// The OS error number, 0 if unknown.
        errno: i32,
        /// The error in words.
        text: String,
    },
    /// The origin did not answer within the connect time-out.
    ConnectTimeout,
    /// The intercepting proxy's own TLS session to the origin failed.
    SecureConnectFail {
        /// The TLS error in words.
        text: String,
    },
    /// The parent proxy refused the CONNECT with an HTTP answer. Squid 5.7 relays that answer to
    /// the client unchanged (checked against a real one); a generic proxy answers 502.
    ParentRefused {
        /// The parent's status.
        status: u16,
        /// The parent's answer, head and body, as received.
        answer: Vec<u8>,
    },
    /// The parent proxy's answer to CONNECT was not HTTP, or it closed without one: 502.
    ParentBroken,
    /// The origin of a forwarded request closed without an answer (Squid's 502
    /// `ERR_ZERO_SIZE_OBJECT`) or sent one that is not HTTP (`invalid`: 502 `ERR_INVALID_RESP`).
    OriginBroken {
        /// Whether an answer came that could not be parsed.
        invalid: bool,
        /// The error in words.
        text: String,
    },
    /// A fault plan asked for this status.
    Injected(u16),
}

/// Where and as whom the answer is given.
#[derive(Debug, Clone)]
pub(crate) struct Voice<'a> {
    /// The proxy's personality.
    pub personality: Personality,
    /// The proxy's name (Squid's `visible_hostname`).
    pub name: &'a str,
    /// The port the proxy listens on.
    pub port: u16,
    /// Whether the failure ends a CONNECT (Squid then sends the short header set and closes).
    pub tunnel: bool,
}

/// A rendered answer and whether the connection may carry another request afterwards.
#[derive(Debug, Clone)]
pub(crate) struct Rendered {
    /// The bytes to write.
    pub bytes: Vec<u8>,
    /// The status code.
    pub status: u16,
    /// Whether the connection stays open.
    pub keep_alive: bool,
}

impl Failure {
    /// Squid's status and error page name (with the errno Squid appends).
    fn squid(&self) -> (u16, &str, i32) {
        match self {
            Failure::AccessRefused { status, page, .. } => (*status, page.as_str(), 0),
            Failure::Denied | Failure::Undeclared => (403, "ERR_ACCESS_DENIED", 0),
            Failure::AuthRequired(_) => (407, "ERR_CACHE_ACCESS_DENIED", 0),
            Failure::Malformed(m) => match m {
                Malformed::InvalidRequest => (400, "ERR_INVALID_REQ", 0),
                Malformed::InvalidUrl => (400, "ERR_INVALID_URL", 0),
                Malformed::ProtocolUnknown => (400, "ERR_PROTOCOL_UNKNOWN", 0),
                Malformed::UnsupportedVersion => (505, "ERR_UNSUP_HTTPVERSION", 0),
                Malformed::UriTooLong => (414, "ERR_TOO_BIG", 0),
                Malformed::HeadersTooLarge => (431, "ERR_TOO_BIG", 0),
                Malformed::InvalidLength => (411, "ERR_INVALID_REQ", 0),
                Malformed::UnsupportedCoding => (501, "ERR_UNSUP_REQ", 0),
            },
            // What Squid 5.7 answers for a name that does not resolve, with no DNS server and with
            // one answering NXDOMAIN alike (tests/real_squid_differential.rs, "unknown host"):
            // its forwarding finds no address to try, so the error is ERR_CANNOT_FORWARD.
            Failure::DnsFail => (500, "ERR_CANNOT_FORWARD", 0),
            Failure::ConnectFail { errno, .. } => (503, "ERR_CONNECT_FAIL", *errno),
            Failure::ConnectTimeout => (504, "ERR_CONNECT_FAIL", 110),
            Failure::SecureConnectFail { .. } => (503, "ERR_SECURE_CONNECT_FAIL", 0),
            Failure::ParentRefused { status, .. } => (*status, "", 0),
            Failure::ParentBroken => (502, "ERR_INVALID_RESP", 0),
            Failure::OriginBroken { invalid: true, .. } => (502, "ERR_INVALID_RESP", 0),
            Failure::OriginBroken { invalid: false, .. } => (502, "ERR_ZERO_SIZE_OBJECT", 0),
            Failure::Injected(status) => (*status, "", 0),
        }
    }

    /// The generic personality's status.
    fn generic_status(&self) -> u16 {
        match self {
            Failure::Denied | Failure::Undeclared => 403,
            Failure::AuthRequired(_) => 407,
            Failure::AccessRefused { status, .. } => *status,
            Failure::Malformed(_) => 400,
            Failure::DnsFail
            | Failure::ConnectFail { .. }
            | Failure::ConnectTimeout
            | Failure::SecureConnectFail { .. }
            | Failure::ParentRefused { .. }
            | Failure::ParentBroken
            | Failure::OriginBroken { .. } => 502,
            Failure::Injected(status) => *status,
        }
    }

    /// The failure in words, for error pages and the timeline.
    pub(crate) fn describe(&self, target: &str) -> String {
        match self {
            Failure::Denied => format!("access to {target} is denied by the proxy's rules"),
            Failure::Undeclared => format!("{target} is not a destination of this lab"),
            Failure::AuthRequired(_) => "proxy authentication required".to_owned(),
            Failure::AccessRefused { status, page, .. } => {
                format!(
                    "access to {target} is denied by the proxy's access lists ({status} {page})"
                )
            }
            Failure::Malformed(m) => format!("malformed request ({m:?})"),
            Failure::DnsFail => format!("unable to resolve the host name of {target}"),
            Failure::ConnectFail { text, .. } => format!("connection to {target} failed: {text}"),
            Failure::ConnectTimeout => format!("connection to {target} timed out"),
            Failure::SecureConnectFail { text } => {
                format!("TLS connection to {target} failed: {text}")
            }
            Failure::ParentRefused { status, .. } => {
                format!("the parent proxy refused the request for {target} with status {status}")
            }
            Failure::ParentBroken => {
                format!("the parent proxy sent an invalid answer for {target}")
            }
            Failure::OriginBroken { text, .. } => {
                format!("the origin {target} gave no valid answer: {text}")
            }
            Failure::Injected(status) => format!("injected status {status}"),
        }
    }

    /// Render the answer.
    pub(crate) fn render(&self, voice: &Voice<'_>, target: &str) -> Rendered {
        match voice.personality {
            Personality::Squid => self.render_squid(voice, target),
            Personality::Generic => self.render_generic(target),
        }
    }

    fn render_squid(&self, voice: &Voice<'_>, target: &str) -> Rendered {
        if let Failure::ParentRefused { status, answer } = self {
            return Rendered {
                bytes: answer.clone(),
                status: *status,
                keep_alive: false,
            };
        }
        if let Failure::AccessRefused {
            status,
            location: Some(location),
            ..
        } = self
        {
            return redirect_squid(voice, *status, location);
        }
        let (status, error, errno) = self.squid();
        let description = self.describe(target);
        let body = squid_page(status, error, &description, voice.name);
        let mut head = format!(
            "HTTP/1.1 {status} {}\r\nServer: squid/5.7\r\nMime-Version: 1.0\r\nDate: {}\r\n\
             Content-Type: text/html;charset=utf-8\r\nContent-Length: {}\r\n",
            reason_phrase(status),
            http_date(),
            body.len()
        );
        if !error.is_empty() {
            head.push_str(&format!("X-Squid-Error: {error} {errno}\r\n"));
        }
        head.push_str("Vary: Accept-Language\r\nContent-Language: en\r\n");
        for challenge in self.challenges() {
            head.push_str(&format!("Proxy-Authenticate: {challenge}\r\n"));
        }
        let keep_alive = self.keeps_connection();
        let short = voice.tunnel && !keep_alive && !matches!(self, Failure::Injected(_));
        if !short {
            let name = voice.name;
            head.push_str(&format!(
                "X-Cache: MISS from {name}\r\nX-Cache-Lookup: NONE from {name}:{}\r\n\
                 Via: 1.1 {name} (squid/5.7)\r\nConnection: {}\r\n",
                voice.port,
                if keep_alive { "keep-alive" } else { "close" }
            ));
        }
        head.push_str("\r\n");
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(body.as_bytes());
        Rendered {
            bytes,
            status,
            keep_alive,
        }
    }

    fn render_generic(&self, target: &str) -> Rendered {
        let status = self.generic_status();
        let body = format!("{}\n", self.describe(target));
        let keep_alive = !self.challenges().is_empty();
        let mut head = format!(
            "HTTP/1.1 {status} {}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\n",
            reason_phrase(status),
            body.len()
        );
        for challenge in self.challenges() {
            head.push_str(&format!("Proxy-Authenticate: {challenge}\r\n"));
        }
        head.push_str(if keep_alive {
            "Connection: keep-alive\r\n\r\n"
        } else {
            "Connection: close\r\n\r\n"
        });
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(body.as_bytes());
        Rendered {
            bytes,
            status,
            keep_alive,
        }
    }
}

impl Failure {
    /// The `Proxy-Authenticate` values the answer carries.
    fn challenges(&self) -> &[String] {
        match self {
            Failure::AuthRequired(challenges) | Failure::AccessRefused { challenges, .. } => {
                challenges
            }
            _ => &[],
        }
    }

    /// Whether Squid keeps the client connection after this answer (a refusal by policy).
    fn keeps_connection(&self) -> bool {
        matches!(
            self,
            Failure::Denied
                | Failure::Undeclared
                | Failure::AuthRequired(_)
                | Failure::AccessRefused { .. }
        )
    }
}

/// Squid 5.7's answer to a request denied with a `deny_info 3xx:URL`: no body, the status in
/// `X-Squid-Error` with the words "Access Denied", the connection kept.
fn redirect_squid(voice: &Voice<'_>, status: u16, location: &str) -> Rendered {
    let name = voice.name;
    let head = format!(
        "HTTP/1.1 {status} {}\r\nServer: squid/5.7\r\nMime-Version: 1.0\r\nDate: {}\r\n\
         Content-Type: text/html;charset=utf-8\r\nContent-Length: 0\r\nLocation: {location}\r\n\
         X-Squid-Error: {status} Access Denied\r\nX-Cache: MISS from {name}\r\n\
         X-Cache-Lookup: NONE from {name}:{}\r\nVia: 1.1 {name} (squid/5.7)\r\n\
         Connection: keep-alive\r\n\r\n",
        reason_phrase(status),
        http_date(),
        voice.port
    );
    Rendered {
        bytes: head.into_bytes(),
        status,
        keep_alive: true,
    }
}

/// A short error page in the shape of Squid's templates (title, the error, the proxy's signature).
fn squid_page(status: u16, error: &str, description: &str, name: &str) -> String {
    let description = html_escape(description);
    let name = html_escape(name);
    format!(
        "<!DOCTYPE html>\n<html><head>\n<meta http-equiv=\"Content-Type\" content=\"text/html; charset=utf-8\">\n\
         <title>ERROR: The requested URL could not be retrieved</title>\n</head><body id=\"{error}\">\n\
         <div id=\"titles\"><h1>ERROR</h1><h2>The requested URL could not be retrieved</h2></div>\n\
         <div id=\"content\"><p>While handling this request the proxy answered {status}:</p>\n\
         <blockquote id=\"error\"><p><b>{description}</b></p></blockquote>\n</div>\n\
         <div id=\"footer\"><p>Generated {} by {name} (squid/5.7)</p></div>\n</body></html>\n",
        http_date()
    )
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The current time as an HTTP date (`Sun, 22 Nov 2026 04:16:27 GMT`).
pub(crate) fn http_date() -> String {
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    time::OffsetDateTime::now_utc()
        .format(&format)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn voice(personality: Personality, tunnel: bool) -> Voice<'static> {
        Voice {
            personality,
            name: "corp",
            port: 3128,
            tunnel,
        }
    }

    fn head(rendered: &Rendered) -> String {
        let text = String::from_utf8_lossy(&rendered.bytes).into_owned();
        text.split("\r\n\r\n").next().unwrap_or_default().to_owned()
    }

    #[test]
    fn squid_407_lists_one_challenge_per_scheme_and_keeps_the_connection() {
        let failure = Failure::AuthRequired(vec![
            "Negotiate".into(),
            "NTLM".into(),
            "Basic realm=\"c\"".into(),
        ]);
        let rendered = failure.render(&voice(Personality::Squid, true), "a.test:443");
        let head = head(&rendered);
        assert!(
            head.starts_with("HTTP/1.1 407 Proxy Authentication Required\r\nServer: squid/5.7\r\n")
        );
        assert!(head.contains("X-Squid-Error: ERR_CACHE_ACCESS_DENIED 0\r\n"));
        let challenges: Vec<&str> = head
            .lines()
            .filter(|l| l.starts_with("Proxy-Authenticate:"))
            .collect();
        assert_eq!(
            challenges,
            [
                "Proxy-Authenticate: Negotiate",
                "Proxy-Authenticate: NTLM",
                "Proxy-Authenticate: Basic realm=\"c\""
            ]
        );
        assert!(head.ends_with("Via: 1.1 corp (squid/5.7)\r\nConnection: keep-alive"));
        assert!(rendered.keep_alive);
    }

    #[test]
    fn squid_connect_failures_use_the_short_header_set_and_errno() {
        let failure = Failure::ConnectFail {
            errno: 111,
            text: "refused".into(),
        };
        let rendered = failure.render(&voice(Personality::Squid, true), "a.test:443");
        let head = head(&rendered);
        assert!(head.starts_with("HTTP/1.1 503 Service Unavailable\r\n"));
        assert!(head.contains("X-Squid-Error: ERR_CONNECT_FAIL 111\r\n"));
        assert!(head.ends_with("Content-Language: en"), "{head}");
        assert!(!rendered.keep_alive);
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("Content-Length: "))
            .and_then(|v| v.parse().ok())
            .unwrap();
        assert_eq!(length, rendered.bytes.len() - head.len() - 4);
    }

    #[test]
    fn squid_and_generic_statuses_for_each_failure() {
        let cases = [
            (Failure::Denied, 403, 403, "ERR_ACCESS_DENIED 0"),
            (Failure::Undeclared, 403, 403, "ERR_ACCESS_DENIED 0"),
            (Failure::DnsFail, 500, 502, "ERR_CANNOT_FORWARD 0"),
            (Failure::ConnectTimeout, 504, 502, "ERR_CONNECT_FAIL 110"),
            (Failure::ParentBroken, 502, 502, "ERR_INVALID_RESP 0"),
            (
                Failure::Malformed(Malformed::HeadersTooLarge),
                431,
                400,
                "ERR_TOO_BIG 0",
            ),
            (
                Failure::Malformed(Malformed::UriTooLong),
                414,
                400,
                "ERR_TOO_BIG 0",
            ),
            (
                Failure::Malformed(Malformed::UnsupportedVersion),
                505,
                400,
                "ERR_UNSUP_HTTPVERSION 0",
            ),
            (
                Failure::Malformed(Malformed::InvalidRequest),
                400,
                400,
                "ERR_INVALID_REQ 0",
            ),
        ];
        for (failure, squid, generic, error) in cases {
            let s = failure.render(&voice(Personality::Squid, true), "t:443");
            assert_eq!(s.status, squid, "{failure:?}");
            assert!(
                head(&s).contains(&format!("X-Squid-Error: {error}\r\n")),
                "{failure:?}"
            );
            let g = failure.render(&voice(Personality::Generic, true), "t:443");
            assert_eq!(g.status, generic, "{failure:?}");
            assert!(!head(&g).contains("squid"), "{failure:?}");
        }
    }

    #[test]
    fn squid_relays_a_parent_refusal_and_generic_answers_502() {
        let answer = b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n".to_vec();
        let failure = Failure::ParentRefused {
            status: 403,
            answer: answer.clone(),
        };
        let squid = failure.render(&voice(Personality::Squid, true), "t:443");
        assert_eq!((squid.status, squid.bytes), (403, answer));
        assert_eq!(
            failure
                .render(&voice(Personality::Generic, true), "t:443")
                .status,
            502
        );
    }

    #[test]
    fn generic_502_carries_the_error_text() {
        let failure = Failure::ConnectFail {
            errno: 111,
            text: "Connection refused".into(),
        };
        let rendered = failure.render(&voice(Personality::Generic, true), "a.test:443");
        let text = String::from_utf8_lossy(&rendered.bytes);
        assert!(text.starts_with("HTTP/1.1 502 Bad Gateway\r\n"));
        assert!(text.ends_with("connection to a.test:443 failed: Connection refused\n"));
    }

    #[test]
    fn http_date_has_the_imf_fixdate_shape() {
        let date = http_date();
        assert_eq!(date.len(), 29, "{date}");
        assert!(date.ends_with(" GMT"));
    }
}
