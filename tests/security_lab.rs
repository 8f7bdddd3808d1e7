//! Security: the lab binds loopback unless told otherwise (and warns when it is), never relays to a
//! destination it does not define (IP literals in every spelling, absolute URIs, Host games), and
//! never lets a proxy password reach the timeline or the logs.

mod common;

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use common::proxy::{exchange, proxy_addr, status, world, ECHO};
use egresslab::lab::{AuthScheme, BindPolicy, Lab, ProxyAuthPlan, ProxyPlan};
use tokio::net::TcpListener;

/// A tracing writer into a shared buffer.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

fn subscriber(captured: &Captured) -> impl tracing::Subscriber + Send + Sync {
    let writer = captured.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish()
}

#[tokio::test]
async fn the_lab_binds_loopback_by_default() {
    let lab = world().proxy(ProxyPlan::new("corp")).start().await.unwrap();
    assert_eq!(lab.plan().bind, BindPolicy::Loopback);
    for endpoint in lab.endpoints() {
        assert!(endpoint.listen_address().ip().is_loopback(), "{endpoint:?}");
    }
    assert!(proxy_addr(&lab, "corp").ip().is_loopback());
    lab.shutdown().await;
}

#[tokio::test]
async fn an_explicit_non_loopback_bind_logs_a_warning() {
    let captured = Captured::default();
    let _guard = tracing::subscriber::set_default(subscriber(&captured));
    // Nothing listens in this lab (no endpoint, no proxy): only its closed port is bound, so the
    // unspecified address exposes nothing while the warning is checked.
    let lab = Lab::builder()
        .bind(BindPolicy::Explicit(IpAddr::V4(Ipv4Addr::UNSPECIFIED)))
        .start()
        .await
        .unwrap();
    lab.shutdown().await;
    let logs = captured.text();
    assert!(
        logs.contains("WARN") && logs.contains("non-loopback"),
        "no warning in: {logs}"
    );
    let quiet = Captured::default();
    let _guard = tracing::subscriber::set_default(subscriber(&quiet));
    Lab::builder().start().await.unwrap().shutdown().await;
    assert!(!quiet.text().contains("non-loopback"), "{}", quiet.text());
}

#[tokio::test]
async fn undefined_destinations_are_never_relayed() {
    // A real listener the plan never declares: reaching it would make the lab an open proxy.
    let bait = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let p = bait.local_addr().unwrap().port();
    let lab = world().proxy(ProxyPlan::new("corp")).start().await.unwrap();
    let proxy = proxy_addr(&lab, "corp");
    let targets = [
        format!("127.0.0.1:{p}"),
        format!("[::1]:{p}"),
        format!("0.0.0.0:{p}"),
        format!("2130706433:{p}"),
        format!("0x7f000001:{p}"),
        format!("017700000001:{p}"),
        format!("0177.0.0.1:{p}"),
        format!("127.1:{p}"),
        format!("localhost:{p}"),
        format!("[::ffff:127.0.0.1]:{p}"),
        format!("127.0.0.1.:{p}"),
        format!("{ECHO}.:{p}"),
    ];
    let mut requests: Vec<String> = targets
        .iter()
        .map(|t| format!("CONNECT {t} HTTP/1.1\r\nHost: {ECHO}:443\r\n\r\n"))
        .collect();
    requests.extend([
        format!("GET http://127.0.0.1:{p}/ HTTP/1.1\r\nHost: {ECHO}\r\n\r\n"),
        format!("GET http://[::1]:{p}/ HTTP/1.1\r\nHost: {ECHO}\r\n\r\n"),
        format!("GET http://2130706433:{p}/ HTTP/1.1\r\nHost: 127.0.0.1:{p}\r\n\r\n"),
        format!(
            "GET http://undeclared.egresslab.test:{p}/ HTTP/1.1\r\nHost: 127.0.0.1:{p}\r\n\r\n"
        ),
        format!("GET http://{ECHO}@127.0.0.1:{p}/ HTTP/1.1\r\nHost: {ECHO}\r\n\r\n"),
        format!("GET /relative HTTP/1.1\r\nHost: 127.0.0.1:{p}\r\n\r\n"),
        format!("CONNECT undeclared.egresslab.test:{p} HTTP/1.1\r\nHost: 127.0.0.1:{p}\r\n\r\n"),
    ]);
    for request in &requests {
        let head = exchange(proxy, request.as_bytes()).await;
        let code = status(&head);
        assert!(
            matches!(code, 400 | 403 | 500 | 503),
            "{request:?} was answered {code}: {head}"
        );
    }
    let reached = tokio::time::timeout(Duration::from_millis(200), bait.accept()).await;
    assert!(reached.is_err(), "the undeclared listener was reached");
    lab.shutdown().await;
}

#[tokio::test]
async fn proxy_passwords_never_reach_the_timeline_or_the_logs() {
    let captured = Captured::default();
    let _guard = tracing::subscriber::set_default(subscriber(&captured));
    let password = "Sup3r-S3cret-Pa55";
    let lab = world()
        .proxy(ProxyPlan {
            auth: Some(ProxyAuthPlan {
                schemes: vec![AuthScheme::Basic],
                realm: "corp".into(),
                users: vec![("alice".into(), password.into())],
            }),
            ..ProxyPlan::new("corp")
        })
        .start()
        .await
        .unwrap();
    let proxy = proxy_addr(&lab, "corp");
    let encode = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let good = encode(&format!("alice:{password}"));
    let wrong = encode(&format!("alice:{password}X"));
    for (credentials, expected) in [(&good, 200), (&wrong, 407)] {
        let request = format!(
            "CONNECT {ECHO}:443 HTTP/1.1\r\nProxy-Authorization: Basic {credentials}\r\n\r\n"
        );
        assert_eq!(status(&exchange(proxy, request.as_bytes()).await), expected);
    }
    let recorded = lab.timeline().clone();
    lab.shutdown().await;
    let timeline = recorded.to_json_lines();
    let logs = captured.text();
    assert!(
        logs.contains("proxy_connection"),
        "the capture saw nothing: {logs}"
    );
    assert!(
        timeline.contains("alice"),
        "the user name is recorded: {timeline}"
    );
    for secret in [password, good.as_str(), wrong.as_str()] {
        assert!(!timeline.contains(secret), "{secret} in the timeline");
        assert!(!logs.contains(secret), "{secret} in the logs");
    }
}
