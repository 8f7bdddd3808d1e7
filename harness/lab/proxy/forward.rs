//! Absolute-URI forwarding for plain HTTP: the request goes to the origin in origin-form (or to the
//! parent proxy as it came), the answer comes back as the origin gave it.

use std::time::Instant;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use crate::lab::exchange::{self, Seen};
use crate::lab::plan::Personality;

use super::answers::Failure;
use super::request::{Framing, Request, Target};
use super::tunnel::{relay, Relayed};
use super::{upstream, Proxy};

/// Headers that concern only the hop between client and proxy.
const HOP_BY_HOP: [&str; 6] = [
    "proxy-authorization",
    "proxy-connection",
    "connection",
    "keep-alive",
    "te",
    "upgrade",
];

/// Forward one absolute-URI request (through `parent` when given) and relay the answer; the
/// connection ends with it.
pub(crate) async fn forward<C>(
    proxy: &Proxy,
    client: C,
    request: &Request,
    leftover: &[u8],
    parent: Option<&str>,
) -> Result<Relayed, Failure>
where
    C: AsyncRead + AsyncWrite + Unpin,
{
    let Target::Absolute { host, port, path } = &request.target else {
        return Err(Failure::Malformed(super::request::Malformed::InvalidUrl));
    };
    let (mut origin, target) = match parent {
        Some(parent) => (
            upstream::connect_parent(proxy, parent).await?,
            request.raw_target.clone(),
        ),
        None => (
            upstream::connect_direct(proxy, host, *port).await?,
            path.clone(),
        ),
    };
    let head = origin_head(proxy, request, &target);
    let sent = async {
        origin.write_all(head.as_bytes()).await?;
        origin.write_all(leftover).await
    };
    if let Err(error) = sent.await {
        return Err(Failure::ConnectFail {
            errno: error.raw_os_error().unwrap_or(0),
            text: error.to_string(),
        });
    }
    let started = Instant::now();
    let mut client = client;
    // The origin's head is read here (and passed on as it came) so the timeline can record the
    // exchange; the body is relayed as it streams.
    let answer = match upstream::read_status(&mut origin).await {
        Ok(Some((status, answer_head, _))) => {
            let wait = started.elapsed();
            if client.write_all(&answer_head).await.is_err() {
                return Ok(Relayed {
                    up: (head.len() + leftover.len()) as u64,
                    down: 0,
                    reason: "client closed before the answer".to_owned(),
                });
            }
            Some((status, answer_head, wait))
        }
        _ => None,
    };
    let mut relayed = relay(&mut client, origin, &proxy.shutdown).await;
    relayed.up += (head.len() + leftover.len()) as u64;
    if let Some((status, answer_head, wait)) = answer {
        relayed.down += answer_head.len() as u64;
        let response_headers = exchange::response_head(&answer_head)
            .map(|(_, fields, _)| fields)
            .unwrap_or_default();
        let seen = Seen {
            role: "forwarded",
            method: &request.method,
            url: super::request::redact_userinfo(&request.raw_target).into_owned(),
            minor: request.minor,
            request_headers: &request.headers,
            request_body_bytes: leftover.len() as u64,
            status,
            response_headers,
            response_body_bytes: relayed.down - answer_head.len() as u64,
            wait,
            total: started.elapsed(),
        };
        proxy.record(seen.event());
    }
    Ok(relayed)
}

/// The request head as the origin (or parent) receives it: hop-by-hop fields removed, the
/// connection closed after one answer, a `Via` naming this proxy. The body's framing goes on as
/// the parser decided it: a chunked body loses any `Content-Length` (RFC 9112 §6.3 says a proxy
/// must remove it), a `Transfer-Encoding` other than chunked (`identity`) is dropped.
fn origin_head(proxy: &Proxy, request: &Request, target: &str) -> String {
    let mut head = format!("{} {target} HTTP/1.{}\r\n", request.method, request.minor);
    for (name, value) in &request.headers {
        let name_lower = name.to_ascii_lowercase();
        let framing_dropped = match name_lower.as_str() {
            "content-length" => request.framing == Framing::Chunked,
            "transfer-encoding" => request.framing != Framing::Chunked,
            _ => false,
        };
        if !framing_dropped && !HOP_BY_HOP.contains(&name_lower.as_str()) {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    let product = match proxy.plan.personality {
        Personality::Squid => " (squid/5.7)",
        Personality::Generic => "",
    };
    head.push_str(&format!(
        "Via: 1.{} {}{product}\r\nConnection: close\r\n\r\n",
        request.minor, proxy.plan.name
    ));
    head
}
