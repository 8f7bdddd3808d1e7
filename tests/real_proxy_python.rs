//! Python `requests` through the lab proxy sees the same outcomes as curl.

mod common;

use common::proxy::*;
use egresslab::lab::{AuthScheme, ProxyAuthPlan, ProxyPlan, ProxyRule, RuleAction};

/// Fetch `url` through `proxy` with requests; print the status or the exception text.
const SCRIPT: &str = r#"
import sys, requests
proxy, url, bundle = sys.argv[1], sys.argv[2], sys.argv[3]
try:
    r = requests.get(url, proxies={"http": proxy, "https": proxy}, verify=bundle, timeout=10)
    print("status", r.status_code, r.text.strip())
except requests.exceptions.ProxyError as e:
    print("proxy-error", e)
"#;

async fn fetch(proxy: &str, url: &str, bundle: &str) -> String {
    let output = tokio::process::Command::new("python3")
        .args(["-c", SCRIPT, proxy, url, bundle])
        .output()
        .await
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

#[tokio::test]
async fn requests_sees_tunnel_denial_dns_failure_and_auth() {
    let open = ProxyPlan {
        rules: vec![
            ProxyRule {
                hosts: "echo.egresslab.test".into(),
                ports: vec![],
                action: RuleAction::Deny,
            },
            ProxyRule {
                hosts: "*".into(),
                ports: vec![],
                action: RuleAction::Allow,
            },
        ],
        ..ProxyPlan::new("open")
    };
    let guarded = ProxyPlan {
        auth: Some(ProxyAuthPlan {
            schemes: vec![AuthScheme::Negotiate, AuthScheme::Basic],
            realm: "corp".into(),
            users: vec![("bob".into(), "b0b-pass".into())],
        }),
        ..ProxyPlan::new("guarded")
    };
    let lab = world().proxy(open).proxy(guarded).start().await.unwrap();
    let bundle = lab.ca_bundle_path().to_str().unwrap().to_owned();
    let open = lab.proxy("open").unwrap().url();
    let guarded = lab.proxy("guarded").unwrap().url();
    let secure = "https://secure.egresslab.test/";

    assert_eq!(fetch(&open, secure, &bundle).await, "status 200 ok");
    let denied = fetch(&open, "https://echo.egresslab.test/", &bundle).await;
    assert!(
        denied.starts_with("proxy-error") && denied.contains("403"),
        "{denied}"
    );
    let unknown = fetch(&open, "https://nowhere.egresslab.test/", &bundle).await;
    assert!(
        unknown.starts_with("proxy-error") && unknown.contains("500"),
        "{unknown}"
    );
    let forwarded = fetch(&open, "http://web.egresslab.test/", &bundle).await;
    assert_eq!(forwarded, "status 200 ok");

    let challenged = fetch(&guarded, secure, &bundle).await;
    assert!(
        challenged.starts_with("proxy-error") && challenged.contains("407"),
        "{challenged}"
    );
    let with_user = guarded.replace("http://", "http://bob:b0b-pass@");
    assert_eq!(fetch(&with_user, secure, &bundle).await, "status 200 ok");
    lab.shutdown().await;
}
