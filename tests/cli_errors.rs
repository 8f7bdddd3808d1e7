//! The command line prints the whole error chain: what failed and every cause below it.

use std::path::Path;
use std::process::{Command, Output};

/// Run `script` with `sh -c`, `$1` the egresslab binary and `$2` the path.
fn egresslab_in_sh(script: &str, path: &Path) -> Output {
    Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg("sh")
        .arg(env!("CARGO_BIN_EXE_egresslab"))
        .arg(path)
        .output()
        .expect("sh runs")
}

#[test]
fn a_scenario_file_that_cannot_be_read_names_the_cause() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("latin1.toml");
    std::fs::write(&path, b"[scenario]\nname = \"caf\xe9\"\n").expect("write");
    let out = egresslab_in_sh(r#""$1" run "$2""#, &path);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(
            "latin1.toml: cannot read the scenario file: stream did not contain valid UTF-8"
        ),
        "{stderr}"
    );
}

#[test]
fn a_lab_that_cannot_bind_reports_the_operating_system_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("many.toml");
    let mut text = String::from(
        "[scenario]\nname = \"many\"\nsummary = \"More listeners than descriptors.\"\n\
         seed = \"test\"\ntags = [\"test\"]\n",
    );
    for index in 0..64 {
        text.push_str(&format!(
            "\n[[endpoint]]\nname = \"e{index}\"\nhosts = [\"e{index}.egresslab.test\"]\nport = 80\n"
        ));
    }
    text.push_str(
        "\n[client]\nprobes = [{ url = \"http://e0.egresslab.test/\" }]\n\n[expect]\nhealthy = true\n",
    );
    std::fs::write(&path, text).expect("write");
    // Room for the runtime and the scenario file, not for 64 listeners.
    let out = egresslab_in_sh(r#"ulimit -n 40 && exec "$1" run "$2""#, &path);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("the lab did not start: cannot bind endpoint e")
            && stdout.contains("Too many open files"),
        "{stdout}"
    );
}
