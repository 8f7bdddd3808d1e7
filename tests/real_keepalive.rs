//! Keep-alive through the proxy's absolute-URI forwarding, seen by real clients: `egresslab up
//! proxy-healthy --timeline FILE`, then curl (`--next`) and Python `requests.Session()` send
//! several plain `http://` requests through the proxy. The proxy's `accepted` events in the
//! timeline and curl's `%{num_connects}` both count the client connections: one for a kept-alive
//! sequence, one per request when the client says `Connection: close` (or speaks HTTP/1.0 without
//! `Proxy-Connection: keep-alive`).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::control_lab::ControlLab;

/// A running `up proxy-healthy` with its timeline file.
struct Up {
    lab: ControlLab,
    timeline: PathBuf,
    proxy: String,
    _dir: tempfile::TempDir,
}

fn up() -> Up {
    let dir = tempfile::tempdir().unwrap();
    let timeline = dir.path().join("timeline.jsonl");
    let path = timeline.to_str().unwrap().to_owned();
    let lab = ControlLab::start_with(
        Path::new(env!("CARGO_BIN_EXE_egresslab")),
        "proxy-healthy",
        0,
        &["--timeline", &path],
    )
    .unwrap();
    let proxy = lab.ready()["proxies"]["corp"]["url"]
        .as_str()
        .unwrap()
        .to_owned();
    Up {
        lab,
        timeline,
        proxy,
        _dir: dir,
    }
}

/// Counts of the proxy's events so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Counts {
    accepted: usize,
    forwarded: usize,
}

impl Up {
    fn counts(&self) -> Counts {
        let text = std::fs::read_to_string(&self.timeline).unwrap_or_default();
        let mut counts = Counts::default();
        for line in text.lines() {
            let Ok(event) = serde_json::from_str::<serde_json::Value>(line) else {
                continue;
            };
            if event["source"] != "proxy:corp" {
                continue;
            }
            if event["event"] == "accepted" {
                counts.accepted += 1;
            }
            if event["event"] == "http" && event["role"] == "forwarded" {
                counts.forwarded += 1;
            }
        }
        counts
    }

    /// The counts once `forwarded` exchanges more than `before` are recorded (bounded wait: the
    /// file is written by the lab as events happen, a client may return before the last one).
    fn after(&self, before: Counts, forwarded: usize) -> Counts {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let now = self.counts();
            if now.forwarded >= before.forwarded + forwarded || Instant::now() > deadline {
                return Counts {
                    accepted: now.accepted - before.accepted,
                    forwarded: now.forwarded - before.forwarded,
                };
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// curl with one `--next` part per entry of `parts` (each gets `-x PROXY` and a `-w` line of
    /// `STATUS NUM_CONNECTS`); the lines printed.
    fn curl(&self, parts: &[Vec<&str>]) -> Vec<String> {
        let mut command = Command::new("curl");
        for (i, part) in parts.iter().enumerate() {
            if i > 0 {
                command.arg("--next");
            }
            command.args([
                "-sS",
                "--max-time",
                "10",
                "-o",
                "/dev/null",
                "-x",
                &self.proxy,
            ]);
            command.args(["-w", "%{http_code} %{num_connects}\\n"]);
            command.args(part);
        }
        let out = command.output().unwrap();
        assert!(
            out.status.success(),
            "curl failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

const URL1: &str = "http://plain.egresslab.test/one";
const URL2: &str = "http://plain.egresslab.test/two?x=1";
const URL3: &str = "http://plain.egresslab.test/three";

#[test]
fn curl_next_sends_three_requests_on_one_proxy_connection_unless_told_to_close() {
    let up = up();

    let before = up.counts();
    let lines = up.curl(&[vec![URL1], vec![URL2], vec![URL3]]);
    assert_eq!(lines, ["200 1", "200 0", "200 0"], "curl reused nothing");
    let seen = up.after(before, 3);
    assert_eq!(
        seen,
        Counts {
            accepted: 1,
            forwarded: 3
        },
        "one proxy connection for three requests"
    );

    // `Connection: close` from the client: the proxy answers `Connection: close` and closes.
    let before = up.counts();
    let close: &[&str] = &["-H", "Connection: close"];
    let lines = up.curl(&[
        [close, &[URL1]].concat(),
        [close, &[URL2]].concat(),
        [close, &[URL3]].concat(),
    ]);
    assert_eq!(lines, ["200 1", "200 1", "200 1"]);
    let seen = up.after(before, 3);
    assert_eq!(
        seen,
        Counts {
            accepted: 3,
            forwarded: 3
        }
    );

    // HTTP/1.0 keeps the connection only with `Proxy-Connection: keep-alive` (curl sends it
    // unless told otherwise).
    let before = up.counts();
    let lines = up.curl(&[vec!["-0", URL1], vec!["-0", URL2]]);
    assert_eq!(lines, ["200 1", "200 0"]);
    assert_eq!(up.after(before, 2).accepted, 1);
    let before = up.counts();
    let bare: &[&str] = &["-0", "-H", "Proxy-Connection:"];
    let lines = up.curl(&[[bare, &[URL1]].concat(), [bare, &[URL2]].concat()]);
    assert_eq!(lines, ["200 1", "200 1"]);
    assert_eq!(up.after(before, 2).accepted, 2);

    // A chunked request body is relayed and the connection stays in step for the next request.
    let before = up.counts();
    let chunked: &[&str] = &[
        "-H",
        "Transfer-Encoding: chunked",
        "--data-binary",
        "a body sent in chunks",
    ];
    let lines = up.curl(&[[chunked, &[URL1]].concat(), vec![URL2]]);
    assert_eq!(lines, ["200 1", "200 0"]);
    assert_eq!(up.after(before, 2).accepted, 1);
    up.lab.stop().unwrap();
}

#[test]
fn python_requests_session_reuses_one_proxy_connection() {
    let up = up();
    let script = r#"
import sys, requests
proxy = sys.argv[1]
with requests.Session() as session:
    session.proxies = {"http": proxy}
    for url in sys.argv[2:]:
        print(session.get(url, timeout=10).status_code)
"#;
    let before = up.counts();
    let out = Command::new("python3")
        .args(["-c", script, &up.proxy, URL1, URL2, URL3])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let statuses: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(statuses, ["200", "200", "200"]);
    assert_eq!(
        up.after(before, 3),
        Counts {
            accepted: 1,
            forwarded: 3
        },
        "requests.Session() sent its three requests on one proxy connection"
    );
    up.lab.stop().unwrap();
}
