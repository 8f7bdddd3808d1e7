//! Real clients against TLS endpoints: curl and openssl see the lab's certificates, version limits,
//! client-certificate requirements and the TLS middleboxes as on a real network.

mod common;

use common::lab::{args, connect_to, describe, run};
use egresslab::certs::{CaRole, Profile};
use egresslab::lab::{EndpointPlan, FirewallAction, Lab, TlsVersions, Vantage};

const HOST: &str = "login.egresslab.test";

async fn curl(lab: &Lab, endpoint: &str, extra: &[&str]) -> std::process::Output {
    let handle = lab.endpoint(endpoint).unwrap();
    let mut command = args(&["-sS", "--max-time", "10", "--cacert"]);
    command.push(lab.ca_bundle_path().display().to_string());
    command.extend(connect_to(HOST, 443, handle.address()));
    command.extend(args(extra));
    command.push(format!("https://{HOST}/"));
    run("curl", command).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_sees_valid_expired_and_version_limited_endpoints() {
    let lab = Lab::builder()
        .endpoint(EndpointPlan::https("ok", &[HOST], Profile::Valid))
        .endpoint(EndpointPlan::https("expired", &[HOST], Profile::Expired))
        .endpoint(
            EndpointPlan::https("modern", &[HOST], Profile::Valid).versions(TlsVersions::Tls13Only),
        )
        .start()
        .await
        .unwrap();
    let ok = curl(&lab, "ok", &[]).await;
    assert_eq!(ok.status.code(), Some(0), "{}", describe(&ok));
    assert_eq!(String::from_utf8_lossy(&ok.stdout), "ok\n");

    let expired = curl(&lab, "expired", &[]).await;
    assert_eq!(expired.status.code(), Some(60), "{}", describe(&expired));
    assert!(
        String::from_utf8_lossy(&expired.stderr).contains("expired"),
        "{}",
        describe(&expired)
    );

    let old_client = curl(&lab, "modern", &["--tlsv1.2", "--tls-max", "1.2"]).await;
    assert_eq!(
        old_client.status.code(),
        Some(35),
        "{}",
        describe(&old_client)
    );
    let new_client = curl(&lab, "modern", &["--tlsv1.3"]).await;
    assert_eq!(
        new_client.status.code(),
        Some(0),
        "{}",
        describe(&new_client)
    );
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openssl_shows_the_lab_issuer() {
    let lab = Lab::builder()
        .endpoint(EndpointPlan::https("ok", &[HOST], Profile::Valid))
        .start()
        .await
        .unwrap();
    let address = lab.endpoint("ok").unwrap().address();
    let output = tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut child = std::process::Command::new("openssl")
            .args([
                "s_client",
                "-connect",
                &address.to_string(),
                "-servername",
                HOST,
                "-showcerts",
            ])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Closing stdin ends the session once the handshake is printed.
        child.stdin.take().unwrap().write_all(b"").unwrap();
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains(&format!("CN = {HOST}")),
        "{}",
        describe(&output)
    );
    assert!(
        text.contains("i:CN = egresslab Lab Issuing CA")
            || text.contains("egresslab Lab Issuing CA"),
        "{}",
        describe(&output)
    );
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_certificate_required_missing_and_present() {
    let lab = Lab::builder()
        .endpoint(EndpointPlan::https("mtls", &[HOST], Profile::Valid).client_auth(CaRole::Lab))
        .endpoint(
            EndpointPlan::https("connector", &[HOST], Profile::Valid)
                .client_auth(CaRole::ConnectorRegistration),
        )
        .start()
        .await
        .unwrap();
    let client = lab
        .certs()
        .mint(Profile::ClientAuth, &["client.egresslab.test".to_owned()])
        .unwrap();
    let cert = lab.dir().join("client.pem");
    let key = lab.dir().join("client.key");
    std::fs::write(&cert, client.full_chain_pem()).unwrap();
    std::fs::write(&key, client.key_pem()).unwrap();
    let (cert, key) = (cert.display().to_string(), key.display().to_string());

    let missing = curl(&lab, "mtls", &[]).await;
    assert_ne!(missing.status.code(), Some(0), "{}", describe(&missing));
    assert!(
        matches!(missing.status.code(), Some(35 | 56)),
        "{}",
        describe(&missing)
    );

    let present = curl(&lab, "mtls", &["--cert", &cert, "--key", &key]).await;
    assert_eq!(present.status.code(), Some(0), "{}", describe(&present));

    let wrong_ca = curl(&lab, "connector", &["--cert", &cert, "--key", &key]).await;
    assert!(
        matches!(wrong_ca.status.code(), Some(35 | 56)),
        "{}",
        describe(&wrong_ca)
    );

    let failures: Vec<String> = lab
        .timeline()
        .events()
        .into_iter()
        .filter_map(|event| match event.kind {
            egresslab::lab::EventKind::TlsFailed { error, .. } => Some(error),
            _ => None,
        })
        .collect();
    assert!(
        failures.iter().any(|e| e == "client certificate missing"),
        "{failures:?}"
    );
    assert!(
        failures.iter().any(|e| e.contains("does not trust")),
        "{failures:?}"
    );
    let received = lab.timeline().events().into_iter().any(|event| {
        matches!(event.kind, egresslab::lab::EventKind::TlsHandshake { client_cert: Some(ref subject), .. } if subject.contains("client.egresslab.test"))
    });
    assert!(received, "{}", lab.timeline().to_json_lines());
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn middleboxes_kill_tls12_and_sha512_handshakes() {
    let lab = Lab::builder()
        .endpoint(EndpointPlan::https("killed", &[HOST], Profile::Valid))
        .endpoint(
            EndpointPlan::https("sha512", &["sha512.egresslab.test"], Profile::Sha512Rsa)
                .versions(TlsVersions::Tls12Only),
        )
        .endpoint(
            EndpointPlan::https("sha256", &["sha256.egresslab.test"], Profile::Valid)
                .versions(TlsVersions::Tls12Only),
        )
        .firewall(Vantage::Client, HOST, Some(443), FirewallAction::KillTls12)
        .firewall(Vantage::Client, "*", Some(443), FirewallAction::KillSha512)
        .start()
        .await
        .unwrap();
    let killed = curl(&lab, "killed", &["--tlsv1.2", "--tls-max", "1.2"]).await;
    assert_eq!(killed.status.code(), Some(35), "{}", describe(&killed));

    for (endpoint, host, expect_ok) in [
        ("sha512", "sha512.egresslab.test", false),
        ("sha256", "sha256.egresslab.test", true),
    ] {
        let address = lab.endpoint(endpoint).unwrap().address();
        assert_ne!(
            address,
            lab.endpoint(endpoint).unwrap().listen_address(),
            "behind the middlebox"
        );
        let mut command = args(&["-sS", "--max-time", "10", "--cacert"]);
        command.push(lab.ca_bundle_path().display().to_string());
        command.extend(connect_to(host, 443, address));
        command.push(format!("https://{host}/"));
        let output = run("curl", command).await.unwrap();
        if expect_ok {
            assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
        } else {
            assert!(
                matches!(output.status.code(), Some(35 | 56)),
                "{}",
                describe(&output)
            );
        }
    }
    let events = lab.timeline().to_json_lines();
    assert!(
        events.contains("ClientHello offers TLS 1.2 or later"),
        "{events}"
    );
    assert!(events.contains("SHA-512-signed certificate"), "{events}");
    lab.shutdown().await;
}
