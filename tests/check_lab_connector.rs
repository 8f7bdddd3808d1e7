//! The connector's required-endpoint matrix against a lab serving every entry of seed 001's table:
//! healthy directly and through a proxy, then one entry denied by the proxy, dropped or refused by the
//! firewall, each failure naming exactly that entry. Prints the run times it measures.

mod common;

use std::time::{Duration, Instant};

use common::checklab::{assert_healthy, client, show, the};
use egresslab::certs::Profile;
use egresslab::check::{connector_endpoints, run, ClientConfig, Probe, ProxySetting, Report};
use egresslab::lab::{
    EndpointBehaviour, EndpointPlan, FirewallAction, Lab, LabBuilder, ProxyPlan, ProxyRule,
    RuleAction, Vantage,
};

/// Every table entry served: HTTPS with a valid lab certificate on 443, plain HTTP on 80, and the
/// messaging service's direct TCP ports so the healthy path needs no HTTPS fallback.
fn world() -> LabBuilder {
    let mut builder = Lab::builder();
    for (index, entry) in connector_endpoints().iter().enumerate() {
        let host = entry.pattern.split('/').next().unwrap_or(entry.pattern);
        let name = format!("entry-{index}");
        builder = builder.endpoint(if entry.port == 443 {
            EndpointPlan::https(name, &[host], Profile::Valid)
        } else {
            EndpointPlan::http(name, &[host], entry.port)
        });
    }
    for port in egresslab::check::SERVICEBUS_DIRECT_PORTS {
        builder = builder.endpoint(
            EndpointPlan::http(
                format!("servicebus-{port}"),
                &["*.servicebus.windows.net"],
                port,
            )
            .behaviour(EndpointBehaviour::Echo),
        );
    }
    builder.dns()
}

async fn matrix(config: &ClientConfig, what: &str) -> Report {
    let start = Instant::now();
    let report = run(config, &[Probe::ConnectorEndpoints]).await;
    println!(
        "check::run on the connector matrix ({what}): {:?}",
        start.elapsed()
    );
    report
}

/// The entry labels `connector.endpoint_blocked` names.
fn blocked(report: &Report) -> String {
    the(report, "connector.endpoint_blocked").target.clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_entry_answers_directly_and_through_a_proxy() {
    let lab = world().proxy(ProxyPlan::new("corp")).start().await.unwrap();
    let mut config = client(&lab);
    let report = matrix(&config, "healthy, direct").await;
    assert_healthy(&report, &["connector.endpoints.ok"]);
    assert!(
        report.elapsed < Duration::from_secs(3),
        "{:?}",
        report.elapsed
    );
    config.proxy = ProxySetting::Url(lab.proxy("corp").unwrap().url());
    let report = matrix(&config, "healthy, via proxy").await;
    assert_healthy(&report, &["connector.endpoints.ok"]);
    assert_eq!(
        report.with_code("proxy.connect.ok").count(),
        0,
        "ok findings of the entries are folded into the summary"
    );
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxy_denying_servicebus_fails_exactly_that_entry() {
    let mut corp = ProxyPlan::new("corp");
    corp.rules.insert(
        0,
        ProxyRule {
            hosts: "*.servicebus.windows.net".into(),
            ports: Vec::new(),
            action: RuleAction::Deny,
        },
    );
    let lab = world().proxy(corp).start().await.unwrap();
    let mut config = client(&lab);
    config.proxy = ProxySetting::Url(lab.proxy("corp").unwrap().url());
    let report = matrix(&config, "servicebus denied by the proxy").await;
    assert_eq!(
        blocked(&report),
        "*.servicebus.windows.net:443",
        "{}",
        show(&report)
    );
    let denied = the(&report, "proxy.denied");
    assert_eq!(denied.target, "connector-sample.servicebus.windows.net:443");
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_443_is_filtered_for_exactly_that_entry() {
    let lab = world()
        .firewall(
            Vantage::Client,
            "*.msappproxy.net",
            Some(443),
            FirewallAction::Drop,
        )
        .start()
        .await
        .unwrap();
    let report = matrix(&client(&lab), "msappproxy 443 filtered").await;
    assert_eq!(
        blocked(&report),
        "*.msappproxy.net:443",
        "{}",
        show(&report)
    );
    let filtered = the(&report, "net.tcp.filtered");
    assert_eq!(filtered.target, "connector-sample.msappproxy.net:443");
    assert!(
        report.with_code("net.tcp.refused").next().is_none(),
        "{}",
        show(&report)
    );
    assert!(
        report.elapsed < Duration::from_secs(3),
        "{:?}",
        report.elapsed
    );
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_443_is_refused_not_filtered() {
    let lab = world()
        .firewall(
            Vantage::Client,
            "*.msappproxy.net",
            Some(443),
            FirewallAction::Reject,
        )
        .start()
        .await
        .unwrap();
    let report = matrix(&client(&lab), "msappproxy 443 refused").await;
    assert_eq!(
        blocked(&report),
        "*.msappproxy.net:443",
        "{}",
        show(&report)
    );
    let refused = the(&report, "net.tcp.refused");
    assert_eq!(refused.target, "connector-sample.msappproxy.net:443");
    assert!(
        report.with_code("net.tcp.filtered").next().is_none(),
        "{}",
        show(&report)
    );
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocked_direct_servicebus_tcp_is_the_https_fallback_warning() {
    let mut builder = world();
    for port in egresslab::check::SERVICEBUS_DIRECT_PORTS {
        builder = builder.firewall(
            Vantage::Client,
            "*.servicebus.windows.net",
            Some(port),
            FirewallAction::Reject,
        );
    }
    let lab = builder.start().await.unwrap();
    let report = matrix(&client(&lab), "servicebus direct TCP refused").await;
    assert_eq!(
        egresslab::check::Severity::Warning,
        the(&report, "connector.servicebus_https_fallback").severity
    );
    assert!(
        report.with_code("connector.endpoints.ok").next().is_some() && !report.has_errors(),
        "{}",
        show(&report)
    );
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocked_sign_in_host_is_named() {
    let lab = world()
        .firewall(
            Vantage::Client,
            "login.windows.net",
            Some(443),
            FirewallAction::Reject,
        )
        .start()
        .await
        .unwrap();
    let report = matrix(&client(&lab), "sign-in refused").await;
    assert_eq!(
        blocked(&report),
        "login.windows.net:443",
        "{}",
        show(&report)
    );
    assert_eq!(
        the(&report, "connector.signin_unreachable").target,
        "login.windows.net:443"
    );
    lab.shutdown().await;
}
