//! Hostile bytes against a live proxy: after every malformed request and every random blob, a good
//! request on a fresh connection still tunnels. Random heads never crash the parser (proptest).

mod common;

use std::time::Duration;

use common::proxy::{proxy_addr, read_head, status, world, ECHO};
use egresslab::fuzzing::{check_proxy_authorization, parse_request, Parsed};
use egresslab::lab::ProxyPlan;
use proptest::prelude::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn good_request_succeeds(proxy: std::net::SocketAddr) {
    let mut stream = TcpStream::connect(proxy).await.unwrap();
    stream
        .write_all(format!("CONNECT {ECHO}:443 HTTP/1.1\r\n\r\n").as_bytes())
        .await
        .unwrap();
    assert_eq!(status(&read_head(&mut stream).await), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proxy_keeps_serving_after_each_hostile_request() {
    let lab = world()
        .proxy(ProxyPlan {
            header_timeout: Duration::from_millis(500),
            ..ProxyPlan::new("corp")
        })
        .start()
        .await
        .unwrap();
    let proxy = proxy_addr(&lab, "corp");
    let mut hostile: Vec<Vec<u8>> =
        vec![
        b"CONNECT echo.egresslab.test:0 HTTP/1.1\r\n\r\n".to_vec(),
        b"CONNECT ::1:443 HTTP/1.1\r\n\r\n".to_vec(),
        b"CONNECT [::1:443 HTTP/1.1\r\n\r\n".to_vec(),
        b"CONNECT echo.egresslab.test:443\r\n\r\n".to_vec(),
        b"CONNECT echo.egresslab.test:443 HTTP/9.9\r\n\r\n".to_vec(),
        b"CONNECT echo\0.egresslab.test:443 HTTP/1.1\r\n\r\n".to_vec(),
        b"CONNECT echo.egresslab.test:443 HTTP/1.1\r\nX: a\0b\r\n\r\n".to_vec(),
        b"GET http://%%%/ HTTP/1.1\r\n\r\n".to_vec(),
        b"GET ftp://x/ HTTP/1.1\r\n\r\n".to_vec(),
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03".to_vec(),
        b"\xff\xfe\xfd\r\n\r\n".to_vec(),
        b"CONNECT a:443 HTTP/1.1\r\nbad header line\r\n\r\n".to_vec(),
        [b"CONNECT a:443 HTTP/1.1\r\n".as_slice(), &b"X: y\r\n".repeat(200), b"\r\n"].concat(),
        [b"CONNECT ".as_slice(), &[b'a'; 70_000], b":443 HTTP/1.1\r\n\r\n"].concat(),
        vec![b'\n'; 100_000],
        b"CONNECT echo.egresslab.test:443 HTTP/1.1\r\nProxy-Authorization: Basic \xff\xff\r\n\r\n"
            .to_vec(),
    ];
    // Deterministic pseudo-random blobs (xorshift), no seed file needed.
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    for len in [1usize, 7, 64, 512, 4096, 65_537] {
        let blob: Vec<u8> = (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state & 0xff) as u8
            })
            .collect();
        hostile.push(blob);
    }
    for raw in &hostile {
        let mut stream = TcpStream::connect(proxy).await.unwrap();
        let _ = stream.write_all(raw).await;
        // Whatever the answer, the proxy ends it within the header time-out or at once, unless
        // the bytes were a valid request and the tunnel is open.
        let mut answer = Vec::new();
        let ended =
            tokio::time::timeout(Duration::from_secs(3), stream.read_to_end(&mut answer)).await;
        assert!(
            ended.is_ok() || answer.starts_with(b"HTTP/1.1 200"),
            "the proxy kept a hostile connection open: {:?}",
            String::from_utf8_lossy(&raw[..raw.len().min(60)])
        );
        good_request_succeeds(proxy).await;
    }
    lab.shutdown().await;
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn request_heads_never_panic_and_respect_the_limit(
        line in "(CONNECT|connect|GET|POST|\\PC{0,6}) \\PC{0,40}( HTTP/[0-9]\\.[0-9])?",
        fields in proptest::collection::vec("[A-Za-z-]{0,12}: ?\\PC{0,30}", 0..8),
        limit in 16usize..512,
    ) {
        let raw = format!("{line}\r\n{}\r\n\r\n", fields.join("\r\n"));
        match parse_request(raw.as_bytes(), limit) {
            Parsed::Request { used, port, .. } => {
                prop_assert!(used <= limit && used <= raw.len());
                prop_assert!(port != 0);
            }
            Parsed::Refused(reason) => prop_assert!(!reason.is_empty()),
            Parsed::Incomplete => prop_assert!(raw.len() < limit + 4),
        }
    }

    #[test]
    fn proxy_authorization_accepts_only_the_exact_credentials(value in "\\PC{0,80}") {
        let outcome = check_proxy_authorization(Some(&value), "alice", "s3cret");
        prop_assert!(["Accepted", "Missing", "Rejected", "Unsupported"].contains(&outcome.as_str()));
        if outcome == "Accepted" {
            prop_assert_eq!(value.split_whitespace().nth(1), Some("YWxpY2U6czNjcmV0"));
        }
    }
}
