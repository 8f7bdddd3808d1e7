//! Real clients under `egresslab run --exec`: curl over the whole catalog (every scenario with a curl
//! `[[expect.exec]]` is judged) and openssl s_client over the certificate cases with an openssl
//! expectation. Each runs as one `egresslab run` invocation; the two run in parallel.

use std::process::{Command, Output};
use std::time::Instant;

/// curl as a diagnostic tool would run it: the lab's .curlrc (CURL_HOME) supplies the name mapping,
/// trust, proxy, client certificate and TLS versions; the status code goes to stdout.
const CURL: &str = r#"curl -sS -o /dev/null -w "%{http_code}\n" "$EGRESSLAB_URL""#;

/// openssl s_client against the endpoint's real address, verifying the name the client uses.
const OPENSSL: &str = r#"openssl s_client -connect "$EGRESSLAB_ADDRESS" -servername "$EGRESSLAB_HOST" -verify_hostname "$EGRESSLAB_HOST" -CAfile "$EGRESSLAB_CA_BUNDLE""#;

/// The catalog scenarios with an openssl expectation.
const OPENSSL_CASES: &[&str] = &[
    "tls-healthy",
    "tls-expired",
    "tls-not-yet-valid",
    "tls-self-signed",
    "tls-untrusted-root",
    "tls-incomplete-chain",
    "tls-wrong-host",
];

fn egresslab(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_egresslab"))
        .env(
            "EGRESSLAB_CA_DIR",
            concat!(env!("CARGO_TARGET_TMPDIR"), "/egresslab-ca"),
        )
        .args(args)
        .output()
        .expect("egresslab runs")
}

fn assert_passed(out: &Output, what: &str) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{what}\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn curl_and_openssl_see_what_each_scenario_expects() {
    let started = Instant::now();
    let curl = std::thread::spawn(|| egresslab(&["run", "--exec", CURL, "--exec-timeout", "20"]));
    let mut args = vec!["run", "--exec", OPENSSL, "--exec-timeout", "20"];
    args.extend(OPENSSL_CASES);
    let openssl = egresslab(&args);
    let curl = curl.join().expect("curl run");
    eprintln!(
        "catalog under curl and openssl: {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert_passed(&curl, "curl over the catalog");
    assert_passed(&openssl, "openssl over the certificate cases");
    let stdout = String::from_utf8_lossy(&openssl.stdout);
    assert!(
        stdout.contains(&format!("{0}/{0} passed", OPENSSL_CASES.len())),
        "{stdout}"
    );
}

#[test]
fn a_client_that_does_not_see_the_failure_fails_the_run() {
    // `curl --version` exits 0, where a real request to the intercepted endpoint ends in 60.
    let out = egresslab(&["run", "tls-inspection", "--exec", "curl --version"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("exec curl: exit code: expected 60, got 0"),
        "{stdout}"
    );
}
