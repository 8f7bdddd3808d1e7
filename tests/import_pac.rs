//! `egresslab import --pac`: the customer's PAC file is served as written on WPAD and evaluated
//! by the checks' PAC engine. A PAC that never returns or that throws is a diagnosis, reached
//! within a bound, never a hang.

use std::path::Path;
use std::time::Duration;

use egresslab::check::codes;
use egresslab::lab::EndpointBehaviour;
use egresslab::scenario::import::{pac, squid};
use egresslab::scenario::runner::run_scenario;

/// A proxy allowing the connector's hosts, with a PAC file added.
fn imported_with(script: &str) -> egresslab::scenario::Expanded {
    let conf = "acl connector dstdomain .msappproxy.net\nacl CONNECT method CONNECT\n\
                http_access allow CONNECT connector\nhttp_access deny all\n";
    let imported = squid::import(conf, Path::new(".")).unwrap();
    let text = pac::add_pac(&imported.scenario, script, "wpad.dat").unwrap();
    egresslab::scenario::load_str("imported.toml", &text).unwrap()
}

async fn codes_of(script: &str) -> Vec<String> {
    let scenario = imported_with(script);
    // A bound on the whole run: the PAC engine's own limit must end it well before this.
    let outcome = tokio::time::timeout(
        Duration::from_secs(120),
        run_scenario(&scenario, None, Duration::from_secs(10)),
    )
    .await
    .expect("the run with this PAC file hung");
    // Every finding's code, the ok ones (`proxy.pac.found`) included.
    let report = outcome.report.expect("the checks ran");
    report.findings.iter().map(|f| f.code.to_string()).collect()
}

#[test]
fn the_pac_file_is_served_exactly_as_written() {
    let script = "// customer's wpad.dat\nfunction FindProxyForURL(url, host) {\n  return \"PROXY proxy.contoso.com:3128; DIRECT\";\n}\n";
    let scenario = imported_with(script);
    let served = scenario
        .plan
        .endpoints
        .iter()
        .find_map(|e| match &e.behaviour {
            EndpointBehaviour::Pac { script } if e.hosts == [pac::WPAD_HOST] => {
                Some(script.clone())
            }
            _ => None,
        })
        .expect("a WPAD endpoint serving the PAC file");
    assert_eq!(served, script);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pac_that_loops_forever_is_a_time_out_diagnosis() {
    let got = codes_of("function FindProxyForURL(url, host) { while (true) {} }").await;
    assert!(
        got.contains(&codes::PROXY_PAC_TIMEOUT.to_string()),
        "{got:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pac_that_throws_is_an_invalid_pac_diagnosis() {
    let got = codes_of("function FindProxyForURL(url, host) { throw new Error('boom'); }").await;
    assert!(
        got.contains(&codes::PROXY_PAC_INVALID.to_string()),
        "{got:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_working_pac_is_found_and_followed() {
    let got = codes_of("function FindProxyForURL(url, host) { return \"DIRECT\"; }").await;
    assert!(got.contains(&codes::PROXY_PAC_FOUND.to_string()), "{got:?}");
    assert!(
        !got.contains(&codes::PROXY_PAC_INVALID.to_string()),
        "{got:?}"
    );
}
