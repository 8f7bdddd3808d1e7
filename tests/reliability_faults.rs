//! Faults: origins dying mid-transfer, clients vanishing mid-request, half-closed tunnels, slow
//! readers, slowloris, over-limit heads and connection floods. Each time the proxy closes the right
//! side, says why in the timeline, and goes on serving.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::proxy::{exchange, header_values, proxy_addr, read_head, status, world, ECHO};
use egresslab::lab::{Event, EventKind, Lab, ProxyPlan, Timeline};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

fn connect(host: &str, port: u16) -> Vec<u8> {
    format!("CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n").into_bytes()
}

/// The reasons the proxy recorded for closed connections, in order.
fn closed_reasons(timeline: &Timeline) -> Vec<String> {
    timeline
        .events()
        .into_iter()
        .filter_map(|e| match e.kind {
            EventKind::Closed { reason, .. } if e.source.starts_with("proxy:") => Some(reason),
            _ => None,
        })
        .collect()
}

fn is_proxy_close(event: &Event) -> bool {
    event.source.starts_with("proxy:") && matches!(event.kind, EventKind::Closed { .. })
}

async fn wait_for_reason(timeline: &Timeline, wanted: &str) -> Vec<String> {
    let expected = format!("a proxy close with a reason containing {wanted:?}");
    timeline
        .assert_event(&expected, Duration::from_secs(10), |event| {
            is_proxy_close(event)
                && matches!(&event.kind, EventKind::Closed { reason, .. } if reason.contains(wanted))
        })
        .await;
    closed_reasons(timeline)
}

/// Wait until the proxy recorded `count` closed connections in all.
async fn wait_for_closes(timeline: &Timeline, count: usize) {
    let mut closes = 0;
    timeline
        .assert_event(
            &format!("the proxy's close number {count}"),
            Duration::from_secs(10),
            |event| {
                closes += usize::from(is_proxy_close(event));
                closes == count
            },
        )
        .await;
}

/// A full tunnel round trip: the proxy still serves.
async fn still_serving(proxy: SocketAddr) {
    let mut stream = TcpStream::connect(proxy).await.unwrap();
    stream.write_all(&connect(ECHO, 443)).await.unwrap();
    assert_eq!(status(&read_head(&mut stream).await), 200);
    stream.write_all(b"still here").await.unwrap();
    let mut back = [0u8; 10];
    tokio::time::timeout(Duration::from_secs(5), stream.read_exact(&mut back))
        .await
        .expect("echo within 5 s")
        .unwrap();
    assert_eq!(&back, b"still here");
}

/// A lab whose `origin.fault.test:9000` is the given real listener.
async fn lab_with_origin(origin: SocketAddr, plan: ProxyPlan) -> Lab {
    world()
        .proxy(plan)
        .passthrough("origin.fault.test", Some(9000), origin)
        .start()
        .await
        .unwrap()
}

#[tokio::test]
async fn an_origin_dying_mid_transfer_closes_the_client_side() {
    let origin = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = origin.local_addr().unwrap();
    let lab = lab_with_origin(address, ProxyPlan::new("corp")).await;
    let proxy = proxy_addr(&lab, "corp");
    let mut client = TcpStream::connect(proxy).await.unwrap();
    client
        .write_all(&connect("origin.fault.test", 9000))
        .await
        .unwrap();
    let (mut server, _) = origin.accept().await.unwrap();
    assert_eq!(status(&read_head(&mut client).await), 200);
    server.write_all(b"first half of the ans").await.unwrap();
    let mut part = [0u8; 21];
    client.read_exact(&mut part).await.unwrap();
    // The origin dies with a reset, mid-answer.
    server.set_zero_linger().unwrap();
    drop(server);
    let mut rest = Vec::new();
    let ended = tokio::time::timeout(Duration::from_secs(5), client.read_to_end(&mut rest)).await;
    assert!(ended.is_ok(), "the client side was not closed");
    let reasons = wait_for_reason(lab.timeline(), "origin").await;
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("origin error") || r == "origin closed first"),
        "{reasons:?}"
    );
    still_serving(proxy).await;
    lab.shutdown().await;
}

