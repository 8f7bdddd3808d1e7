//! Proxy passwords never reach the timeline or the logs, even at the most verbose level.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use base64::Engine;
use common::proxy::*;
use egresslab::lab::{AuthScheme, ProxyAuthPlan, ProxyPlan};

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

#[tokio::test]
async fn passwords_stay_out_of_timeline_and_trace_logs() {
    let captured = Captured::default();
    let sink = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || sink.clone())
        .finish();
    // A current-thread test runtime: every proxy task runs on this thread, under this subscriber.
    let _guard = tracing::subscriber::set_default(subscriber);

    let secret = "pa55-w0rd-secret";
    let plan = ProxyPlan {
        auth: Some(ProxyAuthPlan {
            schemes: vec![AuthScheme::Basic],
            realm: "corp".into(),
            users: vec![("carol".into(), secret.into())],
        }),
        ..ProxyPlan::new("corp")
    };
    let lab = lab_with(plan).await;
    let proxy = proxy_addr(&lab, "corp");
    for password in [secret, "wrong-secret-guess"] {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("carol:{password}"));
        let raw =
            format!("CONNECT {ECHO}:443 HTTP/1.1\r\nProxy-Authorization: Basic {token}\r\n\r\n");
        exchange(proxy, raw.as_bytes()).await;
    }
    let timeline = lab.timeline().to_json_lines();
    lab.shutdown().await;

    let logs = String::from_utf8_lossy(&captured.0.lock().unwrap()).into_owned();
    assert!(logs.contains("carol"), "the logs name the user: {logs}");
    assert!(timeline.contains("\"user\":\"carol\""));
    for leaked in [secret, "wrong-secret-guess", "Y2Fyb2w6"] {
        assert!(!logs.contains(leaked), "{leaked} in the logs");
        assert!(!timeline.contains(leaked), "{leaked} in the timeline");
    }
}
