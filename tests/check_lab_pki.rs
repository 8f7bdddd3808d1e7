//! Certificate verdicts against lab endpoints serving each factory profile, and revocation: a revoked
//! certificate with the lab's CRL and OCSP responder on port 80, its valid twin, and the revocation
//! hosts blocked by the firewall.

mod common;

use common::checklab::{assert_healthy, assert_problems, client, show, the};
use egresslab::certs::{CaRole, Profile};
use egresslab::check::{run, Probe, ProxySetting};
use egresslab::lab::{
    EndpointBehaviour, EndpointPlan, FirewallAction, InterceptPlan, Lab, ProxyPlan, Vantage,
};

fn url(host: &str) -> Probe {
    Probe::Url {
        url: format!("https://{host}/"),
    }
}

fn host(profile: &str) -> String {
    format!("site-{profile}.egresslab.test")
}

const PROFILES: &[(&str, Option<&str>)] = &[
    ("valid", None),
    ("long-chain", None),
    ("sha384", None),
    ("not-yet-valid", Some("pki.not_yet_valid")),
    ("expired", Some("pki.expired")),
    ("wrong-host", Some("pki.name_mismatch")),
    ("self-signed", Some("pki.self_signed")),
    ("no-server-auth", Some("pki.missing_server_auth_eku")),
    ("incomplete-chain", Some("pki.incomplete_chain")),
    ("untrusted-root", Some("pki.untrusted_root")),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_profile_gets_its_exact_reason_and_the_good_ones_pass() {
    let mut builder = Lab::builder();
    for (profile, _) in PROFILES {
        builder = builder.endpoint(EndpointPlan::https(
            *profile,
            &[&host(profile)],
            profile.parse().unwrap(),
        ));
    }
    let lab = builder.start().await.unwrap();
    let mut config = client(&lab);
    // The client holds the lab's issuing CA in its intermediate store, as Windows would after one AIA
    // fetch: that is what shows a server withholding it.
    config.intermediates = vec![lab
        .certs()
        .authority(CaRole::Intermediate)
        .cert_der()
        .clone()];
    for (profile, expected) in PROFILES {
        let report = run(&config, &[url(&host(profile))]).await;
        match expected {
            None => assert_healthy(&report, &["pki.chain.ok"]),
            Some(code) => {
                assert_problems(&report, &[code]);
                assert!(
                    !report.codes().iter().any(|c| c.0 == "tls.intercepted"),
                    "{profile}:\n{}",
                    show(&report)
                );
            }
        }
    }
    // Without the intermediate a leaf alone cannot be told from one issued by an unknown root.
    let mut bare = client(&lab);
    bare.intermediates.clear();
    let report = run(&bare, &[url(&host("incomplete-chain"))]).await;
    assert_problems(&report, &["pki.untrusted_root"]);
    let report = run(&config, &[url(&host("wrong-host"))]).await;
    assert!(
        the(&report, "pki.name_mismatch")
            .summary
            .contains("wrong-host.egresslab.test"),
        "{}",
        show(&report)
    );
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_root_is_not_interception_and_interception_is_not_an_untrusted_root() {
    let mut inspect = ProxyPlan::new("inspect");
    inspect.intercept = Some(InterceptPlan {
        passthrough: Vec::new(),
    });
    let lab = Lab::builder()
        .endpoint(EndpointPlan::https(
            "untrusted",
            &["untrusted.egresslab.test"],
            Profile::UntrustedRoot,
        ))
        .endpoint(EndpointPlan::https(
            "valid",
            &["valid.egresslab.test"],
            Profile::Valid,
        ))
        .proxy(inspect)
        .start()
        .await
        .unwrap();
    // The client knows which CA should sign the untrusted server, it only lacks the root.
    let untrusted_issuer = lab
        .certs()
        .mint(
            egresslab::certs::Profile::UntrustedRoot,
            &["x.egresslab.test".to_owned()],
        )
        .unwrap()
        .info()
        .unwrap()
        .issuer_common_name
        .unwrap();
    let mut config = client(&lab);
    config.expected_issuers = vec![untrusted_issuer];
    let report = run(&config, &[url("untrusted.egresslab.test")]).await;
    assert_problems(&report, &["pki.untrusted_root"]);

    let mut config = client(&lab);
    config.proxy = ProxySetting::Url(lab.proxy("inspect").unwrap().url());
    config.expected_issuers = vec![lab
        .certs()
        .authority(CaRole::Intermediate)
        .common_name()
        .to_owned()];
    let report = run(&config, &[url("valid.egresslab.test")]).await;
    assert_problems(&report, &["tls.intercepted"]);
    assert!(
        the(&report, "tls.intercepted")
            .summary
            .contains("egresslab TLS Inspection CA"),
        "{}",
        show(&report)
    );
    // The twin: the same client and expectation, straight to the origin.
    config.proxy = ProxySetting::Direct;
    let report = run(&config, &[url("valid.egresslab.test")]).await;
    assert_healthy(&report, &["pki.chain.ok"]);
    lab.shutdown().await;
}

const CRL_HOST: &str = "crl.egresslab.test";
const OCSP_HOST: &str = "ocsp.egresslab.test";

fn revocation_lab(block: Option<FirewallAction>) -> egresslab::lab::LabBuilder {
    revocation_lab_blocking(block, &[CRL_HOST, OCSP_HOST])
}

fn revocation_lab_blocking(
    block: Option<FirewallAction>,
    hosts: &[&str],
) -> egresslab::lab::LabBuilder {
    let mut builder = Lab::builder()
        .endpoint(EndpointPlan::https(
            "revoked",
            &["revoked.egresslab.test"],
            Profile::Revoked,
        ))
        .endpoint(EndpointPlan::https(
            "valid",
            &["valid.egresslab.test"],
            Profile::Valid,
        ))
        .endpoint(
            EndpointPlan::http("crl", &[CRL_HOST, OCSP_HOST], 80)
                .behaviour(EndpointBehaviour::Revocation),
        );
    if let Some(action) = block {
        for host in hosts {
            builder = builder.firewall(Vantage::Client, *host, Some(80), action.clone());
        }
    }
    builder
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_certificate_is_revoked_and_its_valid_twin_is_not() {
    let lab = revocation_lab(None).start().await.unwrap();
    let config = client(&lab);
    let report = run(&config, &[url("revoked.egresslab.test")]).await;
    assert_problems(&report, &["pki.revoked"]);
    let report = run(&config, &[url("valid.egresslab.test")]).await;
    assert_healthy(&report, &["pki.chain.ok"]);
    let report = run(
        &config,
        &[Probe::Revocation {
            urls: vec![
                format!("http://{CRL_HOST}/lab.crl"),
                format!("http://{OCSP_HOST}/"),
            ],
        }],
    )
    .await;
    assert_eq!(
        report.with_code("revocation.reachable").count(),
        2,
        "{}",
        show(&report)
    );
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocked_revocation_hosts_are_named() {
    for action in [FirewallAction::Reject, FirewallAction::Drop] {
        let lab = revocation_lab(Some(action.clone())).start().await.unwrap();
        let config = client(&lab);
        let report = run(
            &config,
            &[Probe::Revocation {
                urls: vec![
                    format!("http://{CRL_HOST}/lab.crl"),
                    format!("http://{OCSP_HOST}/"),
                ],
            }],
        )
        .await;
        assert_problems(&report, &["revocation.unreachable"]);
        let f = the(&report, "revocation.unreachable");
        assert!(
            f.target.contains(&format!("{CRL_HOST}:80"))
                && f.target.contains(&format!("{OCSP_HOST}:80")),
            "{action:?}:\n{}",
            show(&report)
        );
        // The revoked certificate cannot be judged: its CRL host is named unreachable, not revoked.
        let report = run(&config, &[url("revoked.egresslab.test")]).await;
        assert!(
            report
                .with_code("revocation.unreachable")
                .any(|f| f.target.contains(CRL_HOST)),
            "{action:?}:\n{}",
            show(&report)
        );
        assert!(
            !report.codes().iter().any(|c| c.0 == "pki.revoked"),
            "{}",
            show(&report)
        );
        lab.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ocsp_alone_still_finds_the_revocation() {
    let lab = revocation_lab_blocking(Some(FirewallAction::Reject), &[CRL_HOST])
        .start()
        .await
        .unwrap();
    let report = run(&client(&lab), &[url("revoked.egresslab.test")]).await;
    assert_problems(&report, &["revocation.unreachable", "pki.revoked"]);
    assert!(
        the(&report, "revocation.unreachable")
            .target
            .contains(CRL_HOST),
        "{}",
        show(&report)
    );
    let revoked = the(&report, "pki.revoked");
    assert!(
        revoked
            .evidence
            .iter()
            .any(|e| e.what_tried.contains(OCSP_HOST) && e.what_came_back == "Revoked"),
        "{}",
        show(&report)
    );
    lab.shutdown().await;
}
