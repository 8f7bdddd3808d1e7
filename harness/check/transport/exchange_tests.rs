//! The checks' GET against a loopback server that answers with chosen bytes.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::*;

/// A server that reads one request head, hands it to the test, writes `answer` and then either
/// closes or holds the connection open for `hold`.
async fn serve_once(
    answer: Vec<u8>,
    hold: Duration,
) -> (std::net::SocketAddr, tokio::task::JoinHandle<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut request = Vec::new();
        let mut chunk = [0u8; 1024];
        while !request.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = socket.read(&mut chunk).await.unwrap();
            if n == 0 {
                break;
            }
            request.extend_from_slice(&chunk[..n]);
        }
        socket.write_all(&answer).await.unwrap();
        tokio::time::sleep(hold).await;
        request
    });
    (addr, task)
}

async fn get_from(addr: std::net::SocketAddr, timeout: Duration) -> Result<Answer, Failure> {
    let io: BoxIo = Box::new(TcpStream::connect(addr).await.unwrap());
    get(io, "portal.example.test", "/status?x=1", timeout).await
}

#[tokio::test]
async fn an_answer_is_read_with_its_reason_headers_and_body() {
    let (addr, server) = serve_once(
        b"HTTP/1.1 203 Quite Fine\r\nContent-Length: 5\r\nX-Seen: a\r\nX-Seen: b\r\n\r\nhello"
            .to_vec(),
        Duration::ZERO,
    )
    .await;
    let mut answer = get_from(addr, Duration::from_secs(5)).await.unwrap();
    assert_eq!(answer.status, 203);
    assert_eq!(answer.reason, "Quite Fine");
    assert_eq!(
        crate::check::transport::http::header_values(&answer.headers, "x-seen"),
        vec!["a", "b"]
    );
    assert_eq!(answer.content_length(), Some(5));
    assert_eq!(answer.collect(1024, Duration::from_secs(5)).await, b"hello");
    let request = String::from_utf8(server.await.unwrap()).unwrap();
    assert!(
        request.starts_with("GET /status?x=1 HTTP/1.1\r\n"),
        "{request}"
    );
    let lower = request.to_ascii_lowercase();
    assert!(
        lower.contains("\r\nhost: portal.example.test\r\n"),
        "{request}"
    );
    assert!(lower.contains("\r\nconnection: close\r\n"), "{request}");
    assert!(
        lower.contains("\r\nuser-agent: egresslab-check\r\n"),
        "{request}"
    );
}

#[tokio::test]
async fn a_chunked_body_is_read_to_its_end_and_bounded_by_the_limit() {
    let (addr, _server) = serve_once(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n"
            .to_vec(),
        Duration::from_secs(5),
    )
    .await;
    let mut answer = get_from(addr, Duration::from_secs(5)).await.unwrap();
    assert_eq!(answer.collect(5, Duration::from_secs(5)).await, b"abcde");
}

#[tokio::test]
async fn a_close_before_any_byte_is_told_from_a_close_mid_answer() {
    let (addr, _s) = serve_once(Vec::new(), Duration::ZERO).await;
    let failure = get_from(addr, Duration::from_secs(5)).await.err().unwrap();
    assert_eq!(failure.why, "closed without answering");
    assert_eq!(failure.alert, None);

    let (addr, _s) = serve_once(b"HTTP/1.1 200 OK\r\nServer: x".to_vec(), Duration::ZERO).await;
    let failure = get_from(addr, Duration::from_secs(5)).await.err().unwrap();
    assert_eq!(failure.why, "closed mid-answer after 26 bytes");
}

#[tokio::test]
async fn foreign_bytes_are_not_http_and_show_what_came() {
    let (addr, _s) = serve_once(
        b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n".to_vec(),
        Duration::from_secs(5),
    )
    .await;
    let failure = get_from(addr, Duration::from_secs(5)).await.err().unwrap();
    assert!(failure.why.starts_with(NOT_HTTP), "{}", failure.why);
    assert!(failure.why.contains("SSH-2.0-OpenSSH"), "{}", failure.why);
}

#[tokio::test]
async fn a_head_over_the_limit_is_refused() {
    let mut answer = b"HTTP/1.1 200 OK\r\n".to_vec();
    while answer.len() < HEAD_LIMIT + 1024 {
        answer.extend_from_slice(
            b"X-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n",
        );
    }
    let (addr, _s) = serve_once(answer, Duration::from_secs(5)).await;
    let failure = get_from(addr, Duration::from_secs(5)).await.err().unwrap();
    assert_eq!(failure.why, format!("{NOT_HTTP}: head larger than 64 KiB"));
}

#[tokio::test]
async fn silence_is_no_answer_within_the_time_out() {
    let (addr, _s) = serve_once(Vec::new(), Duration::from_secs(5)).await;
    let started = Instant::now();
    let failure = get_from(addr, Duration::from_millis(300))
        .await
        .err()
        .unwrap();
    assert!(failure.why.starts_with(NO_ANSWER), "{}", failure.why);
    assert!(started.elapsed() < Duration::from_secs(4));
}

#[tokio::test]
async fn a_slow_body_is_measured_not_waited_for() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut chunk = [0u8; 1024];
        let _ = socket.read(&mut chunk).await;
        socket
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
            .await
            .unwrap();
        for _ in 0..20 {
            socket.write_all(&[b'x'; 100]).await.unwrap();
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    let sent = Instant::now();
    let mut answer = get_from(addr, Duration::from_secs(5)).await.unwrap();
    let read = answer
        .read_body(256_000, sent, Duration::from_millis(400))
        .await;
    assert_eq!(read.announced, 100_000);
    assert!(read.bytes > 0 && read.bytes < 100_000, "{read:?}");
    assert!(read.elapsed < Duration::from_secs(3), "{read:?}");
}

/// A TLS 1.3 server that requires a client certificate refuses a client without one after the
/// handshake; the alert it sends is what the failure carries (the lost-certificate diagnoses read
/// it).
#[tokio::test]
async fn the_alert_that_ended_a_tls_session_is_kept() {
    use std::sync::Arc;

    use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec!["portal.example.test".to_owned()])
        .unwrap()
        .signed_by(&leaf_key, &rcgen::Issuer::from_params(&ca_params, &ca_key))
        .unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.der().clone()).unwrap();
    let roots = Arc::new(roots);
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        roots.clone(),
        provider.clone(),
    )
    .build()
    .unwrap();
    let server_config = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(
            vec![leaf.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
        )
        .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server_config));
    tokio::spawn(async move {
        let (socket, _) = listener.accept().await.unwrap();
        // The handshake fails on the server's side once the client's empty certificate arrives.
        let _ = acceptor.accept(socket).await;
    });
    let client_config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = TcpStream::connect(addr).await.unwrap();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(client_config))
        .connect("portal.example.test".try_into().unwrap(), tcp)
        .await
        .expect("TLS 1.3 completes on the client's side before the server judges its certificate");
    let failure = get(
        Box::new(tls),
        "portal.example.test",
        "/",
        Duration::from_secs(5),
    )
    .await
    .err()
    .unwrap();
    assert_eq!(
        failure.alert,
        Some(AlertDescription::CertificateRequired),
        "{failure:?}"
    );
    assert!(failure.why.starts_with("read failed"), "{failure:?}");
}
