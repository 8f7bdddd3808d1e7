//! Proxy discovery against a lab: WPAD through the lab DNS server, the PAC file served on port 80,
//! FindProxyForURL evaluated and the chosen proxy used; a dead proxy, a broken script and a missing
//! WPAD name each with their own diagnosis.

mod common;

use common::checklab::{assert_healthy, assert_problems, client, map, show, the};
use egresslab::certs::Profile;
use egresslab::check::{run, ClientConfig, Probe, ProxySetting};
use egresslab::lab::{EndpointBehaviour, EndpointPlan, Lab, ProxyPlan};

const SUFFIX: &str = "corp.egresslab.test";
const WPAD: &str = "wpad.corp.egresslab.test";
const APP: &str = "app.egresslab.test";
/// The names the PAC scripts give the proxies; the client maps them to the lab's proxies.
const PROXY_NAME: &str = "proxy.corp.egresslab.test";
const DEAD_NAME: &str = "dead.corp.egresslab.test";

const PAC_OK: &str = r#"function FindProxyForURL(url, host) {
    if (isPlainHostName(host) || dnsDomainIs(host, ".corp.egresslab.test")) return "DIRECT";
    if (shExpMatch(host, "*.egresslab.test")) return "PROXY proxy.corp.egresslab.test:3128";
    return "DIRECT";
}"#;

const PAC_DEAD: &str = r#"function FindProxyForURL(url, host) {
    return "PROXY dead.corp.egresslab.test:3128";
}"#;

const PAC_BROKEN: &str = "function FindProxyForURL(url, host) { return \"PROXY x:1\"; ";

/// A lab with a PAC file on wpad.<suffix>:80 (when `script` is given), an HTTPS application, a working
/// proxy and a dead one, and the lab DNS server.
async fn lab(script: Option<&str>) -> Lab {
    let mut dead = ProxyPlan::new("dead");
    dead.down = true;
    let mut builder = Lab::builder()
        .endpoint(EndpointPlan::https("app", &[APP], Profile::Valid))
        .proxy(ProxyPlan::new("corp"))
        .proxy(dead)
        .dns()
        .suffix(SUFFIX);
    if let Some(script) = script {
        builder = builder.endpoint(EndpointPlan::http("pac", &[WPAD], 80).behaviour(
            EndpointBehaviour::Pac {
                script: script.to_owned(),
            },
        ));
    }
    builder.start().await.expect("lab starts")
}

fn wpad_client(lab: &Lab) -> ClientConfig {
    let mut config = client(lab);
    config.proxy = ProxySetting::Wpad {
        suffix: SUFFIX.into(),
    };
    let corp = lab.proxy("corp").unwrap().address();
    let dead = lab.proxy("dead").unwrap().address();
    config.connect_to.push(map(PROXY_NAME, 3128, corp));
    config.connect_to.push(map(DEAD_NAME, 3128, dead));
    config
}

fn app() -> Vec<Probe> {
    vec![Probe::Url {
        url: format!("https://{APP}/"),
    }]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wpad_finds_the_pac_and_the_tunnel_goes_through_the_proxy_it_names() {
    let lab = lab(Some(PAC_OK)).await;
    let report = run(&wpad_client(&lab), &app()).await;
    assert_healthy(
        &report,
        &["proxy.pac.found", "proxy.connect.ok", "pki.chain.ok"],
    );
    let found = the(&report, "proxy.pac.found");
    assert!(
        found.summary.contains("proxy.corp.egresslab.test:3128") && found.target.contains(WPAD),
        "{}",
        show(&report)
    );
    let tunnel = the(&report, "proxy.connect.ok");
    assert!(tunnel.summary.contains(PROXY_NAME), "{}", show(&report));
    // The proxy really carried the tunnel.
    let carried = lab
        .timeline()
        .events()
        .iter()
        .any(|e| e.source.contains("corp") && format!("{:?}", e.kind).contains(APP));
    assert!(carried, "the lab proxy saw no CONNECT to {APP}");
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pac_naming_a_down_proxy_is_its_own_diagnosis() {
    let lab = lab(Some(PAC_DEAD)).await;
    let report = run(&wpad_client(&lab), &app()).await;
    let dead = the(&report, "proxy.pac.dead_proxy");
    assert!(dead.target.contains(DEAD_NAME), "{}", show(&report));
    assert!(
        report.with_code("proxy.connect.ok").next().is_none(),
        "{}",
        show(&report)
    );
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pac_with_a_syntax_error_is_invalid() {
    let lab = lab(Some(PAC_BROKEN)).await;
    let report = run(&wpad_client(&lab), &app()).await;
    let invalid = the(&report, "proxy.pac.invalid");
    assert!(invalid.target.contains(WPAD), "{}", show(&report));
    assert!(
        report.with_code("proxy.pac.found").next().is_none(),
        "{}",
        show(&report)
    );
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_wpad_name_means_not_found_and_direct() {
    let lab = lab(None).await;
    let report = run(&wpad_client(&lab), &app()).await;
    let missing = the(&report, "proxy.wpad.not_found");
    assert!(missing.target.contains(WPAD), "{}", show(&report));
    assert!(
        missing
            .evidence
            .iter()
            .any(|e| e.what_came_back.contains("NXDOMAIN")),
        "the lab DNS server must have been asked:\n{}",
        show(&report)
    );
    // The client goes direct and reaches the application.
    assert_problems(&report, &["proxy.wpad.not_found"]);
    lab.shutdown().await;
}

/// Issue 20, break 2: a PAC script that never returns hung `egresslab check` for ever. Now the
/// evaluation stops at the client's I/O time-out with its own diagnosis, and the client goes direct.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pac_that_never_returns_times_out_and_the_client_goes_direct() {
    let lab = lab(Some("function FindProxyForURL(u, h) { while (true) {} }")).await;
    let mut config = wpad_client(&lab);
    config.io_timeout = std::time::Duration::from_millis(500);
    let probes = vec![
        Probe::Url {
            url: format!("https://{APP}/"),
        },
        Probe::Url {
            url: format!("https://{APP}/second"),
        },
    ];
    let report = tokio::time::timeout(std::time::Duration::from_secs(20), run(&config, &probes))
        .await
        .expect("the checks end although the PAC script never returns");
    let timeout = the(&report, "proxy.pac.timeout");
    assert!(timeout.target.contains(WPAD), "{}", show(&report));
    assert!(
        timeout.summary.contains("did not finish in 500 ms"),
        "{}",
        show(&report)
    );
    // Reported once, and the application is still probed (direct).
    assert_eq!(
        report.with_code("proxy.pac.timeout").count(),
        1,
        "{}",
        show(&report)
    );
    assert!(
        report.with_code("pki.chain.ok").next().is_some(),
        "{}",
        show(&report)
    );
    lab.shutdown().await;
}
