//! Opening a connection along a route: directly, or with CONNECT through a proxy.

use std::time::Duration;

use anyhow::{bail, Context};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::Route;

/// The longest a proxy may take to answer a CONNECT before the load gives up.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);

/// A connected stream to the route's destination, the proxy's `200` already consumed.
pub async fn open(route: &Route) -> anyhow::Result<TcpStream> {
    let Some(via) = route.via else {
        let stream = TcpStream::connect(route.to.as_str())
            .await
            .with_context(|| format!("connecting to {}", route.to))?;
        stream.set_nodelay(true)?;
        return Ok(stream);
    };
    let mut stream = TcpStream::connect(via)
        .await
        .with_context(|| format!("connecting to the proxy {via}"))?;
    stream.set_nodelay(true)?;
    let request = format!("CONNECT {to} HTTP/1.1\r\nHost: {to}\r\n\r\n", to = route.to);
    stream.write_all(request.as_bytes()).await?;
    tokio::time::timeout(ANSWER_TIMEOUT, read_answer(&mut stream))
        .await
        .context("the proxy did not answer the CONNECT in time")??;
    Ok(stream)
}

/// Read a CONNECT answer head byte-exactly (nothing after it is consumed) and require a 200.
async fn read_answer(stream: &mut TcpStream) -> anyhow::Result<()> {
    let mut head = Vec::with_capacity(128);
    let mut chunk = [0u8; 256];
    loop {
        // Peek, then consume only up to the end of the head, so tunnel bytes stay in the socket.
        let n = stream.peek(&mut chunk).await?;
        if n == 0 {
            bail!("the proxy closed before answering");
        }
        let mut take = n;
        let mut done = false;
        for (i, byte) in chunk[..n].iter().enumerate() {
            head.push(*byte);
            if head.ends_with(b"\r\n\r\n") {
                take = i + 1;
                done = true;
                break;
            }
        }
        let mut sink = vec![0u8; take];
        stream.read_exact(&mut sink).await?;
        if done {
            break;
        }
        if head.len() > 16 * 1024 {
            bail!("the CONNECT answer head is too long");
        }
    }
    let status = head.split(|b| *b == b' ').nth(1).unwrap_or_default();
    if status != b"200" {
        let line = String::from_utf8_lossy(&head);
        bail!(
            "the proxy refused the CONNECT: {}",
            line.lines().next().unwrap_or_default()
        );
    }
    Ok(())
}
