//! A small lab for proxy tests and raw-socket helpers to talk to a proxy.

use std::net::SocketAddr;
use std::time::Duration;

use std::sync::Arc;

use egresslab::certs::Profile;
use egresslab::lab::{EndpointBehaviour, EndpointPlan, InterceptPlan, Lab, LabBuilder, ProxyPlan};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A plain echo server on `echo.egresslab.test:443`.
pub const ECHO: &str = "echo.egresslab.test";
/// A plain HTTP server on `web.egresslab.test:80` (nothing on its 443: refused).
pub const WEB: &str = "web.egresslab.test";
/// An HTTPS server with a valid lab certificate on `secure.egresslab.test:443`.
pub const SECURE: &str = "secure.egresslab.test";

/// The usual world: an echo origin, a plain web server and an HTTPS server.
pub fn world() -> LabBuilder {
    Lab::builder()
        .endpoint(EndpointPlan::http("echo", &[ECHO], 443).behaviour(EndpointBehaviour::Echo))
        .endpoint(EndpointPlan::http("web", &[WEB], 80))
        .endpoint(EndpointPlan::https("secure", &[SECURE], Profile::Valid))
}

/// A proxy that intercepts TLS to every host.
pub fn intercepting(name: &str) -> ProxyPlan {
    let mut proxy = ProxyPlan::new(name);
    proxy.intercept = Some(InterceptPlan {
        passthrough: Vec::new(),
    });
    proxy
}

/// A TLS client configuration that trusts no authority: it refuses every certificate with an alert.
pub fn client_trusting_nothing() -> Arc<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("default versions")
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth(),
    )
}

/// The ClientHello a real TLS client sends first to `host`.
pub fn client_hello(config: &Arc<rustls::ClientConfig>, host: &str) -> Vec<u8> {
    let name = rustls::pki_types::ServerName::try_from(host.to_owned()).expect("a server name");
    let mut hello = Vec::new();
    rustls::ClientConnection::new(Arc::clone(config), name)
        .expect("a client connection")
        .write_tls(&mut hello)
        .expect("a ClientHello");
    hello
}

/// A lab with the usual world and one proxy.
pub async fn lab_with(proxy: ProxyPlan) -> Lab {
    world().proxy(proxy).start().await.expect("lab starts")
}

/// The address of a proxy of the lab.
pub fn proxy_addr(lab: &Lab, name: &str) -> SocketAddr {
    lab.expect_proxy(name).address()
}

/// Read one answer head (up to the blank line) without consuming anything after it.
pub async fn read_head(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let read = async {
        while !head.ends_with(b"\r\n\r\n") {
            let mut byte = [0u8; 1];
            if stream.read(&mut byte).await.expect("read") == 0 {
                break;
            }
            head.push(byte[0]);
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .expect("answer within 10 s");
    String::from_utf8_lossy(&head).into_owned()
}

/// Send raw bytes to the proxy on a fresh connection and return the answer head.
pub async fn exchange(proxy: SocketAddr, raw: &[u8]) -> String {
    let mut stream = TcpStream::connect(proxy).await.expect("connect to proxy");
    stream.write_all(raw).await.expect("write");
    read_head(&mut stream).await
}

/// The status code of an answer head.
pub fn status(head: &str) -> u16 {
    head.split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status in {head:?}"))
}

/// Every value of a header in an answer head, in order.
pub fn header_values(head: &str, name: &str) -> Vec<String> {
    head.lines()
        .filter_map(|line| line.split_once(':'))
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim().to_owned())
        .collect()
}

/// Run curl with `args`; return (exit code, stdout, stderr).
pub async fn curl(args: &[&str]) -> (i32, String, String) {
    let output = tokio::process::Command::new("curl")
        .args(["-sS", "--max-time", "10"])
        .args(args)
        .output()
        .await
        .expect("curl runs");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}
