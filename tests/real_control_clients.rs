//! Toxiproxy clients written elsewhere drive `egresslab up --control` unchanged (issue 13).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// `egresslab up tls-healthy --control 127.0.0.1:0`: the child and the control address from its
/// ready file.
fn lab_with_control(dir: &std::path::Path) -> (std::process::Child, String) {
    let ready = dir.join("ready.json");
    let child = Command::new(env!("CARGO_BIN_EXE_egresslab"))
        .args([
            "up",
            "tls-healthy",
            "--control",
            "127.0.0.1:0",
            "--seed",
            "7",
            "--ready-file",
        ])
        .arg(&ready)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("egresslab up starts");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ready.exists() {
        assert!(Instant::now() < deadline, "no ready file");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(100));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&ready).expect("ready file")).expect("JSON");
    let control = json["control"]
        .as_str()
        .expect("control in the ready file")
        .to_owned();
    (child, control)
}

fn stop(mut child: std::process::Child) {
    // SAFETY: kill with a valid pid and signal number.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let _ = child.wait();
}

#[test]
fn toxiproxy_python_creates_lists_updates_and_deletes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (child, control) = lab_with_control(dir.path());
    let (host, port) = control.rsplit_once(':').expect("host:port");
    let out = Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/clients/toxiproxy_python.py"
        ))
        .args([host, port, "site"])
        .output()
        .expect("python3 runs");
    stop(child);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for step in [
        "duplicate refused",
        "toxic updated by POST",
        "disabled link refuses",
        "populated ['site-two']",
        "reset",
        "deleted",
        "ok",
    ] {
        assert!(
            stdout.lines().any(|l| l.starts_with(step)),
            "{step} missing:\n{stdout}"
        );
    }
}
