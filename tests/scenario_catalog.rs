//! The whole built-in catalog through `egresslab run`: every scenario must pass.

use std::process::Command;
use std::time::Instant;

#[test]
fn the_whole_catalog_passes() {
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_egresslab"))
        .env(
            "EGRESSLAB_CA_DIR",
            concat!(env!("CARGO_TARGET_TMPDIR"), "/egresslab-ca"),
        )
        .args(["run", "--format", "text"])
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!("catalog run took {:.1} s", started.elapsed().as_secs_f64());
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let catalog = Command::new(env!("CARGO_BIN_EXE_egresslab"))
        .env(
            "EGRESSLAB_CA_DIR",
            concat!(env!("CARGO_TARGET_TMPDIR"), "/egresslab-ca"),
        )
        .arg("list")
        .output()
        .expect("lists");
    let listed: usize = String::from_utf8_lossy(&catalog.stdout)
        .lines()
        .last()
        .and_then(|l| l.strip_suffix(" scenarios"))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(
        stdout.contains(&format!("{listed}/{listed} passed")) && listed >= 59,
        "{listed} listed\n{stdout}"
    );
}

#[test]
fn the_direct_tls_and_vpn_scenarios_pass() {
    let out = Command::new(env!("CARGO_BIN_EXE_egresslab"))
        .env(
            "EGRESSLAB_CA_DIR",
            concat!(env!("CARGO_TARGET_TMPDIR"), "/egresslab-ca"),
        )
        .args([
            "run",
            "tls-healthy",
            "tls-expired",
            "tls-wrong-host",
            "tls-revoked",
            "client-cert-missing",
            "port-443-refused",
            "vpn-healthy",
            "vpn-ike-blocked",
            "trust-settings-mismatch",
        ])
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("9/9 passed"), "{stdout}");
}

#[test]
fn a_failing_expectation_fails_the_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = include_str!("../scenarios/tls/tls-expired.toml").replace(
        "diagnoses = [\"pki.expired\"]",
        "diagnoses = [\"pki.revoked\"]",
    );
    let path = dir.path().join("wrong.toml");
    std::fs::write(&path, text).expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_egresslab"))
        .env(
            "EGRESSLAB_CA_DIR",
            concat!(env!("CARGO_TARGET_TMPDIR"), "/egresslab-ca"),
        )
        .arg("run")
        .arg(&path)
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("expected pki.revoked, not reported") && stdout.contains("FAIL"),
        "{stdout}"
    );
}