#[tokio::test]
async fn clients_vanishing_mid_request_or_mid_tunnel_are_recorded() {
    let lab = world().proxy(ProxyPlan::new("corp")).start().await.unwrap();
    let proxy = proxy_addr(&lab, "corp");
    // Gone half-way through the request head.
    let mut half = TcpStream::connect(proxy).await.unwrap();
    half.write_all(b"CONNECT echo.egresslab.test:443 HTTP/1.1\r\nHo")
        .await
        .unwrap();
    drop(half);
    wait_for_reason(lab.timeline(), "client closed mid-request").await;
    // Gone with a reset right after the tunnel opened.
    let mut gone = TcpStream::connect(proxy).await.unwrap();
    gone.write_all(&connect(ECHO, 443)).await.unwrap();
    assert_eq!(status(&read_head(&mut gone).await), 200);
    gone.set_zero_linger().unwrap();
    drop(gone);
    wait_for_closes(lab.timeline(), 2).await;
    let reasons = closed_reasons(lab.timeline());
    assert!(
        reasons[1].starts_with("client error") || reasons[1] == "client closed first",
        "{reasons:?}"
    );
    still_serving(proxy).await;
    lab.shutdown().await;
}

#[tokio::test]
async fn a_half_closed_tunnel_still_carries_the_answer() {
    let origin = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let lab = lab_with_origin(origin.local_addr().unwrap(), ProxyPlan::new("corp")).await;
    let proxy = proxy_addr(&lab, "corp");
    let mut client = TcpStream::connect(proxy).await.unwrap();
    client
        .write_all(&connect("origin.fault.test", 9000))
        .await
        .unwrap();
    let (mut server, _) = origin.accept().await.unwrap();
    assert_eq!(status(&read_head(&mut client).await), 200);
    client.write_all(b"request").await.unwrap();
    client.shutdown().await.unwrap();
    let mut asked = Vec::new();
    server.read_to_end(&mut asked).await.unwrap();
    assert_eq!(
        asked, b"request",
        "the origin sees the half-close after the data"
    );
    server.write_all(b"late answer").await.unwrap();
    drop(server);
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), client.read_to_end(&mut answer))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(answer, b"late answer");
    wait_for_reason(lab.timeline(), "client closed first").await;
    still_serving(proxy).await;
    lab.shutdown().await;
}

#[tokio::test]
async fn a_slow_reader_gets_backpressure_not_an_unbounded_buffer() {
    let origin = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let lab = lab_with_origin(origin.local_addr().unwrap(), ProxyPlan::new("corp")).await;
    let proxy = proxy_addr(&lab, "corp");
    let mut client = TcpStream::connect(proxy).await.unwrap();
    client
        .write_all(&connect("origin.fault.test", 9000))
        .await
        .unwrap();
    let (mut server, _) = origin.accept().await.unwrap();
    assert_eq!(status(&read_head(&mut client).await), 200);
    // The client reads nothing: the origin's 64 MiB cannot all be taken within a second (kernel
    // buffers and the proxy's 16 KiB hold a few MiB at most).
    let big = vec![b'x'; 64 << 20];
    let flood = tokio::time::timeout(Duration::from_secs(1), server.write_all(&big)).await;
    assert!(
        flood.is_err(),
        "the proxy buffered 64 MiB for a client that reads nothing"
    );
    // The slow reader finally reads a little, then leaves: the origin side is closed too.
    let mut some = [0u8; 4096];
    client.read_exact(&mut some).await.unwrap();
    client.set_zero_linger().unwrap();
    drop(client);
    let mut sink = [0u8; 1];
    let origin_end = tokio::time::timeout(Duration::from_secs(5), async {
        while server.write(&big[..65536]).await.is_ok() {}
        let _ = server.read(&mut sink).await;
    })
    .await;
    assert!(
        origin_end.is_ok(),
        "the origin side stayed open after the client left"
    );
    wait_for_reason(lab.timeline(), "client error").await;
    still_serving(proxy).await;
    lab.shutdown().await;
}

