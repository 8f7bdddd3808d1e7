//! Toxiproxy clients written elsewhere drive `egresslab up --control` unchanged (issue 13).

mod common;

use std::path::Path;
use std::process::Command;

use common::control_lab::ControlLab;

fn lab() -> ControlLab {
    ControlLab::start(Path::new(env!("CARGO_BIN_EXE_egresslab")), "tls-healthy", 7)
        .expect("the lab starts")
}

fn client_script(name: &str) -> String {
    format!("{}/tests/clients/{name}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn toxiproxy_python_creates_lists_updates_and_deletes() {
    let lab = lab();
    let control = lab.control();
    let out = Command::new("python3")
        .arg(client_script("toxiproxy_python.py"))
        .args([
            &control.ip().to_string(),
            &control.port().to_string(),
            "site",
        ])
        .output()
        .expect("python3 runs");
    lab.stop().expect("the lab stops");
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
