//! TLS and the proxy, with real clients: interception seen by curl and openssl, the lost client
//! certificate, passthrough hosts, and an `https://` proxy listener.

mod common;

use common::proxy::*;
use egresslab::certs::{CaRole, Profile};
use egresslab::lab::{EndpointPlan, EventKind, InterceptPlan, Lab, ProxyPlan};

async fn run(program: &str, args: &[&str], stdin: &[u8]) -> (i32, String, String) {
    use tokio::io::AsyncWriteExt;
    let mut child = tokio::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("client runs");
    let mut input = child.stdin.take().expect("stdin");
    input.write_all(stdin).await.expect("write stdin");
    drop(input);
    let output = tokio::time::timeout(std::time::Duration::from_secs(20), child.wait_with_output())
        .await
        .expect("client finishes")
        .expect("client output");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

async fn intercepting_lab() -> Lab {
    let proxy = ProxyPlan {
        intercept: Some(InterceptPlan {
            passthrough: vec!["direct.egresslab.test".into()],
        }),
        ..ProxyPlan::new("inspect")
    };
    world()
        .endpoint(EndpointPlan::https(
            "direct",
            &["direct.egresslab.test"],
            Profile::Valid,
        ))
        .endpoint(
            EndpointPlan::https("mtls", &["mtls.egresslab.test"], Profile::Valid)
                .client_auth(CaRole::Lab),
        )
        .proxy(proxy)
        .start()
        .await
        .expect("lab starts")
}

fn path(lab: &Lab, file: &str) -> String {
    lab.dir()
        .join(file)
        .to_str()
        .expect("utf-8 path")
        .to_owned()
}

#[tokio::test]
async fn curl_fails_verification_unless_it_trusts_the_inspection_ca() {
    let lab = intercepting_lab().await;
    let proxy = lab.proxy("inspect").unwrap().url();
    let url = "https://secure.egresslab.test/";
    let lab_only = run(
        "curl",
        &["-sS", "-x", &proxy, "--cacert", &path(&lab, "lab.pem"), url],
        b"",
    )
    .await;
    assert_eq!(lab_only.0, 60, "{}", lab_only.2);
    let inspected = run(
        "curl",
        &[
            "-sS",
            "-x",
            &proxy,
            "--cacert",
            &path(&lab, "inspection.pem"),
            url,
        ],
        b"",
    )
    .await;
    assert_eq!(
        (inspected.0, inspected.1.as_str()),
        (0, "ok\n"),
        "{}",
        inspected.2
    );
    // A passthrough host is tunnelled blind: the origin's own chain, trusted through the lab root.
    let direct = run(
        "curl",
        &[
            "-sS",
            "-x",
            &proxy,
            "--cacert",
            &path(&lab, "lab.pem"),
            "https://direct.egresslab.test/",
        ],
        b"",
    )
    .await;
    assert_eq!(direct.0, 0, "{}", direct.2);
    let timeline = lab.timeline().clone();
    lab.shutdown().await;
    let issuer = lab_issuer_name(&timeline);
    assert!(
        issuer.contains("CN=secure.egresslab.test, issued by"),
        "{issuer}"
    );
}

fn lab_issuer_name(timeline: &egresslab::lab::Timeline) -> String {
    timeline
        .events()
        .into_iter()
        .find_map(|e| match e.kind {
            EventKind::TlsHandshake { served, .. } if e.source == "proxy:inspect" => Some(served),
            _ => None,
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn openssl_shows_the_inspection_ca_as_issuer_and_the_real_chain_for_passthrough() {
    let lab = intercepting_lab().await;
    let proxy = lab.proxy("inspect").unwrap().address().to_string();
    let inspection_cn = lab
        .certs()
        .authority(egresslab::certs::CaRole::Inspection)
        .common_name()
        .to_owned();
    let s_client = |host: &'static str| {
        let proxy = proxy.clone();
        async move {
            let connect = format!("{host}:443");
            run(
                "openssl",
                &[
                    "s_client",
                    "-proxy",
                    &proxy,
                    "-connect",
                    &connect,
                    "-servername",
                    host,
                ],
                b"",
            )
            .await
        }
    };
    // The first certificate of the printed chain: " 0 s:CN = host" then "   i:<issuer>".
    let leaf_issuer = |stdout: &str| {
        let mut lines = stdout
            .lines()
            .skip_while(|l| !l.starts_with("Certificate chain"));
        lines
            .find(|l| l.trim_start().starts_with("i:"))
            .unwrap_or_default()
            .to_owned()
    };
    let (code, stdout, stderr) = s_client("secure.egresslab.test").await;
    assert_eq!(code, 0, "{stderr}");
    assert!(leaf_issuer(&stdout).contains(&inspection_cn), "{stdout}");
    let (code, stdout, stderr) = s_client("direct.egresslab.test").await;
    assert_eq!(code, 0, "{stderr}");
    let issuer = leaf_issuer(&stdout);
    assert!(
        !issuer.is_empty() && !issuer.contains(&inspection_cn),
        "{stdout}"
    );
    lab.shutdown().await;
}

#[tokio::test]
async fn interception_loses_the_client_certificate_an_origin_requires() {
    let lab = intercepting_lab().await;
    let proxy = lab.proxy("inspect").unwrap().url();
    let result = run(
        "curl",
        &[
            "-sS",
            "-x",
            &proxy,
            "--cacert",
            &path(&lab, "inspection.pem"),
            "https://mtls.egresslab.test/",
        ],
        b"",
    )
    .await;
    assert_ne!(result.0, 0, "the origin must refuse: {result:?}");
    assert_ne!(result.1, "ok\n");
    let timeline = lab.timeline().clone();
    lab.shutdown().await;
    let json = timeline.to_json_lines();
    assert!(
        json.contains(
            "mtls.egresslab.test asked for a client certificate; the intercepting proxy has none"
        ),
        "{json}"
    );
}

#[tokio::test]
async fn an_https_proxy_listener_serves_curl() {
    let plan = ProxyPlan {
        tls_profile: Some(Profile::Valid),
        ..ProxyPlan::new("secure-proxy")
    };
    let lab = lab_with(plan).await;
    let handle = lab.proxy("secure-proxy").unwrap();
    assert!(handle.url().starts_with("https://127.0.0.1:"));
    let bundle = path(&lab, "lab.pem");
    let result = run(
        "curl",
        &[
            "-sS",
            "--proxy",
            &handle.url(),
            "--proxy-cacert",
            &bundle,
            "--cacert",
            &bundle,
            "https://secure.egresslab.test/",
        ],
        b"",
    )
    .await;
    assert_eq!((result.0, result.1.as_str()), (0, "ok\n"), "{}", result.2);
    let untrusted = run(
        "curl",
        &[
            "-sS",
            "--proxy",
            &handle.url(),
            "--cacert",
            &bundle,
            "https://secure.egresslab.test/",
        ],
        b"",
    )
    .await;
    assert_eq!(untrusted.0, 60, "{}", untrusted.2);
    lab.shutdown().await;
}
