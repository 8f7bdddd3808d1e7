//! Absolute-URI forwarding for plain HTTP: the request goes to the origin in origin-form (or to the
//! parent proxy as it came) by hyper's HTTP/1.1 client, the answer comes back re-framed for the
//! client the way Squid 5.7 frames it, and the client connection stays open for the next request
//! when `Connection`/`Proxy-Connection` and the answer's framing allow it.
//!
//! The client side is not a hyper server: its heads are read by the proxy's own parser, because
//! Squid's refusals (malformed heads, 407 challenges kept on the connection for NTLM) are written
//! byte for byte and hyper would answer malformed input its own way.

use std::time::Instant;

use hyper::header::{HeaderName, HeaderValue};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::lab::exchange::{self, Seen};
use crate::lab::plan::Personality;

use super::answers::Failure;
use super::body::{Feed, Reader};
use super::reply::{connection_tokens, Relay, HOP_BY_HOP};
use super::request::{Framing, Malformed, Request, Target};
use super::tunnel::Relayed;
use super::{upstream, Proxy};

/// How one forwarded exchange ended.
#[derive(Debug)]
pub(crate) struct Forwarded {
    /// Bytes of this exchange and, when the connection ends, why.
    pub(crate) relayed: Relayed,
    /// Whether the client connection may carry another request.
    pub(crate) keep_alive: bool,
}

/// Forward one absolute-URI request (through `parent` when given) and relay the answer. `buf`
/// holds the bytes after the request head; the body is taken from it (and the client), and what
/// is left is the start of the next request. After the `last` request the connection closes.
pub(crate) async fn forward<C>(
    proxy: &Proxy,
    client: &mut C,
    request: &Request,
    buf: &mut Vec<u8>,
    parent: Option<&str>,
    last: bool,
) -> Result<Forwarded, Failure>
where
    C: AsyncRead + AsyncWrite + Unpin,
{
    let Target::Absolute { host, port, path } = &request.target else {
        return Err(Failure::Malformed(Malformed::InvalidUrl));
    };
    let (origin, target) = match parent {
        Some(parent) => (
            upstream::connect_parent(proxy, parent).await?,
            request.raw_target.as_str(),
        ),
        None => (
            upstream::connect_direct(proxy, host, *port).await?,
            path.as_str(),
        ),
    };
    let (feed, pieces) = Feed::new(request.framing);
    let outgoing = origin_request(proxy, request, target, feed)?;
    let (mut sender, connection) = hyper::client::conn::http1::Builder::new()
        .title_case_headers(true)
        .handshake(TokioIo::new(origin))
        .await
        .map_err(|error| broken(&error))?;
    let started = Instant::now();
    let work = async {
        let reader = Reader::new(&mut *client, &mut *buf, proxy.plan.header_timeout);
        let (answer, body) = tokio::join!(
            sender.send_request(outgoing),
            reader.pump(request.framing, pieces)
        );
        drop(sender);
        let body_bytes = match body {
            Ok(bytes) => bytes,
            Err(error) => {
                tracing::debug!(%error, "request body not relayed");
                return Err(Early::Ended(error.to_string()));
            }
        };
        let answer = answer.map_err(|error| Early::Failed(broken(&error)))?;
        let wait = started.elapsed();
        let mut relay = Relay {
            proxy,
            request,
            client: &mut *client,
            last,
            up: body_bytes,
            down: 0,
        };
        let outcome = relay.answer(answer).await;
        Ok((outcome, wait, body_bytes, relay.up, relay.down))
    };
    // hyper's connection task runs beside the exchange (it reads the answer's body as the relay
    // takes it); if it ends first, what it read is still relayed.
    let driven = async {
        tokio::pin!(work);
        tokio::select! {
            done = &mut work => done,
            ended = connection => {
                if let Err(error) = ended {
                    tracing::debug!(%error, "origin connection ended with an error");
                }
                work.await
            }
        }
    };
    let exchanged = tokio::select! {
        () = proxy.shutdown.cancelled() => return Ok(ended("shutdown")),
        exchanged = driven => exchanged,
    };
    let (outcome, wait, body_bytes, up, down) = match exchanged {
        Ok(done) => done,
        Err(Early::Ended(reason)) => return Ok(ended(&reason)),
        Err(Early::Failed(failure)) => return Err(failure),
    };
    let (status, response_headers, body_down, keep_alive, reason) = outcome;
    let seen = Seen {
        role: "forwarded",
        method: &request.method,
        url: super::request::redact_userinfo(&request.raw_target).into_owned(),
        version: exchange::http1(request.minor),
        request_headers: &request.headers,
        request_body_bytes: body_bytes,
        status,
        response_headers,
        response_body_bytes: body_down,
        wait,
        total: started.elapsed(),
    };
    proxy.record(seen.event());
    Ok(Forwarded {
        relayed: Relayed { up, down, reason },
        keep_alive,
    })
}

/// Why an exchange stopped before an answer was relayed.
enum Early {
    /// The connection ends, for this reason (the client's body broke off).
    Ended(String),
    /// The origin gave no usable answer: the proxy answers this failure.
    Failed(Failure),
}

/// An exchange that ended the connection before an answer was relayed.
fn ended(reason: &str) -> Forwarded {
    Forwarded {
        relayed: Relayed {
            up: 0,
            down: 0,
            reason: reason.to_owned(),
        },
        keep_alive: false,
    }
}

/// The failure for an origin that closed without an answer or sent something that is not HTTP.
fn broken(error: &hyper::Error) -> Failure {
    Failure::OriginBroken {
        invalid: error.is_parse(),
        text: error.to_string(),
    }
}

/// The request as the origin (or parent) receives it: hop-by-hop fields removed, HTTP/1.1, the
/// origin connection closed after one answer, a `Via` naming this proxy. hyper frames the body:
/// the client's `Content-Length`, or chunked when the client sent it chunked.
fn origin_request(
    proxy: &Proxy,
    request: &Request,
    target: &str,
    feed: Feed,
) -> Result<hyper::Request<Feed>, Failure> {
    let method = hyper::Method::from_bytes(request.method.as_bytes()).map_err(invalid)?;
    let uri: hyper::Uri = target
        .parse()
        .map_err(|_| Failure::Malformed(Malformed::InvalidUrl))?;
    let mut outgoing = hyper::Request::new(feed);
    *outgoing.method_mut() = method;
    *outgoing.uri_mut() = uri;
    let listed = connection_tokens(&request.headers);
    let headers = outgoing.headers_mut();
    for (name, value) in &request.headers {
        let lower = name.to_ascii_lowercase();
        if HOP_BY_HOP.contains(&lower.as_str()) || listed.contains(&lower) {
            continue;
        }
        if lower == "content-length" && request.framing != Framing::None {
            // hyper writes the length from the body's exact size, once.
            continue;
        }
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(invalid)?;
        let value = HeaderValue::from_str(value).map_err(invalid)?;
        headers.append(name, value);
    }
    let product = match proxy.plan.personality {
        Personality::Squid => " (squid/5.7)",
        Personality::Generic => "",
    };
    let via = format!("1.{} {}{product}", request.minor, proxy.plan.name);
    headers.append(
        hyper::header::VIA,
        HeaderValue::from_str(&via).map_err(invalid)?,
    );
    headers.insert(hyper::header::CONNECTION, HeaderValue::from_static("close"));
    Ok(outgoing)
}

/// The failure for a field or method hyper's types refuse.
fn invalid<E>(_: E) -> Failure {
    Failure::Malformed(Malformed::InvalidRequest)
}
