//! The command line prints the whole error chain: what failed and every cause below it.

use std::path::Path;
use std::process::{Command, Output};

/// Run `script` with `sh -c`, `$1` the egresslab binary and `$2` the path.
fn egresslab_in_sh(script: &str, path: &Path) -> Output {
    Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg("sh")
        .env(
            "EGRESSLAB_CA_DIR",
            concat!(env!("CARGO_TARGET_TMPDIR"), "/egresslab-ca"),
        )
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

/// A FIFO (which blocks a plain open) and a link to /dev/zero (which a plain read consumes until
/// memory runs out) are refused at once by every command that reads a file the user names.
#[test]
fn special_files_are_refused_by_every_reader_without_hanging() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fifo = dir.path().join("fifo.pem");
    let c_path = std::ffi::CString::new(fifo.to_str().expect("utf-8")).expect("no NUL");
    // SAFETY: mkfifo with a valid, NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
    let zero = dir.path().join("zero.pem");
    std::os::unix::fs::symlink("/dev/zero", &zero).expect("symlink");
    // A CA folder whose root certificate is the FIFO.
    let ca_dir = dir.path().join("ca");
    let made = egresslab_in_sh(r#""$1" certs ca --ca-dir "$2" >/dev/null"#, &ca_dir);
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let root = std::fs::read_dir(&ca_dir)
        .expect("ca dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "pem") && !p.to_string_lossy().contains("key"))
        .expect("a root certificate file");
    std::fs::remove_file(&root).expect("remove root");
    std::os::unix::fs::symlink(&fifo, &root).expect("link root to the FIFO");

    for (what, script, path) in [
        ("run", r#""$1" run "$2""#, &fifo),
        ("run", r#""$1" run "$2""#, &zero),
        ("inspect", r#""$1" inspect "$2""#, &zero),
        ("inspect --kind", r#""$1" inspect --kind event "$2""#, &fifo),
        ("certs inspect", r#""$1" certs inspect "$2""#, &fifo),
        ("certs inspect", r#""$1" certs inspect "$2""#, &zero),
        (
            "check --ca",
            r#""$1" check --ca "$2" https://127.0.0.1:9/"#,
            &zero,
        ),
        ("certs ca", r#""$1" certs ca --ca-dir "$2""#, &ca_dir),
    ] {
        // `timeout` turns a hang into exit 124 instead of a test that never ends.
        let out = egresslab_in_sh(&format!("timeout 20 {script}"), path);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_ne!(
            out.status.code(),
            Some(124),
            "{what} {} hung",
            path.display()
        );
        assert!(!out.status.success(), "{what} {} succeeded", path.display());
        // `run` resolves its argument first and names a special file as no scenario at all.
        let said = |text: &str| stderr.contains(text) || stdout_of(&out).contains(text);
        assert!(
            said("not a regular file") || (what == "run" && said("expected a file, a folder")),
            "{what} {}: {stderr}",
            path.display()
        );
    }
}

fn stdout_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `egresslab list | head` and friends stop quietly when the reader goes away: no panic, no
/// "Broken pipe" error, just the end (killed by SIGPIPE, as `cat` is).
#[test]
fn printing_commands_stop_quietly_on_a_closed_pipe() {
    let dir = tempfile::tempdir().unwrap();
    let timeline = dir.path().join("t.jsonl");
    let line = r#"{"v":1,"seq":0,"at_ms":1.0,"time":"t","source":"dns","conn":1,"event":"dns_query","name":"a.test","answer":"NXDOMAIN"}"#;
    std::fs::write(&timeline, format!("{line}\n").repeat(20_000)).unwrap();
    let binary = env!("CARGO_BIN_EXE_egresslab");
    for command in [
        "list".to_owned(),
        "explain --list".to_owned(),
        format!("timeline {}", timeline.display()),
    ] {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                "{binary} {command} | head -n 1 >/dev/null; echo $?"
            ))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !stderr.contains("panicked") && !stderr.contains("Broken pipe"),
            "`{command} | head -n 1` must stop quietly: {stderr}"
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "0",
            "head itself succeeds"
        );
    }
}

/// `up --ready-file` in a folder that does not exist fails before anything starts or is printed.
#[test]
fn up_with_a_ready_file_in_a_missing_folder_fails_before_printing() {
    let out = Command::new(env!("CARGO_BIN_EXE_egresslab"))
        .env(
            "EGRESSLAB_CA_DIR",
            concat!(env!("CARGO_TARGET_TMPDIR"), "/egresslab-ca"),
        )
        .args([
            "up",
            "tls-healthy",
            "--ready-file",
            "/nonexistent-egresslab/ready.json",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        out.stdout.is_empty(),
        "nothing printed: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(
        stderr.contains("the folder /nonexistent-egresslab does not exist"),
        "{stderr}"
    );
}

/// `run DIR` reports every bad file of the folder and every id two files share, then exits non-zero.
#[test]
fn run_of_a_folder_reports_every_bad_file_and_duplicate_ids() {
    let dir = tempfile::tempdir().unwrap();
    let healthy = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/tls/tls-healthy.toml"),
    )
    .unwrap();
    std::fs::write(dir.path().join("a-first.toml"), &healthy).unwrap();
    std::fs::write(dir.path().join("b-again.toml"), &healthy).unwrap();
    std::fs::write(dir.path().join("c-broken.toml"), "[scenario\n").unwrap();
    std::fs::write(dir.path().join("d-unknown.toml"), "colour = 3\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_egresslab"))
        .env(
            "EGRESSLAB_CA_DIR",
            concat!(env!("CARGO_TARGET_TMPDIR"), "/egresslab-ca"),
        )
        .arg("run")
        .arg(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("3 scenario files are bad"), "{stderr}");
    assert!(stderr.contains("c-broken.toml"), "{stderr}");
    assert!(stderr.contains("d-unknown.toml"), "{stderr}");
    assert!(
        stderr.contains("b-again.toml: duplicate scenario id `tls-healthy`, also the id of")
            && stderr.contains("a-first.toml"),
        "{stderr}"
    );
}