#[tokio::test]
async fn slowloris_is_cut_off_after_the_header_time_out() {
    let timeout = Duration::from_millis(400);
    let lab = world()
        .proxy(ProxyPlan {
            header_timeout: timeout,
            ..ProxyPlan::new("corp")
        })
        .start()
        .await
        .unwrap();
    let proxy = proxy_addr(&lab, "corp");
    let mut slow = TcpStream::connect(proxy).await.unwrap();
    let started = Instant::now();
    let head = b"CONNECT echo.egresslab.test:443 HTTP/1.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";
    let mut cut_after = None;
    for byte in head.iter().cycle().take(400) {
        if slow.write_all(&[*byte]).await.is_err() {
            cut_after = Some(started.elapsed());
            break;
        }
        // The trickle: one byte every 20 ms, always inside the time-out between two bytes.
        tokio::time::sleep(Duration::from_millis(20)).await;
        let mut probe = [0u8; 1];
        if let Ok(Ok(0)) =
            tokio::time::timeout(Duration::from_millis(1), slow.read(&mut probe)).await
        {
            cut_after = Some(started.elapsed());
            break;
        }
    }
    let cut_after = cut_after.expect("the trickling client was never cut off");
    assert!(
        cut_after >= timeout && cut_after < timeout * 5,
        "cut off after {cut_after:?} with a {timeout:?} time-out"
    );
    wait_for_reason(lab.timeline(), "header time-out").await;
    still_serving(proxy).await;
    lab.shutdown().await;
}

#[tokio::test]
async fn over_limit_heads_get_squid_answers() {
    let lab = world()
        .proxy(ProxyPlan {
            max_head_bytes: 4096,
            ..ProxyPlan::new("corp")
        })
        .start()
        .await
        .unwrap();
    let proxy = proxy_addr(&lab, "corp");
    let fields = format!("X-Big: {}\r\n", "b".repeat(5000));
    let big_fields = format!("CONNECT {ECHO}:443 HTTP/1.1\r\n{fields}\r\n");
    let head = exchange(proxy, big_fields.as_bytes()).await;
    assert_eq!(status(&head), 431, "{head}");
    assert_eq!(header_values(&head, "X-Squid-Error"), ["ERR_TOO_BIG 0"]);
    let long_line = format!("CONNECT {}:443 HTTP/1.1\r\n\r\n", "a".repeat(5000));
    let head = exchange(proxy, long_line.as_bytes()).await;
    assert_eq!(status(&head), 414, "{head}");
    // Just under the limit is fine.
    let fits = format!(
        "CONNECT {ECHO}:443 HTTP/1.1\r\nX-Fits: {}\r\n\r\n",
        "c".repeat(3900)
    );
    assert_eq!(status(&exchange(proxy, fits.as_bytes()).await), 200);
    still_serving(proxy).await;
    lab.shutdown().await;
}

#[tokio::test]
async fn a_flood_beyond_the_connection_cap_is_refused_at_once() {
    let cap = 8;
    let lab = world()
        .proxy(ProxyPlan {
            max_connections: cap,
            ..ProxyPlan::new("corp")
        })
        .start()
        .await
        .unwrap();
    let proxy = proxy_addr(&lab, "corp");
    // Fill every slot with tunnels that stay open.
    let mut held = Vec::new();
    for _ in 0..cap {
        let mut stream = TcpStream::connect(proxy).await.unwrap();
        stream.write_all(&connect(ECHO, 443)).await.unwrap();
        assert_eq!(status(&read_head(&mut stream).await), 200);
        held.push(stream);
    }
    // The flood: each extra connection is answered 503 and closed, none waits in a queue.
    for _ in 0..20 {
        let mut extra = TcpStream::connect(proxy).await.unwrap();
        let mut answer = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(2), extra.read_to_end(&mut answer))
            .await
            .expect("a connection beyond the cap is closed at once, not queued");
        let text = String::from_utf8_lossy(&answer);
        assert!(
            read.is_err() || answer.is_empty() || text.starts_with("HTTP/1.1 503"),
            "{text}"
        );
    }
    let refused = closed_reasons(lab.timeline())
        .iter()
        .filter(|r| r.contains("connection cap of 8"))
        .count();
    assert_eq!(refused, 20);
    // Slots free up when tunnels close; then the proxy serves again.
    drop(held);
    wait_for_closes(lab.timeline(), 20 + cap).await;
    still_serving(proxy).await;
    lab.shutdown().await;
}
