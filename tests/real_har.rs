//! The HAR of a proxied curl run: `egresslab up proxy-healthy --har FILE`, curl through the proxy
//! twice, stop the lab; the file passes the published HAR 1.2 validator (npm `har-validator`) and
//! loads in a devtools-style HAR library (PyPI `haralyzer`) with one entry per request, the right
//! statuses and real timings. test.sh installs both.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn clients() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients"))
}

#[test]
fn a_proxied_curl_run_gives_a_valid_har_with_one_entry_per_request() {
    let dir = tempfile::tempdir().unwrap();
    let (ready, har) = (dir.path().join("ready.json"), dir.path().join("lab.har"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_egresslab"))
        .env(
            "EGRESSLAB_CA_DIR",
            concat!(env!("CARGO_TARGET_TMPDIR"), "/egresslab-ca"),
        )
        .args(["up", "proxy-healthy", "--ready-file"])
        .arg(&ready)
        .arg("--har")
        .arg(&har)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while !ready.exists() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no ready file after 30 s"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "egresslab up exited early"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&ready).unwrap()).unwrap();
    let proxy = json["proxies"]["corp"]["url"].as_str().unwrap().to_owned();
    for path in ["/first", "/second?x=1"] {
        let out = Command::new("curl")
            .args([
                "-sS",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                "--max-time",
                "10",
                "-x",
                &proxy,
            ])
            .arg("--cacert")
            .arg(json["ca_bundle"].as_str().unwrap())
            .arg(format!("https://site.egresslab.test{path}"))
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "200",
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "no exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    let validated = Command::new("node")
        .arg(clients().join("har_validate.js"))
        .arg(&har)
        .output()
        .unwrap();
    let verdict = String::from_utf8_lossy(&validated.stdout);
    assert!(
        validated.status.success(),
        "har-validator: {verdict}{}",
        String::from_utf8_lossy(&validated.stderr)
    );
    assert_eq!(
        verdict.trim(),
        "valid 4",
        "two CONNECT answers and two requests inside the tunnels"
    );

    let read = Command::new("python3")
        .arg(clients().join("har_read.py"))
        .arg(&har)
        .output()
        .unwrap();
    assert!(
        read.status.success(),
        "haralyzer: {}",
        String::from_utf8_lossy(&read.stderr)
    );
    let read: serde_json::Value = serde_json::from_slice(&read.stdout).unwrap();
    assert_eq!(
        (read["version"].as_str(), read["creator"].as_str()),
        (Some("1.2"), Some("egresslab"))
    );
    let entries = read["entries"].as_array().unwrap();
    let connects: Vec<_> = entries
        .iter()
        .filter(|e| e["method"] == "CONNECT")
        .collect();
    let gets: Vec<_> = entries.iter().filter(|e| e["method"] == "GET").collect();
    assert_eq!((connects.len(), gets.len()), (2, 2), "{entries:?}");
    for connect in &connects {
        assert_eq!(connect["status"], 200);
        assert_eq!(connect["url"], "site.egresslab.test:443");
    }
    assert_eq!(gets[0]["url"], "https://site.egresslab.test/first");
    assert_eq!(gets[1]["url"], "https://site.egresslab.test/second?x=1");
    for entry in entries {
        let (time, wait) = (
            entry["time"].as_f64().unwrap(),
            entry["wait"].as_f64().unwrap(),
        );
        assert!(
            time >= wait && wait >= 0.0,
            "timings from the clock: {entry}"
        );
    }
}
