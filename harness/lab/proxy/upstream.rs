//! Reaching a destination: directly through the lab's routing table, or through a parent proxy.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::lab::leg;
use crate::lab::plan::{Family, Vantage};
use crate::lab::timeline::EventKind;
use crate::lab::world::Route;

use super::answers::Failure;
use super::Proxy;

/// Squid's errno for a refused connection.
const ECONNREFUSED: i32 = 111;
/// The errno of a connect with no route to the destination's network ("Network is unreachable").
const ENETUNREACH: i32 = 101;

/// Open a TCP connection to `host:port` as this proxy sees the world (no parent involved).
pub(crate) async fn connect_direct(
    proxy: &Proxy,
    host: &str,
    port: u16,
) -> Result<TcpStream, Failure> {
    let destination = format!("{host}:{port}");
    let vantage = Vantage::Proxy(proxy.plan.name.clone());
    let served = proxy.world.families_of(host);
    let paths = proxy.plan.families;
    // The proxy connects over v4 where both it and the destination have v4, else over v6; a
    // destination served only in a family the proxy has no path in is unreachable, as for a
    // real proxy without that route (connect(2) fails at once with ENETUNREACH).
    let family = if served.v4 && paths.v4 {
        Family::V4
    } else if served.v6 && paths.v6 {
        Family::V6
    } else {
        let decision = proxy.world.decide(host, port, &vantage);
        let address = match decision.route {
            Route::Connect(address) => Some(address),
            _ => None,
        };
        let (family, to) = address.map_or((Family::V6, destination.clone()), |a| {
            (Family::of(a.ip()), a.ip().to_string())
        });
        let failure = Failure::ConnectFail {
            errno: ENETUNREACH,
            text: format!("Network is unreachable (the proxy has no {family} path to {to})"),
        };
        return Err(proxy.failed(&destination, address, failure));
    };
    let decision = proxy.world.decide_in(host, port, &vantage, family);
    if let Some(tag) = &decision.rule {
        proxy.record(EventKind::Firewall {
            rule: tag.rule.clone(),
            vantage: proxy.source.clone(),
            action: tag.action.clone(),
            destination: destination.clone(),
        });
    }
    let address = match decision.route {
        Route::Connect(address) => address,
        Route::UnknownHost => return Err(proxy.failed(&destination, None, Failure::DnsFail)),
        Route::UndeclaredAddress => {
            return Err(proxy.failed(&destination, None, Failure::Undeclared))
        }
    };
    let stream = connect(proxy, address, &destination).await?;
    Ok(proxy.gate.tap_connected(stream, Some(host)).await)
}

/// Open this proxy's leg to `address` for `destination`, with its connect time-out, mapping errors
/// to Squid's view of them. The leg is in the timeline before its SYN leaves.
pub(crate) async fn connect(
    proxy: &Proxy,
    address: SocketAddr,
    destination: &str,
) -> Result<TcpStream, Failure> {
    let attempt = leg::open(&proxy.timeline, &proxy.source, address, destination);
    let failure = match tokio::time::timeout(proxy.plan.connect_timeout, attempt).await {
        Err(_) => Failure::ConnectTimeout,
        Ok(Ok(stream)) => {
            let _ = stream.set_nodelay(true);
            return Ok(stream);
        }
        Ok(Err(error)) => {
            let errno = match error.kind() {
                std::io::ErrorKind::ConnectionRefused => ECONNREFUSED,
                _ => error.raw_os_error().unwrap_or(0),
            };
            Failure::ConnectFail {
                errno,
                text: error.to_string(),
            }
        }
    };
    Err(proxy.failed(destination, Some(address), failure))
}

/// The parent proxy's address, or the failure a proxy gives when its parent is unknown.
pub(crate) async fn connect_parent(proxy: &Proxy, parent: &str) -> Result<TcpStream, Failure> {
    let destination = format!("parent proxy {parent}");
    let Some(address) = proxy.world.proxy_address(parent) else {
        let failure = Failure::ConnectFail {
            errno: 0,
            text: format!("parent proxy {parent} is not part of this lab"),
        };
        return Err(proxy.failed(&destination, None, failure));
    };
    let Some(route) = &proxy.route else {
        return connect(proxy, address, &destination).await;
    };
    if !route.enabled() {
        // The route was turned off through the control API: the parent is as unreachable as a
        // refused port.
        let failure = Failure::ConnectFail {
            errno: ECONNREFUSED,
            text: "Connection refused (the route to the parent is turned off)".to_owned(),
        };
        return Err(proxy.failed(&destination, Some(address), failure));
    }
    let stream = connect(proxy, address, &destination).await?;
    Ok(route.tap_connected(stream, None).await)
}

/// Open a tunnel to `host:port`: directly, or by a CONNECT to `parent`.
pub(crate) async fn open_tunnel(
    proxy: &Proxy,
    parent: Option<&str>,
    host: &str,
    port: u16,
) -> Result<TcpStream, Failure> {
    let Some(parent) = parent else {
        return connect_direct(proxy, host, port).await;
    };
    let mut stream = connect_parent(proxy, parent).await?;
    let authority = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let request = format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n\r\n");
    let exchange = async {
        stream.write_all(request.as_bytes()).await?;
        read_answer(&mut stream).await
    };
    match tokio::time::timeout(proxy.plan.connect_timeout, exchange).await {
        Ok(Ok(Some((200, _)))) => Ok(stream),
        Ok(Ok(Some((status, answer)))) => Err(Failure::ParentRefused { status, answer }),
        Ok(Ok(None)) | Ok(Err(_)) => Err(Failure::ParentBroken),
        Err(_) => Err(Failure::ConnectTimeout),
    }
}

/// Read a parent's answer to CONNECT: its status and, for a refusal, the head and a body of at most
/// `Content-Length` bytes (bounded by the head limit). `None` when the answer is not HTTP.
async fn read_answer(stream: &mut TcpStream) -> std::io::Result<Option<(u16, Vec<u8>)>> {
    let Some((status, mut answer, length)) = read_status(stream).await? else {
        return Ok(None);
    };
    if status != 200 {
        let length = length.min(super::request::HEAD_LIMIT);
        let mut body = vec![0u8; length];
        // A parent that announces more than it sends still gets its head relayed.
        let n = read_up_to(stream, &mut body).await?;
        answer.extend_from_slice(&body[..n]);
    }
    Ok(Some((status, answer)))
}

async fn read_up_to(stream: &mut TcpStream, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match stream.read(&mut buf[filled..]).await? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

/// Read a response head byte by byte (so nothing after it is consumed): its status, the head and
/// its `Content-Length`; `None` when the answer is not HTTP.
pub(crate) async fn read_status(
    stream: &mut TcpStream,
) -> std::io::Result<Option<(u16, Vec<u8>, usize)>> {
    let mut head = Vec::with_capacity(256);
    while !head.ends_with(b"\r\n\r\n") && !head.ends_with(b"\n\n") {
        if head.len() >= super::request::HEAD_LIMIT {
            return Ok(None);
        }
        let mut byte = [0u8; 1];
        if stream.read(&mut byte).await? == 0 {
            return Ok(None);
        }
        head.push(byte[0]);
    }
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut response = httparse::Response::new(&mut headers);
    let Ok(httparse::Status::Complete(_)) = response.parse(&head) else {
        return Ok(None);
    };
    let length = response
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("Content-Length"))
        .and_then(|h| std::str::from_utf8(h.value).ok())
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    Ok(response.code.map(|code| (code, head, length)))
}
