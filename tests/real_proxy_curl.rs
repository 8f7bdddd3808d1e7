//! curl through the lab proxy: tunnels, 407, credentials, denials and connect failures, forwarding.

mod common;

use common::proxy::*;
use egresslab::lab::{
    AuthScheme, EndpointPlan, Lab, ProxyAuthPlan, ProxyPlan, ProxyRule, RuleAction,
};

/// curl < 8.20 exits 56 on a failed CONNECT, newer ones 7; the message is what matters.
fn assert_tunnel_failed(result: &(i32, String, String), status: u16) {
    let (code, _, stderr) = result;
    assert!(*code == 56 || *code == 7, "exit {code}: {stderr}");
    assert!(
        stderr.contains(&format!("CONNECT tunnel failed, response {status}")),
        "{stderr}"
    );
}

async fn lab(proxy: ProxyPlan) -> Lab {
    world()
        .endpoint(EndpointPlan::http(
            "plain443",
            &["tunnel.egresslab.test"],
            443,
        ))
        .endpoint(EndpointPlan::http(
            "denied",
            &["denied.egresslab.test"],
            443,
        ))
        .proxy(proxy)
        .start()
        .await
        .expect("lab starts")
}

fn squid_like() -> ProxyPlan {
    ProxyPlan {
        rules: vec![
            ProxyRule {
                hosts: "denied.egresslab.test".into(),
                ports: vec![],
                action: RuleAction::Deny,
            },
            ProxyRule {
                hosts: "*".into(),
                ports: vec![],
                action: RuleAction::Allow,
            },
        ],
        squid_default_ports: true,
        ..ProxyPlan::new("corp")
    }
}

#[tokio::test]
async fn curl_tunnels_https_and_plain_and_forwards_http() {
    let lab = lab(squid_like()).await;
    let proxy = lab.proxy("corp").unwrap().url();
    let bundle = lab.ca_bundle_path().to_str().unwrap().to_owned();
    let https = curl(&[
        "-x",
        &proxy,
        "--cacert",
        &bundle,
        "https://secure.egresslab.test/",
    ])
    .await;
    assert_eq!(https.0, 0, "{}", https.2);
    assert_eq!(https.1, "ok\n");
    let tunnelled = curl(&["-p", "-x", &proxy, "http://tunnel.egresslab.test:443/"]).await;
    assert_eq!(tunnelled.0, 0, "{}", tunnelled.2);
    let forwarded = curl(&[
        "-x",
        &proxy,
        "-w",
        "%{http_code}",
        "http://web.egresslab.test/",
    ])
    .await;
    assert_eq!(
        (forwarded.0, forwarded.1.as_str()),
        (0, "ok\n200"),
        "{}",
        forwarded.2
    );
    lab.shutdown().await;
}

#[tokio::test]
async fn curl_sees_403_for_a_denied_host_and_for_connect_to_port_80() {
    let lab = lab(squid_like()).await;
    let proxy = lab.proxy("corp").unwrap().url();
    assert_tunnel_failed(
        &curl(&["-p", "-x", &proxy, "http://denied.egresslab.test:443/"]).await,
        403,
    );
    assert_tunnel_failed(
        &curl(&["-p", "-x", &proxy, "http://web.egresslab.test:80/"]).await,
        403,
    );
    lab.shutdown().await;
}

#[tokio::test]
async fn curl_sees_500_for_an_unknown_host_and_503_for_a_refused_origin() {
    let lab = lab(squid_like()).await;
    let proxy = lab.proxy("corp").unwrap().url();
    // Squid 5.7's answer for a name it cannot resolve (tests/real_squid_differential.rs).
    assert_tunnel_failed(
        &curl(&["-p", "-x", &proxy, "http://nowhere.egresslab.test:443/"]).await,
        500,
    );
    assert_tunnel_failed(
        &curl(&["-p", "-x", &proxy, "http://web.egresslab.test:443/"]).await,
        503,
    );
    lab.shutdown().await;
}

#[tokio::test]
async fn curl_gets_407_without_credentials_and_a_tunnel_with_them() {
    let plan = ProxyPlan {
        auth: Some(ProxyAuthPlan {
            schemes: vec![AuthScheme::Basic, AuthScheme::Ntlm, AuthScheme::Negotiate],
            realm: "corp".into(),
            users: vec![("alice".into(), "wonder-land".into())],
        }),
        ..ProxyPlan::new("corp")
    };
    let lab = lab(plan).await;
    let proxy = lab.proxy("corp").unwrap().url();
    let target = "http://tunnel.egresslab.test:443/";
    assert_tunnel_failed(&curl(&["-p", "-x", &proxy, target]).await, 407);
    assert_tunnel_failed(
        &curl(&["-p", "-x", &proxy, "--proxy-user", "alice:wrong", target]).await,
        407,
    );
    let ok = curl(&[
        "-p",
        "-x",
        &proxy,
        "--proxy-user",
        "alice:wonder-land",
        target,
    ])
    .await;
    assert_eq!((ok.0, ok.1.as_str()), (0, "ok\n"), "{}", ok.2);
    let timeline = lab.timeline().to_json_lines();
    assert!(
        !timeline.contains("wonder-land"),
        "the password reached the timeline"
    );
    lab.shutdown().await;
}
