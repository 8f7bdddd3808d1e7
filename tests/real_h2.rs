//! HTTP/2 seen by curl: an endpoint answers h2 to a client that offers it by ALPN and HTTP/1.1 to
//! one that does not (`egresslab up proxy-healthy`, through the proxy's CONNECT tunnel), and so
//! does the intercepting proxy of `tls-inspection`; the timeline records the version each exchange
//! was spoken in.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::control_lab::ControlLab;

/// A running `up SCENARIO --timeline FILE`.
struct Up {
    lab: ControlLab,
    timeline: PathBuf,
    _dir: tempfile::TempDir,
}

fn up(scenario: &str) -> Up {
    let dir = tempfile::tempdir().unwrap();
    let timeline = dir.path().join("timeline.jsonl");
    let path = timeline.to_str().unwrap().to_owned();
    let lab = ControlLab::start_with(
        Path::new(env!("CARGO_BIN_EXE_egresslab")),
        scenario,
        0,
        &["--timeline", &path],
    )
    .unwrap();
    Up {
        lab,
        timeline,
        _dir: dir,
    }
}

impl Up {
    fn proxy(&self) -> String {
        self.lab.ready()["proxies"]["corp"]["url"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    fn file(&self, key: &[&str]) -> String {
        let mut value = self.lab.ready();
        for k in key {
            value = &value[*k];
        }
        value.as_str().unwrap().to_owned()
    }

    /// The `http_version` of the endpoint's exchanges so far, waiting (bounded) for `n` of them.
    fn endpoint_versions(&self, n: usize) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let text = std::fs::read_to_string(&self.timeline).unwrap_or_default();
            let versions: Vec<String> = text
                .lines()
                .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
                .filter(|e| e["event"] == "http" && e["role"] == "endpoint")
                .filter_map(|e| e["http_version"].as_str().map(str::to_owned))
                .collect();
            if versions.len() >= n || Instant::now() > deadline {
                return versions;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// `curl -sv` with `args`: the status lines curl printed (`HTTP/2 200`, `HTTP/1.1 200 OK`) of the
/// answers from the endpoint (not the proxy's `200 Connection established`).
fn status_lines(args: &[&str]) -> Vec<String> {
    let out = Command::new("curl")
        .args(["-sv", "--max-time", "10", "-o", "/dev/null"])
        .args(args)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "curl failed:\n{stderr}");
    stderr
        .lines()
        .filter_map(|line| line.strip_prefix("< HTTP/"))
        .filter(|line| !line.contains("Connection established"))
        .map(|line| format!("HTTP/{}", line.trim()))
        .collect()
}

/// curl `--http2` then `--http1.1` to `url` through the proxy trusting `ca`: `HTTP/2 200`, then
/// `HTTP/1.1 200 OK`, and the endpoint spoke the same versions.
fn h2_then_http11(up: &Up, ca: &str, url: &str) {
    let proxy = up.proxy();
    let h2 = status_lines(&["--http2", "-x", &proxy, "--cacert", ca, url]);
    assert_eq!(h2, ["HTTP/2 200"]);
    let h1 = status_lines(&["--http1.1", "-x", &proxy, "--cacert", ca, url]);
    assert_eq!(h1, ["HTTP/1.1 200 OK"]);
    assert_eq!(up.endpoint_versions(2), ["HTTP/2", "HTTP/1.1"]);
}

#[test]
fn an_endpoint_answers_h2_to_curl_http2_and_http11_to_curl_http11() {
    let up = up("proxy-healthy");
    let bundle = up.file(&["ca_bundle"]);
    h2_then_http11(&up, &bundle, "https://site.egresslab.test/");
    up.lab.stop().unwrap();
}

#[test]
fn interception_answers_h2_to_curl_http2_and_still_serves_an_http11_client() {
    let up = up("tls-inspection");
    let inspection = up.file(&["cas", "inspection"]);
    // The endpoint behind the proxy speaks what the client speaks: the proxy offered it the
    // client's protocols and gave the client the origin's choice.
    h2_then_http11(&up, &inspection, "https://connector-sample.msappproxy.net/");
    up.lab.stop().unwrap();
}
