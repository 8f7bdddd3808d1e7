//! Breaks 4, 5 and 6 of issue 20 against a live lab proxy over real sockets: a flood of leading
//! empty lines is refused at the head limit, conflicting framing is refused as Squid 5.7 refuses
//! it, and a userinfo in a CONNECT target is refused and never reaches the timeline.

mod common;

use std::time::Duration;

use common::proxy::{lab_with, proxy_addr, read_head, status, ECHO};
use egresslab::lab::ProxyPlan;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leading_empty_lines_past_the_limit_are_refused_at_once() {
    let lab = lab_with(ProxyPlan {
        header_timeout: Duration::from_secs(30),
        ..ProxyPlan::new("corp")
    })
    .await;
    let proxy = proxy_addr(&lab, "corp");
    let mut stream = TcpStream::connect(proxy).await.unwrap();
    let chunk = b"\r\n".repeat(16 * 1024);
    // 1 MiB of empty lines: the proxy answers after 64 KiB, long before the header time-out.
    for _ in 0..32 {
        if stream.write_all(&chunk).await.is_err() {
            break;
        }
    }
    let head = read_head(&mut stream).await;
    assert_eq!(status(&head), 400, "{head}");
    assert!(head.contains("ERR_PROTOCOL_UNKNOWN"), "{head}");
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conflicting_framing_and_userinfo_are_refused() {
    let lab = lab_with(ProxyPlan::new("corp")).await;
    let proxy = proxy_addr(&lab, "corp");
    let cases: Vec<(String, u16, &str)> = vec![
        (
            format!("CONNECT {ECHO}:443 HTTP/1.1\r\nContent-Length: 0\r\nContent-Length: 40\r\n\r\n"),
            411,
            "ERR_INVALID_REQ",
        ),
        (
            "POST http://web.egresslab.test/ HTTP/1.1\r\nContent-Length: 0\r\nContent-Length: 40\r\n\r\n".to_owned(),
            411,
            "ERR_INVALID_REQ",
        ),
        (
            "POST http://web.egresslab.test/ HTTP/1.1\r\nContent-Length: +3\r\n\r\nabc".to_owned(),
            411,
            "ERR_INVALID_REQ",
        ),
        (
            "POST http://web.egresslab.test/ HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n".to_owned(),
            501,
            "ERR_UNSUP_REQ",
        ),
        (
            format!("CONNECT user:S3cretPassw0rd@{ECHO}:443 HTTP/1.1\r\n\r\n"),
            400,
            "ERR_INVALID_URL",
        ),
    ];
    for (raw, expected, error) in &cases {
        let mut stream = TcpStream::connect(proxy).await.unwrap();
        stream.write_all(raw.as_bytes()).await.unwrap();
        let head = read_head(&mut stream).await;
        assert_eq!(status(&head), *expected, "{raw:?}: {head}");
        assert!(head.contains(error), "{raw:?}: {head}");
    }
    let timeline = lab.timeline().to_json_lines();
    lab.shutdown().await;
    assert!(!timeline.contains("S3cretPassw0rd"), "{timeline}");
}
