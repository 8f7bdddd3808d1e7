//! Helpers for the checks-against-a-lab tests: a client configured the way a real client of the lab
//! would be (trust, `--connect-to` mappings, the lab DNS server, short time-outs), and assertions whose
//! failure message shows every finding.

use std::net::SocketAddr;
use std::time::Duration;

use egresslab::certs::CaRole;
use egresslab::certs::Minted;
use egresslab::check::{
    ClientCertificate, ClientConfig, ConnectTo, Finding, Report, Severity, SAMPLE_LABEL,
};
use egresslab::lab::Lab;

/// Connect time-out of the lab clients: long enough for loopback, short enough that a dropped SYN
/// costs little.
pub const CONNECT_TIMEOUT: Duration = Duration::from_millis(300);
/// Handshake and answer time-out of the lab clients.
pub const IO_TIMEOUT: Duration = Duration::from_secs(2);

/// The name a client uses for a lab host pattern: wildcards become the connector sample name.
pub fn sample_name(pattern: &str) -> String {
    match pattern.strip_prefix("*.") {
        Some(rest) => format!("{SAMPLE_LABEL}.{rest}"),
        None => pattern.to_owned(),
    }
}

/// `--connect-to` entries for every endpoint of the lab (wildcards by their sample name), as a direct
/// client outside any proxy lands.
pub fn connect_to(lab: &Lab) -> Vec<ConnectTo> {
    lab.connect_to()
        .into_iter()
        .map(|(host, port, address)| ConnectTo {
            host: sample_name(&host),
            port,
            address,
        })
        .collect()
}

/// One extra `--connect-to` entry.
pub fn map(host: &str, port: u16, address: SocketAddr) -> ConnectTo {
    ConnectTo {
        host: host.to_owned(),
        port,
        address,
    }
}

/// A direct client of the lab: trusts the lab root, maps every endpoint, asks the lab DNS server (if
/// any), short time-outs.
pub fn client(lab: &Lab) -> ClientConfig {
    ClientConfig {
        trust: vec![lab.certs().authority(CaRole::Lab).cert_der().clone()],
        connect_to: connect_to(lab),
        dns_server: lab.dns_address(),
        connect_timeout: CONNECT_TIMEOUT,
        io_timeout: IO_TIMEOUT,
        ..Default::default()
    }
}

/// A client certificate from a minted one (leaf and served intermediates, with its key).
pub fn client_cert(minted: &Minted) -> ClientCertificate {
    ClientCertificate {
        chain: minted.served_chain.clone(),
        key: minted.key.clone_key(),
    }
}

/// Every finding, one per line with its evidence, for failure messages.
pub fn show(report: &Report) -> String {
    let mut out = String::new();
    for f in &report.findings {
        out.push_str(&format!(
            "  [{}] {} {} — {}\n",
            f.severity, f.code, f.target, f.summary
        ));
        for e in &f.evidence {
            out.push_str(&format!(
                "      tried {} -> {} ({:?})\n",
                e.what_tried, e.what_came_back, e.elapsed
            ));
        }
    }
    out
}

/// The codes of the findings that are not ok.
pub fn problems(report: &Report) -> Vec<&'static str> {
    report.codes().iter().map(|c| c.0).collect()
}

/// Assert the report's non-ok codes are exactly `expected` (in order).
#[track_caller]
pub fn assert_problems(report: &Report, expected: &[&str]) {
    assert_eq!(
        problems(report),
        expected,
        "expected problems {expected:?}, the run found:\n{}",
        show(report)
    );
}

/// Assert the report has no problem at all and contains each of the `ok` codes.
#[track_caller]
pub fn assert_healthy(report: &Report, ok: &[&str]) {
    assert!(
        report.codes().is_empty(),
        "healthy twin must be clean, the run found:\n{}",
        show(report)
    );
    for code in ok {
        assert!(
            report.with_code(code).next().is_some(),
            "expected {code} in:\n{}",
            show(report)
        );
    }
}

/// The one finding with `code`, or a failure that shows the whole report.
#[track_caller]
pub fn the<'a>(report: &'a Report, code: &'a str) -> &'a Finding {
    let all: Vec<&Finding> = report.with_code(code).collect();
    assert_eq!(
        all.len(),
        1,
        "expected exactly one {code}, the run found:\n{}",
        show(report)
    );
    all[0]
}

/// Whether a finding is a problem.
pub fn is_problem(f: &Finding) -> bool {
    f.severity != Severity::Ok
}
