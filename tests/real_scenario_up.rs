//! `egresslab up --ready-file`: wait for the ready file (bounded), drive curl with it, then SIGINT and a
//! clean exit.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn up_writes_a_ready_file_that_drives_curl_and_stops_on_sigint() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ready = dir.path().join("ready.json");
    let mut child = Command::new(env!("CARGO_BIN_EXE_egresslab"))
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
