//! Always On VPN checks against a lab: IKE on UDP 500/4500 answered or silent, an unknown server, the
//! server certificate as an SSTP server presents it on TLS 443, and the machine certificate folder.

mod common;

use common::checklab::{assert_healthy, assert_problems, client, show, the};
use egresslab::certs::Profile;
use egresslab::check::{run, Probe};
use egresslab::lab::control::Toxic;
use egresslab::lab::{EndpointPlan, Lab, UdpBehaviour, UdpPlan};

const VPN: &str = "vpn.egresslab.test";

async fn ike_lab(behaviour: UdpBehaviour) -> Lab {
    Lab::builder()
        .udp(UdpPlan::new("ike", VPN, 500, behaviour))
        .udp(UdpPlan::new("natt", VPN, 4500, behaviour))
        .dns()
        .start()
        .await
        .unwrap()
}

fn ike(lab: &Lab) -> Probe {
    Probe::Ike {
        host: VPN.into(),
        ports: vec![
            (500, lab.udp("ike").unwrap()),
            (4500, lab.udp("natt").unwrap()),
        ],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ike_answered_is_ok_and_silent_is_809() {
    let lab = ike_lab(UdpBehaviour::IkeResponder).await;
    let report = run(&client(&lab), &[ike(&lab)]).await;
    assert_healthy(&report, &["vpn.ike.ok"]);
    lab.shutdown().await;

    let lab = ike_lab(UdpBehaviour::Silent).await;
    let report = run(&client(&lab), &[ike(&lab)]).await;
    assert_problems(&report, &["vpn.ike_blocked"]);
    let f = the(&report, "vpn.ike_blocked");
    assert!(
        f.summary.contains("500") && f.summary.contains("4500") && f.summary.contains("809"),
        "{}",
        show(&report)
    );
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_server_is_800() {
    let lab = ike_lab(UdpBehaviour::IkeResponder).await;
    let report = run(
        &client(&lab),
        &[Probe::Ike {
            host: "nowhere.egresslab.test".into(),
            ports: Vec::new(),
        }],
    )
    .await;
    assert_problems(&report, &["vpn.server_unreachable"]);
    assert!(
        the(&report, "vpn.server_unreachable")
            .summary
            .contains("800"),
        "{}",
        show(&report)
    );
    // Nor can its certificate be fetched on TLS 443.
    let report = run(
        &client(&lab),
        &[Probe::VpnServer {
            host: "nowhere.egresslab.test".into(),
        }],
    )
    .await;
    assert_problems(&report, &["vpn.server_unreachable", "net.dns.nxdomain"]);
    lab.shutdown().await;
}

const SERVER_CERTS: &[(&str, Option<&str>)] = &[
    ("valid", None),
    ("no-server-auth", Some("vpn.server_cert.no_server_auth")),
    ("expired", Some("vpn.server_cert.expired")),
    ("wrong-host", Some("vpn.server_cert.name_mismatch")),
    ("untrusted-root", Some("vpn.server_cert.untrusted_root")),
];

fn vpn_host(profile: &str) -> String {
    format!("vpn-{profile}.egresslab.test")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_server_certificate_defect_has_its_code() {
    let mut builder = Lab::builder();
    for (profile, _) in SERVER_CERTS {
        builder = builder.endpoint(EndpointPlan::https(
            *profile,
            &[&vpn_host(profile)],
            profile.parse().unwrap(),
        ));
    }
    let lab = builder.start().await.unwrap();
    let config = client(&lab);
    for (profile, expected) in SERVER_CERTS {
        let report = run(
            &config,
            &[Probe::VpnServer {
                host: vpn_host(profile),
            }],
        )
        .await;
        match expected {
            None => assert_healthy(&report, &["vpn.server_cert.ok"]),
            Some(code) => assert_problems(&report, &[code]),
        }
    }
    let report = run(
        &config,
        &[Probe::VpnServer {
            host: vpn_host("wrong-host"),
        }],
    )
    .await;
    let f = the(&report, "vpn.server_cert.name_mismatch");
    assert!(
        f.summary.contains(&vpn_host("wrong-host"))
            && f.summary.contains("wrong-host.egresslab.test")
            && f.summary.contains("13801"),
        "{}",
        show(&report)
    );
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_machine_certificate_folder_needs_an_ike_certificate() {
    let lab = Lab::builder().start().await.unwrap();
    let with = tempfile::tempdir().unwrap();
    let without = tempfile::tempdir().unwrap();
    let machine = lab
        .certs()
        .mint(Profile::IkeMachine, &["client01.egresslab.test".to_owned()])
        .unwrap();
    machine.write_to(with.path(), "machine", "").unwrap();
    let server = lab
        .certs()
        .mint(Profile::Valid, &["client01.egresslab.test".to_owned()])
        .unwrap();
    server.write_to(without.path(), "server", "").unwrap();
    server.write_to(with.path(), "server", "").unwrap();
    let config = client(&lab);
    let report = run(
        &config,
        &[Probe::MachineCertificate {
            store: with.path().to_path_buf(),
        }],
    )
    .await;
    assert_healthy(&report, &["vpn.machine_cert.ok"]);
    let report = run(
        &config,
        &[Probe::MachineCertificate {
            store: without.path().to_path_buf(),
        }],
    )
    .await;
    assert_problems(&report, &["vpn.machine_cert_missing"]);
    assert!(
        the(&report, "vpn.machine_cert_missing")
            .summary
            .contains("13806"),
        "{}",
        show(&report)
    );
    lab.shutdown().await;
}

/// A lossy path: the probe retransmits IKE_SA_INIT and gets answers after retries (`vpn.ike_lossy`,
/// a warning); every datagram lost is still a blocked port (error 809).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ike_lost_now_and_then_is_lossy_and_lost_always_is_809() {
    for (toxicity, code) in [("0.5", "vpn.ike_lossy"), ("1.0", "vpn.ike_blocked")] {
        let body = format!(r#"{{"type":"packet_loss","stream":"upstream","toxicity":{toxicity}}}"#);
        let loss = Toxic::from_body(body.as_bytes()).unwrap();
        let lab = Lab::builder()
            .udp(UdpPlan::new("ike", VPN, 500, UdpBehaviour::IkeResponder))
            .udp(UdpPlan::new("natt", VPN, 4500, UdpBehaviour::IkeResponder))
            .toxic("ike", loss.clone())
            .toxic("natt", loss)
            .start()
            .await
            .unwrap();
        let report = run(&client(&lab), &[ike(&lab)]).await;
        let f = the(&report, code);
        if code == "vpn.ike_lossy" {
            assert!(f.summary.contains("went unanswered"), "{}", show(&report));
            assert!(!report.has_errors(), "{}", show(&report));
        } else {
            assert!(f.summary.contains("after 4 attempts"), "{}", show(&report));
        }
        lab.shutdown().await;
    }
}
