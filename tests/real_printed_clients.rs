//! What `egresslab up` hands a user, run by the real clients: the lab's `.curlrc` carries the
//! scenario's proxy credentials, so `curl "$EGRESSLAB_URL"` passes where the simulated client passes
//! (a Digest and an NTLM proxy); the printed lines never show the password;
//! and the printed openssl line goes through the proxy, so it meets the interception.

use std::process::Command;

use egresslab::scenario::prepare::{curl_command, openssl_command, target_url};
use egresslab::scenario::Live;

/// `sh -c script` in the lab's environment; returns (exit status, stdout, stderr).
fn run_in(env: &[(String, String)], script: &str) -> (Option<i32>, String, String) {
    let out = Command::new("sh")
        .arg("-c")
        .arg(script)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .output()
        .expect("sh runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn var<'a>(env: &'a [(String, String)], key: &str) -> &'a str {
    env.iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("{key} is exported"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_with_the_lab_curlrc_passes_an_authenticating_proxy() {
    for (id, password) in [
        ("proxy-digest", "Summer2026!"),
        ("proxy-ntlm-healthy", "Summer2026!"),
    ] {
        let live = Live::from_catalog(id).await.expect("the lab starts");
        let url = target_url(live.scenario(), None).expect("a URL probe");
        let env = live.env_for(Some(&url), None).expect("the environment");
        let (code, stdout, stderr) = run_in(
            &env,
            r#"curl -sS -o /dev/null -w '%{http_code}' "$EGRESSLAB_URL""#,
        );
        assert_eq!(code, Some(0), "{id}: curl failed: {stderr}");
        assert_eq!(stdout, "200", "{id}: {stderr}");

        let curlrc = std::path::Path::new(var(&env, "CURL_HOME")).join(".curlrc");
        let text = std::fs::read_to_string(&curlrc).expect("the .curlrc");
        assert!(text.contains("proxy-user"), "{text}");
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(&curlrc).expect("metadata").permissions(),
        );
        assert_eq!(mode & 0o077, 0, "the .curlrc holds a password: owner-only");

        let printed = curl_command(live.client(), &url);
        assert!(printed.contains("--proxy-user"), "{printed}");
        assert!(!printed.contains(password), "never printed: {printed}");
        let openssl = openssl_command(live.client(), &url).expect("an openssl line");
        assert!(!openssl.contains(password), "never printed: {openssl}");
        live.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_printed_openssl_line_meets_the_interception() {
    let live = Live::from_catalog("tls-inspection")
        .await
        .expect("the lab starts");
    let url = target_url(live.scenario(), None).expect("a URL probe");
    let line = openssl_command(live.client(), &url).expect("an openssl line");
    assert!(line.contains("-proxy "), "{line}");
    let env = live.env_for(Some(&url), None).expect("the environment");
    let (_, stdout, stderr) = run_in(
        &env,
        &format!("{line} </dev/null 2>/dev/null | openssl x509 -noout -issuer"),
    );
    assert!(
        stdout.to_ascii_lowercase().contains("inspection"),
        "the issuer openssl meets is the inspection CA: {stdout} {stderr}"
    );
    live.shutdown().await;
}
