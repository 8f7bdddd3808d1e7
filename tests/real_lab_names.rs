//! Real clients against the lab's name and revocation services: dig and openssl.

mod common;

use common::lab::{args, describe, run};
use egresslab::lab::{EndpointBehaviour, EndpointPlan, Lab};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dig_gets_lab_addresses_and_nxdomain() {
    let lab = Lab::builder()
        .endpoint(EndpointPlan::http("app", &["app.egresslab.test"], 80))
        .dns()
        .nxdomain("gone.egresslab.test")
        .start()
        .await
        .unwrap();
    let dns = lab.dns_address().unwrap();
    let dig = |name: &str, extra: &[&str]| {
        let mut command = vec![
            format!("@{}", dns.ip()),
            "-p".to_owned(),
            dns.port().to_string(),
        ];
        command.extend(args(&["+time=2", "+tries=1"]));
        command.extend(args(extra));
        command.push(name.to_owned());
        run("dig", command)
    };
    let found = dig("app.egresslab.test", &["+short"]).await.unwrap();
    assert_eq!(
        String::from_utf8_lossy(&found.stdout).trim(),
        "127.0.0.1",
        "{}",
        describe(&found)
    );
    let over_tcp = dig("app.egresslab.test", &["+short", "+tcp"])
        .await
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&over_tcp.stdout).trim(),
        "127.0.0.1",
        "{}",
        describe(&over_tcp)
    );
    for name in ["gone.egresslab.test", "nothing.example"] {
        let missing = dig(name, &[]).await.unwrap();
        assert!(
            String::from_utf8_lossy(&missing.stdout).contains("status: NXDOMAIN"),
            "{}",
            describe(&missing)
        );
    }
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openssl_parses_the_served_crl() {
    let lab = Lab::builder()
        .endpoint(
            EndpointPlan::http("crl", &["crl.egresslab.test"], 80)
                .behaviour(EndpointBehaviour::Revocation),
        )
        .start()
        .await
        .unwrap();
    let crl = lab.dir().join("lab.crl");
    let mut command = args(&["-sS", "--fail", "-o"]);
    command.push(crl.display().to_string());
    command.extend(lab.curl_resolve_args());
    command.push(egresslab::certs::CRL_URL.to_owned());
    let fetched = run("curl", command).await.unwrap();
    assert_eq!(fetched.status.code(), Some(0), "{}", describe(&fetched));
    let mut parse = args(&["crl", "-inform", "DER", "-noout", "-text", "-in"]);
    parse.push(crl.display().to_string());
    let parsed = run("openssl", parse).await.unwrap();
    assert_eq!(parsed.status.code(), Some(0), "{}", describe(&parsed));
    assert!(
        String::from_utf8_lossy(&parsed.stdout).contains("Certificate Revocation List"),
        "{}",
        describe(&parsed)
    );
    lab.shutdown().await;
}
