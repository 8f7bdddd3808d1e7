//! The lab proxy's Squid access lists over real sockets: `always_direct` bypasses the parent
//! (which here refuses everything, so the path taken shows in the answer), `deny_info TCP_RESET`
//! resets the client connection, and the rule that fired is in the timeline.

use std::net::SocketAddr;
use std::time::Duration;

use egresslab::lab::{
    parse_acl, AccessLine, Acl, DenyInfo, DenyPage, EventKind, Lab, ProxyPlan, ProxyRule,
    RuleAction, SquidAccess,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

fn acl(name: &str, kind: &str, values: &[&str]) -> Acl {
    let values: Vec<String> = values.iter().map(|v| (*v).to_owned()).collect();
    Acl {
        name: name.to_owned(),
        kind: parse_acl(kind, &values).unwrap(),
    }
}

fn line(text: &str) -> AccessLine {
    text.parse().unwrap()
}

/// CONNECT and read the status line, or `RESET` / `CLOSED` when the connection ends first.
async fn connect(proxy: SocketAddr, target: &str) -> String {
    let mut stream = TcpStream::connect(proxy).await.unwrap();
    stream
        .write_all(format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut buf = [0u8; 512];
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf))
        .await
        .expect("an answer or a reset");
    match read {
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => "RESET".to_owned(),
        Err(e) => panic!("read failed: {e}"),
        Ok(0) => "CLOSED".to_owned(),
        Ok(n) => String::from_utf8_lossy(&buf[..n])
            .lines()
            .next()
            .unwrap_or_default()
            .to_owned(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn always_direct_bypasses_the_parent_and_tcp_reset_resets() {
    let origin = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin_address = origin.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = origin.accept().await {
            drop(stream);
        }
    });
    let access = SquidAccess {
        acls: vec![
            acl("intranet", "dstdomain", &[".contoso.local"]),
            acl("tracker", "dstdomain", &[".tracker.test"]),
            acl("all", "all", &[]),
        ],
        http_access: vec![line("deny tracker"), line("allow all")],
        deny_info: vec![DenyInfo {
            page: DenyPage::Reset,
            acls: vec!["tracker".to_owned()],
        }],
        always_direct: vec![line("allow intranet")],
    };
    let child = ProxyPlan {
        upstream: Some("parent".to_owned()),
        access: Some(access),
        ..ProxyPlan::new("branch")
    };
    let parent = ProxyPlan {
        rules: vec![ProxyRule {
            hosts: "*".to_owned(),
            ports: vec![],
            action: RuleAction::Deny,
        }],
        ..ProxyPlan::new("parent")
    };
    let port = origin_address.port();
    let lab = Lab::builder()
        .proxy(child)
        .proxy(parent)
        .passthrough("*.contoso.local", Some(port), origin_address)
        .passthrough("www.example.test", Some(port), origin_address)
        .passthrough("www.tracker.test", Some(port), origin_address)
        .start()
        .await
        .unwrap();
    let proxy = lab.proxy("branch").unwrap().address();
    let direct = connect(proxy, &format!("wiki.contoso.local:{port}")).await;
    assert_eq!(direct, "HTTP/1.1 200 Connection established");
    // Not intranet: through the parent, which refuses it (Squid relays the parent's 403).
    let chained = connect(proxy, &format!("www.example.test:{port}")).await;
    assert_eq!(chained, "HTTP/1.1 403 Forbidden");
    let reset = connect(proxy, &format!("www.tracker.test:{port}")).await;
    assert_eq!(reset, "RESET", "TCP_RESET answers nothing and resets");
    let fired: Vec<String> = lab
        .timeline()
        .events()
        .into_iter()
        .filter_map(|e| match e.kind {
            EventKind::RuleFired { rule, .. } => Some(rule),
            _ => None,
        })
        .collect();
    assert!(
        fired
            .iter()
            .any(|r| r == "http_access line 1 (deny tracker)"),
        "{fired:?}"
    );
    lab.shutdown().await;
}
