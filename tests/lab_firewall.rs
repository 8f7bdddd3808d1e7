//! Firewall rules and middleboxes, in process: each action seen from the client and from a proxy.

mod common;

use std::time::Duration;

use common::lab::http_get;
use egresslab::lab::{
    EndpointBehaviour, EndpointPlan, EventKind, FirewallAction, Lab, ProxyPlan, Route, Vantage,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const HOST: &str = "app.egresslab.test";

async fn lab_with(action: FirewallAction, from: Vantage) -> Lab {
    Lab::builder()
        .endpoint(EndpointPlan::http("app", &[HOST], 80).behaviour(EndpointBehaviour::Echo))
        .proxy(ProxyPlan::new("corp"))
        .firewall(from, "*.egresslab.test", Some(80), action)
        .start()
        .await
        .unwrap()
}

fn client(lab: &Lab) -> std::net::SocketAddr {
    lab.expect_endpoint("app").address()
}

#[tokio::test]
async fn reject_refuses_and_drop_times_out() {
    let rejecting = lab_with(FirewallAction::Reject, Vantage::Client).await;
    let refused = TcpStream::connect(client(&rejecting)).await.unwrap_err();
    assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);

    let dropping = lab_with(FirewallAction::Drop, Vantage::Client).await;
    let attempt = tokio::time::timeout(
        Duration::from_millis(500),
        TcpStream::connect(client(&dropping)),
    )
    .await;
    assert!(
        attempt.is_err(),
        "a dropped SYN must not be answered: {attempt:?}"
    );
    // The endpoint itself is untouched and the proxy's view is not filtered.
    let listen = dropping.expect_endpoint("app").listen_address();
    assert_eq!(
        dropping.route(HOST, 80, &Vantage::Proxy("corp".into())),
        Route::Connect(listen)
    );
    assert_ne!(client(&dropping), listen);
}

#[tokio::test]
async fn rules_apply_only_to_their_vantage_and_first_match_wins() {
    let lab = Lab::builder()
        .endpoint(EndpointPlan::http("app", &[HOST], 80))
        .proxy(ProxyPlan::new("corp"))
        .proxy(ProxyPlan::new("other"))
        .firewall(
            Vantage::Proxy("corp".into()),
            HOST,
            None,
            FirewallAction::Reject,
        )
        .firewall(Vantage::AnyProxy, "*", Some(80), FirewallAction::Drop)
        .firewall(Vantage::Any, "*", None, FirewallAction::Reject)
        .start()
        .await
        .unwrap();
    let from_corp = lab.route(HOST, 80, &Vantage::Proxy("corp".into()));
    let from_other = lab.route(HOST, 80, &Vantage::Proxy("other".into()));
    let from_client = lab.route(HOST, 80, &Vantage::Client);
    let (Route::Connect(corp), Route::Connect(other), Route::Connect(direct)) =
        (from_corp, from_other, from_client)
    else {
        panic!("{from_corp:?} {from_other:?} {from_client:?}");
    };
    assert_ne!(other, corp, "other proxy is dropped, not rejected");
    // Each reject rule has its own closed port, so a SYN's port names the rule that refused it.
    assert_ne!(corp, direct, "two reject rules, two closed ports");
    for refused in [corp, direct] {
        assert_eq!(
            TcpStream::connect(refused).await.unwrap_err().kind(),
            std::io::ErrorKind::ConnectionRefused
        );
    }
    assert!(
        tokio::time::timeout(Duration::from_millis(300), TcpStream::connect(other))
            .await
            .is_err()
    );
}

#[tokio::test]
async fn hang_accepts_and_stays_silent() {
    let lab = lab_with(FirewallAction::Hang, Vantage::Client).await;
    let mut stream = TcpStream::connect(client(&lab)).await.unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buffer = [0u8; 16];
    let read = tokio::time::timeout(Duration::from_millis(300), stream.read(&mut buffer)).await;
    assert!(read.is_err(), "hang must not answer: {read:?}");
    let fired = lab.timeline().events().iter().any(|event| {
        matches!(&event.kind, EventKind::Firewall { action, vantage, .. }
            if action == "hang" && vantage == "client")
    });
    assert!(fired, "{}", lab.timeline().to_json_lines());
}

#[tokio::test]
async fn reset_after_n_bytes_forwards_exactly_n_then_resets() {
    let lab = lab_with(FirewallAction::ResetAfter(10), Vantage::Client).await;
    let mut stream = TcpStream::connect(client(&lab)).await.unwrap();
    stream.write_all(b"0123456").await.unwrap();
    let mut echoed = [0u8; 3];
    stream.read_exact(&mut echoed).await.unwrap();
    assert_eq!(&echoed, b"012", "7 up + 3 down = 10 bytes relayed");
    let mut rest = Vec::new();
    let end = tokio::time::timeout(Duration::from_secs(2), stream.read_to_end(&mut rest))
        .await
        .unwrap();
    let error = end.expect_err("the middlebox resets");
    assert_eq!(error.kind(), std::io::ErrorKind::ConnectionReset);
    let events = lab.timeline().to_json_lines();
    assert!(events.contains("reset after 10 bytes"), "{events}");
}

#[tokio::test]
async fn allow_rule_leads_to_the_endpoint() {
    let lab = lab_with(FirewallAction::Allow, Vantage::Client).await;
    let endpoint = lab.expect_endpoint("app");
    assert_eq!(endpoint.address(), endpoint.listen_address());
    let mut stream = TcpStream::connect(endpoint.address()).await.unwrap();
    stream.write_all(b"ping").await.unwrap();
    let mut echoed = [0u8; 4];
    stream.read_exact(&mut echoed).await.unwrap();
    assert_eq!(&echoed, b"ping");
}

#[tokio::test]
async fn kill_tls12_lets_plain_http_through() {
    let lab = Lab::builder()
        .endpoint(EndpointPlan::http("app", &[HOST], 80))
        .firewall(Vantage::Client, HOST, None, FirewallAction::KillTls12)
        .start()
        .await
        .unwrap();
    let answer = http_get(client(&lab), HOST, "/").await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
}
