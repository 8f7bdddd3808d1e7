//! The lab's own listeners under live control (issue 13): endpoints, proxies, a proxy's route to
//! its parent and a UDP responder appear in `GET /proxies` and take toxics; egresslab's own routes
//! change rules, authentication, interception, the firewall, certificates and names while the lab
//! runs. Real clients see every change: curl, `egresslab check`, raw UDP.

mod common;

use std::net::SocketAddr;
use std::process::Output;
use std::time::Duration;

use common::control::{api, curl, with_seed};
use egresslab::certs::Profile;
use egresslab::lab::control::Control;
use egresslab::lab::{EndpointPlan, Lab, ProxyPlan, UdpBehaviour, UdpPlan};

const SECURE: &str = "secure.egresslab.test";
const PORTAL: &str = "portal.egresslab.test";

/// A portal (plain HTTP), a secure site (HTTPS, lab certificate), a proxy `corp`, a proxy
/// `branch` chained to `corp`, and an IKE responder `vpn`.
async fn lab_and_control(seed: u64) -> (Lab, Control) {
    let mut branch = ProxyPlan::new("branch");
    branch.upstream = Some("corp".to_owned());
    let lab = Lab::builder()
        .endpoint(EndpointPlan::http("portal", &[PORTAL], 80))
        .endpoint(EndpointPlan::https("secure", &[SECURE], Profile::Valid))
        .proxy(ProxyPlan::new("corp"))
        .proxy(branch)
        .udp(UdpPlan {
            name: "vpn".to_owned(),
            host: "vpn.egresslab.test".to_owned(),
            port: 500,
            behaviour: UdpBehaviour::IkeResponder,
        })
        .start()
        .await
        .unwrap();
    let control = with_seed(&lab, seed);
    (lab, control)
}

/// `POST path` with a JSON body, which must answer 200; its JSON.
async fn post(control: &Control, path: &str, body: &str) -> serde_json::Value {
    let (status, json) = api(control, "POST", path, Some(body)).await;
    assert_eq!(status, 200, "POST {path} {body}: {json}");
    json
}

fn proxy_url(lab: &Lab, name: &str) -> String {
    format!("http://{}", lab.expect_proxy(name).address())
}

/// curl GET of `https://secure.egresslab.test/` through proxy `name`, trusting the lab root.
async fn via_proxy(lab: &Lab, name: &str, extra: &[&str]) -> Output {
    let ca = lab.ca_bundle_path().to_str().unwrap().to_owned();
    let proxy = proxy_url(lab, name);
    let url = format!("https://{SECURE}/");
    let mut args = vec![
        "-s",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code} %{time_total} %{http_connect}",
        "--max-time",
        "10",
        "--cacert",
        &ca,
        "-x",
        &proxy,
        &url,
    ];
    args.extend(extra);
    curl(&args).await
}

fn code(out: &Output) -> Option<i32> {
    out.status.code()
}

/// The proxy's answer to curl's CONNECT (`%{http_connect}`).
fn connect_status(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .nth(2)
        .unwrap_or_default()
        .to_owned()
}

fn total_seconds(out: &Output) -> f64 {
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .nth(1)
        .and_then(|t| t.parse().ok())
        .unwrap_or(f64::NAN)
}

