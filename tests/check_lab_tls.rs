//! TLS versions and middleboxes against a lab: a TLS 1.2 killer, a SHA-512 certificate killer beside a
//! SHA-256 twin, and a version mismatch in both directions, each with its healthy twin.

mod common;

use common::checklab::{assert_healthy, assert_problems, client, show, the};
use egresslab::certs::Profile;
use egresslab::check::{run, Probe, TlsVersions as ClientVersions};
use egresslab::lab::{EndpointPlan, FirewallAction, Lab, TlsVersions, Vantage};

const SERVICE: &str = "connector-sample.msappproxy.net";
const SHA512: &str = "sha512.egresslab.test";
const SHA256: &str = "sha256.egresslab.test";

fn url(host: &str) -> Probe {
    Probe::Url {
        url: format!("https://{host}/"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls12_killer_is_tls12_blocked_and_the_open_path_is_not() {
    let lab = Lab::builder()
        .endpoint(EndpointPlan::https("service", &[SERVICE], Profile::Valid))
        .firewall(
            Vantage::Client,
            SERVICE,
            Some(443),
            FirewallAction::KillTls12,
        )
        .start()
        .await
        .unwrap();
    let report = run(&client(&lab), &[url(SERVICE)]).await;
    assert_problems(&report, &["tls.version.tls12_blocked"]);
    let f = the(&report, "tls.version.tls12_blocked");
    assert!(f.summary.contains(SERVICE), "{}", show(&report));
    lab.shutdown().await;

    let twin = Lab::builder()
        .endpoint(EndpointPlan::https("service", &[SERVICE], Profile::Valid))
        .start()
        .await
        .unwrap();
    let report = run(&client(&twin), &[url(SERVICE)]).await;
    assert_healthy(&report, &["tls.handshake.ok", "pki.chain.ok"]);
    twin.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sha512_killer_blocks_the_sha512_certificate_and_passes_its_sha256_twin() {
    let lab = Lab::builder()
        .endpoint(
            EndpointPlan::https("sha512", &[SHA512], Profile::Sha512Rsa)
                .versions(TlsVersions::Tls12Only),
        )
        .endpoint(
            EndpointPlan::https("sha256", &[SHA256], Profile::Sha256)
                .versions(TlsVersions::Tls12Only),
        )
        .firewall(Vantage::Client, "*", Some(443), FirewallAction::KillSha512)
        .start()
        .await
        .unwrap();
    let report = run(&client(&lab), &[url(SHA512)]).await;
    assert_problems(&report, &["tls.sha512_blocked"]);
    assert!(
        the(&report, "tls.sha512_blocked").target.contains(SHA512),
        "{}",
        show(&report)
    );
    let report = run(&client(&lab), &[url(SHA256)]).await;
    assert_healthy(&report, &["tls.handshake.ok", "pki.chain.ok"]);
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sha512_without_a_killer_is_healthy() {
    let lab = Lab::builder()
        .endpoint(
            EndpointPlan::https("sha512", &[SHA512], Profile::Sha512Rsa)
                .versions(TlsVersions::Tls12Only),
        )
        .start()
        .await
        .unwrap();
    let report = run(&client(&lab), &[url(SHA512)]).await;
    assert_healthy(&report, &["tls.handshake.ok", "pki.chain.ok"]);
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn version_mismatch_both_ways_and_matching_versions_pass() {
    let lab = Lab::builder()
        .endpoint(
            EndpointPlan::https("old", &["old.egresslab.test"], Profile::Valid)
                .versions(TlsVersions::Tls12Only),
        )
        .endpoint(
            EndpointPlan::https("new", &["new.egresslab.test"], Profile::Valid)
                .versions(TlsVersions::Tls13Only),
        )
        .start()
        .await
        .unwrap();
    let cases = [
        ("old.egresslab.test", ClientVersions::Tls13Only, true),
        ("new.egresslab.test", ClientVersions::Tls12Only, true),
        ("old.egresslab.test", ClientVersions::Tls12Only, false),
        ("new.egresslab.test", ClientVersions::Tls13Only, false),
        ("old.egresslab.test", ClientVersions::Both, false),
        ("new.egresslab.test", ClientVersions::Both, false),
    ];
    for (host, versions, mismatch) in cases {
        let mut config = client(&lab);
        config.tls_versions = versions;
        let report = run(&config, &[url(host)]).await;
        if mismatch {
            assert_problems(&report, &["tls.version.mismatch"]);
            let f = the(&report, "tls.version.mismatch");
            let (client_says, server_says) = match versions {
                ClientVersions::Tls13Only => ("only TLS 1.3", "only TLS 1.2"),
                _ => ("only TLS 1.2", "only TLS 1.3"),
            };
            assert!(
                f.summary.contains(&format!("offers {client_says}"))
                    && f.summary.contains(&format!("accepts {server_says}")),
                "{host} {versions:?}:\n{}",
                show(&report)
            );
        } else {
            assert_healthy(&report, &["tls.handshake.ok"]);
        }
    }
    lab.shutdown().await;
}
