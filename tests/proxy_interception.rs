//! TLS interception as the client sees it: how the proxy names the end of a client handshake it
//! could not complete (an alert is a refusal of the inspection certificate, a reset is not), and a
//! leaf cache that stays within its bounds.

mod common;

use std::time::Duration;

use common::proxy::{
    client_hello, client_trusting_nothing, intercepting, proxy_addr, read_head, status, world,
    SECURE,
};
use egresslab::lab::{EventKind, Lab};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn intercepting_lab() -> Lab {
    world()
        .proxy(intercepting("inspect"))
        .start()
        .await
        .expect("lab starts")
}

/// A tunnel through the proxy to `host:443`, answered 200.
async fn tunnel(lab: &Lab, host: &str) -> TcpStream {
    let mut stream = TcpStream::connect(proxy_addr(lab, "inspect"))
        .await
        .unwrap();
    let request = format!("CONNECT {host}:443 HTTP/1.1\r\nHost: {host}:443\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    assert_eq!(status(&read_head(&mut stream).await), 200);
    stream
}

/// The reason the proxy gave for its `nth` closed connection (from 1), waited for on the timeline.
async fn close_reason(lab: &Lab, nth: usize) -> String {
    let mut closes = 0;
    let closed = lab
        .timeline()
        .assert_event(
            &format!("the proxy's close number {nth}"),
            Duration::from_secs(10),
            |e| {
                closes += usize::from(
                    e.source == "proxy:inspect" && matches!(e.kind, EventKind::Closed { .. }),
                );
                closes == nth
            },
        )
        .await;
    match closed.kind {
        EventKind::Closed { reason, .. } => reason,
        _ => unreachable!(),
    }
}

#[tokio::test]
async fn a_client_that_rejects_the_inspection_certificate_is_reported_with_its_alert() {
    let lab = intercepting_lab().await;
    let stream = tunnel(&lab, SECURE).await;
    // A client that trusts nothing refuses the inspection leaf with an alert.
    let connector = tokio_rustls::TlsConnector::from(client_trusting_nothing());
    let name = ServerName::try_from(SECURE.to_owned()).unwrap();
    let refused = connector.connect(name, stream).await;
    assert!(refused.is_err(), "the handshake must fail");
    let reason = close_reason(&lab, 1).await;
    assert!(
        reason.starts_with("client refused the inspection certificate: alert "),
        "{reason}"
    );
    lab.shutdown().await;
}

#[tokio::test]
async fn a_client_that_resets_during_the_handshake_is_not_said_to_refuse() {
    let lab = intercepting_lab().await;
    let mut stream = tunnel(&lab, SECURE).await;
    let hello = client_hello(&client_trusting_nothing(), SECURE);
    stream.write_all(&hello).await.unwrap();
    // The proxy answered the ClientHello (so it waits for the client's next flight), then the
    // client resets.
    let mut server_hello = [0u8; 5];
    tokio::time::timeout(
        Duration::from_secs(10),
        stream.read_exact(&mut server_hello),
    )
    .await
    .expect("a ServerHello within 10 s")
    .unwrap();
    assert_eq!(server_hello[0], 0x16, "a TLS handshake record");
    stream.set_zero_linger().unwrap();
    drop(stream);
    let reason = close_reason(&lab, 1).await;
    assert_eq!(
        reason,
        "client reset the connection during the TLS handshake"
    );
    lab.shutdown().await;
}

#[tokio::test]
async fn the_leaf_cache_counts_hits_and_misses_per_host() {
    let lab = intercepting_lab().await;
    for nth in 1..=2 {
        let stream = tunnel(&lab, SECURE).await;
        let connector = tokio_rustls::TlsConnector::from(client_trusting_nothing());
        let name = ServerName::try_from(SECURE.to_owned()).unwrap();
        let _ = connector.connect(name, stream).await;
        close_reason(&lab, nth).await;
    }
    let stats = lab
        .expect_proxy("inspect")
        .leaf_cache()
        .expect("an intercepting proxy");
    assert_eq!(
        (stats.entries, stats.misses, stats.hits),
        (1, 1, 1),
        "{stats:?}"
    );
    assert_eq!(stats.capacity, 1_000);
    assert_eq!(
        lab.expect_proxy("inspect")
            .leaf_cache()
            .map(|s| s.evictions),
        Some(0)
    );
    lab.shutdown().await;
}