#[tokio::test]
async fn every_lab_listener_is_a_proxy_of_the_api_and_takes_toxics() {
    let (lab, control) = lab_and_control(1).await;
    let (status, all) = api(&control, "GET", "/proxies", None).await;
    assert_eq!(status, 200);
    for (name, address) in [
        ("portal", lab.expect_endpoint("portal").address()),
        ("secure", lab.expect_endpoint("secure").address()),
        ("corp", lab.expect_proxy("corp").address()),
        ("branch", lab.expect_proxy("branch").address()),
        ("vpn", lab.expect_udp("vpn")),
    ] {
        assert_eq!(all[name]["listen"], address.to_string(), "{name}: {all}");
        assert_eq!(all[name]["enabled"], true, "{name}");
        assert_eq!(all[name]["toxics"], serde_json::json!([]), "{name}");
    }
    assert_eq!(all["branch~corp"]["upstream"], "route branch~corp");
    assert_eq!(
        all["branch~corp"]["listen"],
        lab.expect_proxy("corp").address().to_string()
    );

    // A latency toxic on the endpoint itself: a direct curl to its address waits for it.
    let portal = format!("http://{}/", lab.expect_endpoint("portal").address());
    let timed = |url: String| async move {
        let out = curl(&[
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code} %{time_total}",
            &url,
        ])
        .await;
        (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            total_seconds(&out),
        )
    };
    let (answer, fast) = timed(portal.clone()).await;
    assert!(answer.starts_with("200"), "{answer}");
    let toxic = post(
        &control,
        "/proxies/portal/toxics",
        r#"{"type":"latency","attributes":{"latency":300}}"#,
    )
    .await;
    assert_eq!(toxic["attributes"]["latency"], 300);
    let (answer, slow) = timed(portal.clone()).await;
    assert!(answer.starts_with("200"), "{answer}");
    assert!(
        slow >= 0.29 && slow < 0.29 + 0.5 + fast,
        "latency 300 ms: took {slow} s"
    );
    let (status, _) = api(
        &control,
        "DELETE",
        "/proxies/portal/toxics/latency_downstream",
        None,
    )
    .await;
    assert_eq!(status, 204);
    let (_, again) = timed(portal).await;
    assert!(again < 0.25, "toxic removed, still {again} s");

    // A lab listener can be turned off and on, not moved or deleted; its name is taken.
    let (status, error) = api(&control, "DELETE", "/proxies/portal", None).await;
    assert_eq!(status, 403, "{error}");
    assert!(
        error["error"].as_str().unwrap().contains("part of the lab"),
        "{error}"
    );
    let (status, error) = api(
        &control,
        "POST",
        "/proxies/portal",
        Some(r#"{"listen":"127.0.0.1:1"}"#),
    )
    .await;
    assert_eq!(status, 400, "{error}");
    let (status, _) = api(
        &control,
        "POST",
        "/proxies",
        Some(r#"{"name":"portal","upstream":"secure"}"#),
    )
    .await;
    assert_eq!(status, 409);
    lab.shutdown().await;
}

/// `egresslab check https://secure.egresslab.test/ --proxy URL --ca lab.pem`: exit code and output.
async fn check_through(lab: &Lab, proxy: &str) -> (Option<i32>, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_egresslab"))
        .env(
            "EGRESSLAB_CA_DIR",
            concat!(env!("CARGO_TARGET_TMPDIR"), "/egresslab-ca"),
        )
        .args(["check", &format!("https://{SECURE}/"), "--proxy"])
        .arg(proxy_url(lab, proxy))
        .arg("--ca")
        .arg(lab.ca_bundle_path())
        .output()
        .await
        .expect("egresslab check runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text)
}

#[tokio::test]
async fn a_proxy_flipped_down_is_unreachable_for_check_and_healthy_after_the_flip_back() {
    let (lab, control) = lab_and_control(2).await;
    let (healthy, report) = check_through(&lab, "corp").await;
    assert_eq!(healthy, Some(0), "{report}");
    let (status, state) = api(&control, "POST", "/egresslab/proxies/corp/down", None).await;
    assert_eq!(status, 200, "{state}");
    assert_eq!(state["up"], false);
    let (down, report) = check_through(&lab, "corp").await;
    assert_ne!(down, Some(0), "{report}");
    assert!(
        report.contains("proxy.unreachable"),
        "check names the proxy as unreachable: {report}"
    );
    let out = via_proxy(&lab, "corp", &[]).await;
    assert_eq!(code(&out), Some(7), "curl: the proxy port refuses");
    let (status, _) = api(&control, "POST", "/egresslab/proxies/corp/up", None).await;
    assert_eq!(status, 200);
    let (again, report) = check_through(&lab, "corp").await;
    assert_eq!(again, Some(0), "{report}");
    let events: Vec<String> = lab
        .timeline()
        .events()
        .iter()
        .filter(|e| e.source == "control")
        .map(|e| format!("{:?}", e.kind))
        .collect();
    assert!(
        events.iter().any(|e| e.contains("proxy corp turned off")),
        "{events:?}"
    );
    assert!(
        events.iter().any(|e| e.contains("proxy corp turned on")),
        "{events:?}"
    );
    lab.shutdown().await;
}

#[tokio::test]
async fn interception_turned_on_makes_the_next_curl_fail_with_60_and_off_again_succeed() {
    let (lab, control) = lab_and_control(3).await;
    assert_eq!(code(&via_proxy(&lab, "corp", &[]).await), Some(0));
    let state = post(
        &control,
        "/egresslab/proxies/corp/interception",
        r#"{"enabled":true}"#,
    )
    .await;
    assert_eq!(state["interception"], true);
    let out = via_proxy(&lab, "corp", &[]).await;
    assert_eq!(
        code(&out),
        Some(60),
        "the inspection CA is not trusted: {out:?}"
    );
    post(
        &control,
        "/egresslab/proxies/corp/interception",
        r#"{"enabled":false}"#,
    )
    .await;
    assert_eq!(code(&via_proxy(&lab, "corp", &[]).await), Some(0));
    lab.shutdown().await;
}

#[tokio::test]
async fn rules_and_authentication_change_for_new_connections() {
    let (lab, control) = lab_and_control(4).await;
    let state = post(
        &control,
        "/egresslab/proxies/corp/rules",
        &format!(r#"{{"action":"deny","hosts":"{SECURE}","ports":[443]}}"#),
    )
    .await;
    assert_eq!(state["rules"][0]["action"], "deny");
    let out = via_proxy(&lab, "corp", &[]).await;
    assert_eq!(code(&out), Some(56), "CONNECT answered 403: {out:?}");
    assert_eq!(connect_status(&out), "403", "{out:?}");
    let (status, _) = api(&control, "DELETE", "/egresslab/proxies/corp/rules", None).await;
    assert_eq!(status, 200);
    assert_eq!(code(&via_proxy(&lab, "corp", &[]).await), Some(0));

    post(
        &control,
        "/egresslab/proxies/corp/auth",
        r#"{"enabled":true,"user":"alice","password":"Secr3t-pw"}"#,
    )
    .await;
    let out = via_proxy(&lab, "corp", &[]).await;
    assert_eq!(connect_status(&out), "407", "{out:?}");
    let out = via_proxy(&lab, "corp", &["--proxy-user", "alice:Secr3t-pw"]).await;
    assert_eq!(code(&out), Some(0), "{out:?}");
    let timeline = format!("{:?}", lab.timeline().events());
    assert!(
        !timeline.contains("Secr3t-pw"),
        "the password never reaches the timeline"
    );
    post(
        &control,
        "/egresslab/proxies/corp/auth",
        r#"{"enabled":false}"#,
    )
    .await;
    assert_eq!(code(&via_proxy(&lab, "corp", &[]).await), Some(0));
    lab.shutdown().await;
}

#[tokio::test]
async fn a_destination_toxic_slows_only_the_proxys_connections_to_matching_hosts() {
    let (lab, control) = lab_and_control(5).await;
    let toxic = post(&control, "/proxies/corp/toxics", &format!(
            r#"{{"name":"slow-secure","type":"latency","destination":"{SECURE}","attributes":{{"latency":400}}}}"#
        )).await;
    assert_eq!(toxic["destination"], SECURE);
    let slow = via_proxy(&lab, "corp", &[]).await;
    assert_eq!(code(&slow), Some(0), "{slow:?}");
    assert!(
        total_seconds(&slow) >= 0.39,
        "matching tunnel delayed: {slow:?}"
    );
    let proxy = proxy_url(&lab, "corp");
    let url = format!("http://{PORTAL}/");
    let fast = curl(&[
        "-s",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code} %{time_total}",
        "-x",
        &proxy,
        &url,
    ])
    .await;
    assert!(
        String::from_utf8_lossy(&fast.stdout).starts_with("200"),
        "{fast:?}"
    );
    assert!(
        total_seconds(&fast) < 0.3,
        "another destination is not: {fast:?}"
    );
    lab.shutdown().await;
}

#[tokio::test]
async fn a_route_turned_off_leaves_the_parent_unreachable_for_the_child_proxy() {
    let (lab, control) = lab_and_control(6).await;
    assert_eq!(code(&via_proxy(&lab, "branch", &[]).await), Some(0));
    post(&control, "/proxies/branch~corp", r#"{"enabled":false}"#).await;
    let out = via_proxy(&lab, "branch", &[]).await;
    assert_eq!(code(&out), Some(56), "{out:?}");
    assert_eq!(connect_status(&out), "503", "{out:?}");
    // corp itself still serves.
    assert_eq!(code(&via_proxy(&lab, "corp", &[]).await), Some(0));
    let (status, _) = api(&control, "POST", "/reset", None).await;
    assert_eq!(status, 204);
    assert_eq!(code(&via_proxy(&lab, "branch", &[]).await), Some(0));
    lab.shutdown().await;
}

#[tokio::test]
async fn firewall_names_and_certificates_change_while_the_lab_runs() {
    let (lab, control) = lab_and_control(7).await;
    let firewall = |action: &str| {
        format!(r#"{{"from":"proxy:corp","hosts":"{SECURE}","port":443,"action":"{action}"}}"#)
    };
    post(&control, "/egresslab/firewall", &firewall("reject")).await;
    let out = via_proxy(&lab, "corp", &[]).await;
    assert_eq!(connect_status(&out), "503", "reject: {out:?}");
    post(&control, "/egresslab/firewall", &firewall("allow")).await;
    assert_eq!(code(&via_proxy(&lab, "corp", &[]).await), Some(0));

    post(
        &control,
        &format!("/egresslab/names/{SECURE}"),
        r#"{"exists":false}"#,
    )
    .await;
    let out = via_proxy(&lab, "corp", &[]).await;
    assert_eq!(connect_status(&out), "500", "NXDOMAIN: {out:?}");
    post(
        &control,
        &format!("/egresslab/names/{SECURE}"),
        r#"{"exists":true}"#,
    )
    .await;
    assert_eq!(code(&via_proxy(&lab, "corp", &[]).await), Some(0));

    let answer = post(
        &control,
        "/egresslab/endpoints/secure/certificate",
        r#"{"profile":"expired"}"#,
    )
    .await;
    assert_eq!(answer["profile"], "expired");
    let out = via_proxy(&lab, "corp", &[]).await;
    assert_eq!(code(&out), Some(60), "an expired certificate: {out:?}");
    let (status, _) = api(&control, "POST", "/reset", None).await;
    assert_eq!(status, 204);
    assert_eq!(code(&via_proxy(&lab, "corp", &[]).await), Some(0));
    lab.shutdown().await;
}

/// An IKE_SA_INIT request header (28 bytes) with initiator SPI `n`.
fn ike_init(n: u64) -> Vec<u8> {
    let mut message = n.to_be_bytes().to_vec();
    message.extend([0; 8]);
    message.extend([33, 0x20, 34, 0x08]);
    message.extend(0u32.to_be_bytes());
    message.extend(28u32.to_be_bytes());
    message
}

/// Which of 200 IKE_SA_INIT requests the responder answered.
async fn answered(address: SocketAddr) -> Vec<bool> {
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut seen = Vec::with_capacity(200);
    let mut buf = [0u8; 512];
    for n in 0..200u64 {
        socket.send_to(&ike_init(n), address).await.unwrap();
        let reply = tokio::time::timeout(Duration::from_millis(100), socket.recv(&mut buf)).await;
        seen.push(matches!(reply, Ok(Ok(len)) if len >= 28 && buf[..8] == n.to_be_bytes()));
    }
    seen
}

#[tokio::test]
async fn packet_loss_on_ike_drops_about_half_and_the_same_datagrams_with_the_same_seed() {
    let mut runs = Vec::new();
    for _ in 0..2 {
        let (lab, control) = lab_and_control(42).await;
        let (status, toxic) = api(
            &control,
            "POST",
            "/proxies/vpn/toxics",
            Some(r#"{"type":"packet_loss","stream":"upstream","toxicity":0.5}"#),
        )
        .await;
        assert_eq!(status, 200, "{toxic}");
        runs.push(answered(lab.expect_udp("vpn")).await);
        lab.shutdown().await;
    }
    let lost = runs[0].iter().filter(|a| !**a).count();
    assert!((70..=130).contains(&lost), "about half of 200 lost: {lost}");
    assert_eq!(runs[0], runs[1], "the same seed loses the same datagrams");
}

#[tokio::test]
async fn bad_input_to_egresslabs_routes_is_a_clear_error_and_the_lab_keeps_serving() {
    let (lab, control) = lab_and_control(8).await;
    let cases: &[(&str, &str, Option<&str>, u16, &str)] = &[
        (
            "POST",
            "/egresslab/proxies/nope/down",
            None,
            404,
            "no proxy \"nope\"",
        ),
        (
            "POST",
            "/egresslab/proxies/corp/rules",
            Some(r#"{"action":"maybe","hosts":"*"}"#),
            400,
            "expected \"allow\" or \"deny\"",
        ),
        (
            "POST",
            "/egresslab/proxies/corp/rules",
            Some(r#"{"action":"deny","hosts":"a b"}"#),
            400,
            "hosts",
        ),
        (
            "POST",
            "/egresslab/proxies/corp/rules",
            Some(r#"{"action":"deny","hosts":"*","ports":[0]}"#),
            400,
            "0 is not a port",
        ),
        (
            "POST",
            "/egresslab/proxies/corp/rules",
            Some(r#"{"action":"deny","hosts":"*","extra":1}"#),
            400,
            "unknown field",
        ),
        (
            "POST",
            "/egresslab/proxies/corp/auth",
            Some(r#"{"enabled":true}"#),
            400,
            "no authentication in its scenario",
        ),
        (
            "POST",
            "/egresslab/proxies/corp/auth",
            Some(r#"{"enabled":"yes"}"#),
            400,
            "invalid type",
        ),
        (
            "POST",
            "/egresslab/firewall",
            Some(r#"{"from":"client","hosts":"*","action":"drop"}"#),
            400,
            "direct client",
        ),
        (
            "POST",
            "/egresslab/firewall",
            Some(r#"{"from":"proxy:corp","hosts":"*","action":"explode"}"#),
            400,
            "expected \"allow\", \"reject\" or \"drop\"",
        ),
        (
            "POST",
            "/egresslab/endpoints/secure/certificate",
            Some(r#"{"profile":"shiny"}"#),
            400,
            "profile",
        ),
        (
            "POST",
            "/egresslab/endpoints/portal/certificate",
            Some(r#"{"profile":"expired"}"#),
            400,
            "plain HTTP",
        ),
        (
            "POST",
            "/egresslab/names/*.x",
            Some(r#"{"exists":false}"#),
            400,
            "expected a host name",
        ),
        ("GET", "/egresslab/firewall", None, 405, ""),
        ("GET", "/egresslab/nothing", None, 404, ""),
        (
            "POST",
            "/proxies/vpn/toxics",
            Some(r#"{"type":"bandwidth","attributes":{"rate":1}}"#),
            400,
            "UDP responder",
        ),
        (
            "POST",
            "/proxies/portal/toxics",
            Some(r#"{"type":"packet_loss"}"#),
            400,
            "UDP responders only",
        ),
        (
            "POST",
            "/proxies/portal/toxics",
            Some(r#"{"type":"latency","destination":"x.test"}"#),
            400,
            "not a lab proxy",
        ),
        (
            "POST",
            "/proxies/corp/toxics",
            Some(r#"{"type":"latency","destination":"a b"}"#),
            400,
            "destination",
        ),
    ];
    for (method, path, body, status, words) in cases {
        let (got, json) = api(&control, method, path, *body).await;
        assert_eq!(got, *status, "{method} {path} {body:?}: {json}");
        if !words.is_empty() {
            let message = json["error"].as_str().unwrap_or_default();
            assert!(
                message.contains(words),
                "{method} {path}: {message:?} lacks {words:?}"
            );
        }
    }
    assert_eq!(
        code(&via_proxy(&lab, "corp", &[]).await),
        Some(0),
        "still serving"
    );
    lab.shutdown().await;
}
