//! The checks against a dual-stack lab, in process: a host with an A and an AAAA answer is tried
//! in both families, and each family's result is its own finding; the lab DNS server answers the
//! AAAA and the checks' resolver asks for it.

mod common;

use common::checklab::{client, show};
use egresslab::certs::Profile;
use egresslab::check::{run, Probe};
use egresslab::lab::{EndpointPlan, Families, Family, FirewallAction, FirewallRule, Lab, Vantage};

const HOST: &str = "login.microsoftonline.com";

fn dual_stack() -> EndpointPlan {
    EndpointPlan {
        families: Families::BOTH,
        ..EndpointPlan::https("signin", &[HOST], Profile::Valid)
    }
}

fn tcp() -> Vec<Probe> {
    vec![Probe::Tcp {
        host: HOST.into(),
        port: 443,
    }]
}

/// Whether ::1 exists here; prints why a test skips when it does not.
fn ipv6_loopback() -> bool {
    let bound = std::net::TcpListener::bind("[::1]:0");
    if let Err(error) = &bound {
        eprintln!("SKIPPED: ::1 cannot be bound ({error}); IPv6 is disabled here");
    }
    bound.is_ok()
}

#[tokio::test]
async fn both_families_open_are_two_open_findings_and_no_problem() {
    if !ipv6_loopback() {
        return;
    }
    let lab = Lab::builder().endpoint(dual_stack()).start().await.unwrap();
    let endpoint = lab.expect_endpoint("signin");
    let v6 = endpoint.address_v6().expect("a v6 address");
    assert!(v6.is_ipv6() && endpoint.address().is_ipv4());
    let report = run(&client(&lab), &tcp()).await;
    let summaries: Vec<&str> = report
        .findings
        .iter()
        .filter(|f| f.code.as_str() == "net.tcp.open")
        .map(|f| f.summary.as_str())
        .collect();
    assert!(report.codes().is_empty(), "{}", show(&report));
    assert!(
        summaries.iter().any(|s| s.contains("over IPv4"))
            && summaries.iter().any(|s| s.contains("over IPv6")),
        "{}",
        show(&report)
    );
    lab.shutdown().await;
}

#[tokio::test]
async fn a_v6_drop_is_a_warning_beside_the_v4_success() {
    if !ipv6_loopback() {
        return;
    }
    let mut drop = FirewallRule::new(Vantage::Client, HOST, Some(443), FirewallAction::Drop);
    drop.family = Some(Family::V6);
    let lab = Lab::builder()
        .endpoint(dual_stack())
        .rule(drop)
        .start()
        .await
        .unwrap();
    let report = run(&client(&lab), &tcp()).await;
    let codes: Vec<&str> = report.findings.iter().map(|f| f.code.as_str()).collect();
    assert!(
        codes.contains(&"net.ipv6_path_dropped") && codes.contains(&"net.tcp.open"),
        "{}",
        show(&report)
    );
    assert!(
        !codes.contains(&"net.tcp.filtered"),
        "the v4 path is not filtered: {}",
        show(&report)
    );
    // Routing agrees: v4 reaches the endpoint, v6 the rule's black hole.
    let world = lab.world();
    let v4 = world.decide_in(HOST, 443, &Vantage::Client, Family::V4);
    let v6 = world.decide_in(HOST, 443, &Vantage::Client, Family::V6);
    assert!(v4.rule.is_none() && v6.rule.is_some(), "{v4:?} {v6:?}");
    lab.shutdown().await;
}

#[tokio::test]
async fn the_lab_dns_answers_aaaa_and_a_v6_only_host_has_no_a() {
    if !ipv6_loopback() {
        return;
    }
    let v6_only = EndpointPlan {
        families: Families::V6,
        ..EndpointPlan::https("cloud", &["v6only.egresslab.test"], Profile::Valid)
    };
    let lab = Lab::builder()
        .endpoint(dual_stack())
        .endpoint(v6_only)
        .dns()
        .start()
        .await
        .unwrap();
    let world = lab.world();
    let dual: Vec<String> = world
        .addresses_of(HOST)
        .iter()
        .map(|ip| ip.to_string())
        .collect();
    assert_eq!(dual, ["127.0.0.1", "::1"]);
    let only: Vec<String> = world
        .addresses_of("v6only.egresslab.test")
        .iter()
        .map(|ip| ip.to_string())
        .collect();
    assert_eq!(only, ["::1"]);
    // The checks' resolver asks the lab DNS server for A, then AAAA.
    let mut config = client(&lab);
    config.connect_to.clear();
    let report = run(
        &config,
        &[Probe::Tcp {
            host: "v6only.egresslab.test".into(),
            port: 443,
        }],
    )
    .await;
    // The name resolved to its AAAA alone: the connect went to ::1 (port 443, which the
    // ephemeral-port lab does not serve, so it is refused).
    let tried: Vec<&str> = report
        .findings
        .iter()
        .flat_map(|f| &f.evidence)
        .map(|e| e.what_tried.as_str())
        .collect();
    assert_eq!(tried, ["TCP connect [::1]:443"], "{}", show(&report));
    lab.shutdown().await;
}
