//! `egresslab up --ready-file`: wait for the ready file (bounded), drive curl with it, then SIGINT and a
//! clean exit; SIGTERM stops it as cleanly; the ready file never replaces or removes what is not its own.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn up_writes_a_ready_file_that_drives_curl_and_stops_on_sigint() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ready = dir.path().join("ready.json");
    let mut child = Command::new(env!("CARGO_BIN_EXE_egresslab"))
        .env(
            "EGRESSLAB_CA_DIR",
            concat!(env!("CARGO_TARGET_TMPDIR"), "/egresslab-ca"),
        )
        .args(["up", "tls-expired", "--ready-file"])
        .arg(&ready)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("egresslab up starts");
    let started = Instant::now();
    while !ready.exists() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no ready file after 20 s"
        );
        if let Some(status) = child.try_wait().expect("wait") {
            panic!("egresslab up exited early: {status}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&ready).expect("read")).expect("json");
    assert_eq!(json["scenario"], "tls-expired");
    assert_eq!(json["endpoints"]["site"]["port"], 443);
    let mut curl = Command::new("curl");
    curl.args(["-sS", "-o", "/dev/null", "--max-time", "10", "--cacert"]);
    curl.arg(json["ca_bundle"].as_str().expect("ca_bundle"));
    for entry in json["connect_to"].as_array().expect("connect_to") {
        curl.args(["--connect-to", entry.as_str().expect("string")]);
    }
    let out = curl
        .arg("https://site.egresslab.test/")
        .output()
        .expect("curl runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(60), "{stderr}");
    assert!(stderr.contains("certificate has expired"), "{stderr}");

    let pid = child.id().to_string();
    let status = Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let started = Instant::now();
    let exit = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no exit 10 s after SIGINT"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "{exit}");
    assert!(!ready.exists(), "the ready file is removed on shutdown");
}

/// A running `egresslab up`, announced ready (its "lab up" line read from stderr, no polling).
struct Up {
    child: std::process::Child,
}

impl Up {
    /// Start `egresslab up SCENARIO --ready-file READY`; `None` when it exits before announcing itself.
    fn start(scenario: &str, ready: &std::path::Path) -> (Up, Option<String>) {
        use std::io::BufRead;
        let mut child = Command::new(env!("CARGO_BIN_EXE_egresslab"))
            .env(
                "EGRESSLAB_CA_DIR",
                concat!(env!("CARGO_TARGET_TMPDIR"), "/egresslab-ca"),
            )
            .args(["up", scenario, "--ready-file"])
            .arg(ready)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("egresslab up starts");
        let stderr = child.stderr.take().expect("stderr");
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut seen = String::new();
            for line in std::io::BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                seen.push_str(&line);
                seen.push('\n');
                if line.starts_with("lab up") {
                    let _ = sender.send(Ok(()));
                    // Keep draining, so the child never blocks on a full pipe.
                    seen.clear();
                }
            }
            let _ = sender.send(Err(seen));
        });
        let announced = receiver
            .recv_timeout(Duration::from_secs(20))
            .expect("egresslab up says something within 20 s");
        (Up { child }, announced.err())
    }

    fn signal(&self, signal: libc::c_int) {
        let pid = libc::pid_t::try_from(self.child.id()).expect("pid");
        // SAFETY: signalling our own child by its pid.
        assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
    }

    /// Wait for the exit, at most `limit`; a child still running then is killed and the test fails.
    fn wait(self, limit: Duration) -> std::process::ExitStatus {
        let mut child = self.child;
        let pid = libc::pid_t::try_from(child.id()).expect("pid");
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || sender.send(child.wait()));
        match receiver.recv_timeout(limit) {
            Ok(status) => status.expect("wait"),
            Err(_) => {
                // SAFETY: killing our own child by its pid; the waiting thread reaps it.
                unsafe { libc::kill(pid, libc::SIGKILL) };
                panic!("egresslab up still running {limit:?} later");
            }
        }
    }
}

#[test]
fn sigterm_stops_up_as_sigint_does() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ready = dir.path().join("ready.json");
    let (up, early) = Up::start("tls-expired", &ready);
    assert_eq!(early, None, "egresslab up exited early");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&ready).expect("read")).expect("json");
    let ca_bundle = std::path::PathBuf::from(json["ca_bundle"].as_str().expect("ca_bundle"));
    let lab_dir = ca_bundle.parent().expect("the lab folder").to_owned();
    let endpoint: std::net::SocketAddr = json["endpoints"]["site"]["address"]
        .as_str()
        .expect("address")
        .parse()
        .expect("socket address");
    assert!(lab_dir.is_dir());

    up.signal(libc::SIGTERM);
    let exit = up.wait(Duration::from_secs(10));
    assert!(exit.success(), "SIGTERM is a clean stop: {exit}");
    assert!(!ready.exists(), "the ready file is removed on SIGTERM");
    assert!(!lab_dir.exists(), "the lab folder is removed on SIGTERM");
    std::net::TcpListener::bind(endpoint).expect("the endpoint's port is free again");
}

#[test]
fn a_ready_file_path_that_is_not_a_regular_file_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fifo = dir.path().join("ready.json");
    let name = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).expect("path");
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(name.as_ptr(), 0o600) }, 0);
    let (up, early) = Up::start("tls-expired", &fifo);
    let exit = up.wait(Duration::from_secs(10));
    let stderr = early.unwrap_or_default();
    assert_eq!(exit.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("is not a regular file") && stderr.contains("ready.json"),
        "{stderr}"
    );
    let kind = std::fs::symlink_metadata(&fifo).expect("still there");
    assert!(std::os::unix::fs::FileTypeExt::is_fifo(&kind.file_type()));
    assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 1);
}

#[test]
fn shutdown_leaves_a_file_that_replaced_the_ready_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ready = dir.path().join("ready.json");
    let (up, early) = Up::start("tls-expired", &ready);
    assert_eq!(early, None, "egresslab up exited early");
    std::fs::remove_file(&ready).expect("ready file");
    std::fs::write(&ready, "someone else's file").expect("replaced");
    up.signal(libc::SIGINT);
    let exit = up.wait(Duration::from_secs(10));
    assert!(exit.success(), "{exit}");
    assert_eq!(
        std::fs::read_to_string(&ready).expect("left alone"),
        "someone else's file"
    );
}
