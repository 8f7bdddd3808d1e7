//! The checks against a real Squid on loopback: Basic auth required (407, schemes listed) in one run, a
//! denied domain (403, host named) in another. Skips loudly only when squid is not installed.

mod common;

use common::squid::{self, SquidConfig};
use egresslab::check::{run, ClientConfig, Probe, ProxySetting};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn squid_basic_auth_gives_proxy_auth_required_and_denied_domain_gives_proxy_denied() {
    let Some(bin) = squid::binary() else {
        eprintln!("\n\n!!!!! SKIPPED: squid is not installed (./test.sh installs it) !!!!!\n");
        return;
    };
    let url = "https://connector-sample.servicebus.windows.net/";

    // Run 1: Basic authentication required.
    let line = format!("connector:{}", squid::apr1("s3cret"));
    let squid = squid::start(
        &bin,
        &SquidConfig {
            rules:
                "acl authed proxy_auth REQUIRED\nhttp_access deny !authed\nhttp_access allow all\n",
            htpasswd: Some((&line, "egresslab")),
            ..SquidConfig::default()
        },
    );
    let config = ClientConfig {
        proxy: ProxySetting::Url(format!("http://127.0.0.1:{}", squid.port)),
        ..Default::default()
    };
    let report = run(&config, &[Probe::Url { url: url.into() }]).await;
    let f = report
        .with_code("proxy.auth_required")
        .next()
        .unwrap_or_else(|| panic!("expected proxy.auth_required, got {:#?}", report.findings));
    assert!(f.summary.contains("Basic"), "{}", f.summary);
    assert!(!report.codes().iter().any(|c| c.0 == "proxy.denied"));
    drop(squid);

    // Run 2: a domain denied; another allowed to tunnel (it then fails upstream: no DNS on this machine).
    let squid = squid::start(
        &bin,
        &SquidConfig {
            rules: "acl blocked dstdomain .servicebus.windows.net\nhttp_access deny blocked\nhttp_access allow all\n",
            ..SquidConfig::default()
        },
    );
    let config = ClientConfig {
        proxy: ProxySetting::Url(format!("http://127.0.0.1:{}", squid.port)),
        ..Default::default()
    };
    let report = run(
        &config,
        &[
            Probe::Url { url: url.into() },
            Probe::Url {
                url: "https://connector-sample.msappproxy.net/".into(),
            },
        ],
    )
    .await;
    let denied: Vec<_> = report.with_code("proxy.denied").collect();
    assert_eq!(denied.len(), 1, "{:#?}", report.findings);
    assert!(
        denied[0]
            .summary
            .contains("connector-sample.servicebus.windows.net"),
        "{}",
        denied[0].summary
    );
    assert!(
        !denied[0].target.contains("msappproxy"),
        "the allowed domain must not be reported denied"
    );
    assert!(!report.codes().iter().any(|c| c.0 == "proxy.auth_required"));
}
