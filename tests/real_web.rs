//! The live web view in a real browser: `egresslab up proxy-auth-required --web 127.0.0.1:0`, then
//! headless Chromium (Debian's `chromium` and `chromium-driver`, driven by PyPI `selenium`; test.sh
//! installs them) loads the page and checks, in one browser start (tests/clients/web_browser.py):
//! no console error, the topology's nodes, a curl's row within one second, a row's story, two fault
//! toggles and the next curl's outcome after each, axe-core (npm) finding no serious violation, and
//! a screenshot written under the target dir. Beside it, with curl: other origins and hosts are
//! refused, downloads serve the CA, and a non-loopback `--web` needs `--web-remote`. The two labs
//! run different scenarios: a scenario's lab binds fixed per-host addresses, so two of one collide.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::control_lab::ControlLab;

fn clients() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients"))
}

/// `egresslab up SCENARIO --web 127.0.0.1:0` (and its control API), stopped when dropped.
fn up(scenario: &str) -> ControlLab {
    ControlLab::start_with(
        Path::new(env!("CARGO_BIN_EXE_egresslab")),
        scenario,
        0,
        &["--web", "127.0.0.1:0"],
    )
    .unwrap()
}

/// The page's URL, from the ready file.
fn web(lab: &ControlLab) -> String {
    lab.ready()["web"].as_str().unwrap().to_owned()
}

/// `curl -s` with `args`: (HTTP status, body).
fn curl(args: &[&str]) -> (String, String) {
    let out = Command::new("curl")
        .args(["-s", "--max-time", "10", "-w", "\n%{http_code}"])
        .args(args)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, status) = text.rsplit_once('\n').unwrap_or(("", &text));
    (status.to_owned(), body.to_owned())
}

fn require(tool: &str, probe: &mut Command) {
    let ok = probe
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "{tool} is missing: this test drives a real browser; run ./test.sh, which installs it"
    );
}

#[test]
fn the_page_in_headless_chromium_shows_the_lab_and_its_toggles_change_the_next_curl() {
    require("chromium", Command::new("chromium").arg("--version"));
    require(
        "chromedriver",
        Command::new("chromedriver").arg("--version"),
    );
    require(
        "PyPI selenium",
        Command::new("python3").args(["-c", "import selenium"]),
    );
    let axe = clients().join("node_modules/axe-core/axe.min.js");
    assert!(
        axe.is_file(),
        "{} is missing: run ./test.sh (npm axe-core)",
        axe.display()
    );
    let up = up("proxy-auth-required");
    let ready_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(ready_file.path(), up.ready().to_string()).unwrap();
    let artifacts = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("web");
    std::fs::create_dir_all(&artifacts).unwrap();
    let out = Command::new("python3")
        .arg(clients().join("web_browser.py"))
        .arg(ready_file.path())
        .arg(&artifacts)
        .arg(&axe)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "the browser checks failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for line in [
        "page loaded, no console errors",
        "in the table after",
        "auth off: next curl 200",
        "proxy down: next curl exit 7",
        "axe-core: no serious",
    ] {
        assert!(stdout.contains(line), "no {line:?} in:\n{stdout}");
    }
    let png = std::fs::read(artifacts.join("web.png")).unwrap();
    assert!(png.starts_with(b"\x89PNG"), "the screenshot is not a PNG");
    println!("screenshot: {}", artifacts.join("web.png").display());
}

#[test]
fn other_origins_and_hosts_are_refused_and_downloads_serve_the_lab_ca() {
    let up = up("proxy-healthy");
    let web = web(&up);
    let topology = format!("{web}api/topology");
    let (status, body) = curl(&[&topology]);
    assert_eq!(status, "200", "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["proxies"][0]["name"], "corp");
    assert_eq!(json["proxies"][0]["state"]["up"], true);
    let host = web.trim_start_matches("http://").trim_end_matches('/');
    let same_origin = format!("Origin: http://{host}");
    assert_eq!(curl(&["-H", &same_origin, &topology]).0, "200");
    let (status, body) = curl(&["-H", "Origin: http://evil.test", &topology]);
    assert_eq!(status, "403");
    assert!(body.contains("evil.test"), "{body}");
    let down = format!("{web}api/control/egresslab/proxies/corp/down");
    let (status, _) = curl(&["-X", "POST", "-H", "Origin: http://evil.test", &down]);
    assert_eq!(status, "403", "a cross-origin toggle must not act");
    let (_, state) = curl(&[&topology]);
    assert!(state.contains(r#""up":true"#), "{state}");
    let port = host.rsplit_once(':').unwrap().1;
    let rebound = format!("Host: rebound.test:{port}");
    assert_eq!(curl(&["-H", &rebound, &topology]).0, "403");
    let (status, pem) = curl(&[&format!("{web}download/ca.pem")]);
    assert_eq!(status, "200");
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{pem}");
    let dir = tempfile::tempdir().unwrap();
    let der = dir.path().join("ca.cer");
    let (status, _) = curl(&[
        "-o",
        der.to_str().unwrap(),
        &format!("{web}download/ca.cer"),
    ]);
    assert_eq!(status, "200");
    let parsed = Command::new("openssl")
        .args(["x509", "-inform", "DER", "-noout", "-subject", "-in"])
        .arg(&der)
        .output()
        .unwrap();
    assert!(
        parsed.status.success(),
        "openssl cannot read the .cer: {}",
        String::from_utf8_lossy(&parsed.stderr)
    );
    let (status, body) = curl(&[&format!("{web}download/scenario.toml")]);
    assert_eq!(status, "200");
    assert!(body.contains("name = \"proxy-healthy\""), "{body}");
}

#[test]
fn a_non_loopback_web_address_needs_web_remote() {
    let out = Command::new(env!("CARGO_BIN_EXE_egresslab"))
        .args(["up", "proxy-auth-required", "--web", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--web-remote"), "{stderr}");
    assert!(out.stdout.is_empty(), "the lab must not start");
}
