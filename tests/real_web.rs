//! The live web view in a real browser: `egresslab up proxy-auth-required --web 127.0.0.1:0`, then
//! headless Chromium (Debian's `chromium` and `chromium-driver`, driven by PyPI `selenium`; test.sh
//! installs them) loads the page and checks, in one browser start (tests/clients/web_browser.py):
//! no console error, the topology's nodes, a curl's row within one second, a row's story, two fault
//! toggles and the next curl's outcome after each, axe-core (npm) finding no serious violation, and
//! a screenshot written under the target dir. Beside it, with curl: other origins and hosts are
//! refused, downloads serve the CA, and a non-loopback `--web` needs `--web-remote`. The two labs
//! run different scenarios: a scenario's lab binds fixed per-host addresses, so two of one collide.
//! And the HTML report of the whole catalog (`run --report`) opened from a file:// URL in Chromium.

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

/// The axe-core script test.sh installs (npm), or a loud failure naming what to run.
fn axe() -> PathBuf {
    let axe = clients().join("node_modules/axe-core/axe.min.js");
    assert!(
        axe.is_file(),
        "{} is missing: run ./test.sh (npm axe-core)",
        axe.display()
    );
    axe
}

/// Where the browser tests write their screenshots.
fn artifacts() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("web");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Run the browser script `script` of tests/clients with `args`; its stdout, once it succeeded.
fn browser_script(script: &str, args: &[&std::ffi::OsStr]) -> String {
    let out = Command::new("python3")
        .arg(clients().join(script))
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    println!("{stdout}");
    assert!(
        out.status.success(),
        "{script} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
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
    let axe = axe();
    let up = up("proxy-auth-required");
    let ready_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(ready_file.path(), up.ready().to_string()).unwrap();
    let artifacts = artifacts();
    let stdout = browser_script(
        "web_browser.py",
        &[
            ready_file.path().as_os_str(),
            artifacts.as_os_str(),
            axe.as_os_str(),
        ],
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
fn other_origins_and_hosts_are_refused_the_stream_resumes_from_a_seq_and_downloads_serve_the_ca() {
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
    // A script (no Origin) may use the control API through the view; the change is an event.
    for (change, up) in [("down", "false"), ("up", "true")] {
        let toggle = format!("{web}api/control/egresslab/proxies/corp/{change}");
        let (status, body) = curl(&["-X", "POST", &toggle]);
        assert_eq!(status, "200", "{body}");
        assert!(body.contains(&format!(r#""up":{up}"#)), "{body}");
    }
    // The event stream: every event from a seq on, as `id: SEQ` / `data: JSON` (curl stops it).
    let events = format!("{web}api/events?from=0");
    let (status, stream) = curl(&["-N", "--max-time", "1", &events]);
    assert_eq!(status, "200", "{stream}");
    let ids: Vec<u64> = stream
        .lines()
        .filter_map(|l| l.strip_prefix("id: "))
        .map(|id| id.parse().unwrap())
        .collect();
    assert!(
        ids.len() >= 2,
        "the API's start and the change are events: {stream}"
    );
    assert_eq!(ids, (0..ids.len() as u64).collect::<Vec<_>>(), "{stream}");
    let from = format!("{web}api/events?from=1");
    let (_, later) = curl(&["-N", "--max-time", "1", &from]);
    assert!(later.starts_with("id: 1\n"), "{later}");
    let (status, body) = curl(&[&format!("{web}api/events?from=x")]);
    assert_eq!(status, "400");
    assert!(body.contains("expected a number"), "{body}");
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
        .env(
            "EGRESSLAB_CA_DIR",
            concat!(env!("CARGO_TARGET_TMPDIR"), "/egresslab-ca"),
        )
        .args(["up", "proxy-auth-required", "--web", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--web-remote"), "{stderr}");
    assert!(out.stdout.is_empty(), "the lab must not start");
}

/// `egresslab run ARGS` from a fresh folder: its stdout.
fn run(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_egresslab"))
        .env(
            "EGRESSLAB_CA_DIR",
            concat!(env!("CARGO_TARGET_TMPDIR"), "/egresslab-ca"),
        )
        .arg("run")
        .args(args)
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap()
}

/// What of a run's JSON does not change from run to run: each scenario's verdict, expected and
/// found codes, problems and the document's fields (ports, temporary folders and times do change).
fn stable(run: &serde_json::Value) -> Vec<serde_json::Value> {
    run.as_array()
        .unwrap()
        .iter()
        .map(|o| {
            let keys: Vec<&String> = o.as_object().unwrap().keys().collect();
            serde_json::json!([
                o["scenario"],
                o["passed"],
                o["expected"],
                o["got"],
                o["problems"],
                keys
            ])
        })
        .collect()
}

#[test]
fn the_catalog_report_opens_from_file_with_no_network_and_a_row_per_scenario() {
    let axe = axe();
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report.html");
    let with_report = run(&["--format", "json", "--report", report.to_str().unwrap()]);
    let plain = run(&["--format", "json"]);
    let with_report: serde_json::Value = serde_json::from_str(&with_report).unwrap();
    let plain: serde_json::Value = serde_json::from_str(&plain).unwrap();
    let count = plain.as_array().unwrap().len();
    assert!(count >= 59, "the catalog has {count} scenarios");
    assert!(
        stable(&with_report) == stable(&plain),
        "--report must not change the JSON:\n{:?}\n{:?}",
        stable(&with_report),
        stable(&plain)
    );
    let time = regex::Regex::new(r#" time="[0-9.]+""#).unwrap();
    let junit = |more: &[&str]| {
        let mut args = vec!["--format", "junit", "proxy-auth-required", "proxy-healthy"];
        args.extend_from_slice(more);
        time.replace_all(&run(&args), "").into_owned()
    };
    let other = dir.path().join("other.html");
    assert_eq!(
        junit(&["--report", other.to_str().unwrap()]),
        junit(&[]),
        "--report must not change the JUnit"
    );
    let count_text = count.to_string();
    let stdout = browser_script(
        "web_report.py",
        &[
            report.as_os_str(),
            count_text.as_ref(),
            artifacts().as_os_str(),
            axe.as_os_str(),
        ],
    );
    assert!(stdout.contains(&format!("{count} rows")), "{stdout}");
    assert!(stdout.contains("1 request, the file itself"), "{stdout}");
}

#[test]
fn the_score_report_draws_the_confusion_matrix_as_a_heat_map_with_no_network() {
    let axe = axe();
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("score.html");
    let out = Command::new(env!("CARGO_BIN_EXE_egresslab"))
        .env(
            "EGRESSLAB_CA_DIR",
            concat!(env!("CARGO_TARGET_TMPDIR"), "/egresslab-ca"),
        )
        .args(["score", "--cases", "30", "--format", "json", "--out"])
        .arg(dir.path().join("replays"))
        .arg("--report")
        .arg(&report)
        .output()
        .unwrap();
    let card: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let cells: usize = card["matrix"]
        .as_object()
        .unwrap()
        .values()
        .map(|row| row.as_object().unwrap().len())
        .sum();
    assert!(cells > 5, "a 30-case score fills more cells: {card}");
    let html = std::fs::read_to_string(&report).unwrap();
    assert!(!html.contains("<script"), "the report needs no script");
    let correct = format!("{} of {} correct", card["correct"], card["cases"]);
    assert!(html.contains(&correct), "no {correct:?} in the report");
    let count = cells.to_string();
    let stdout = browser_script(
        "web_report.py",
        &[
            report.as_os_str(),
            count.as_ref(),
            artifacts().as_os_str(),
            axe.as_os_str(),
            "score".as_ref(),
        ],
    );
    assert!(
        stdout.contains(&format!("{cells} cells in the heat map")),
        "{stdout}"
    );
    assert!(stdout.contains("1 request, the file itself"), "{stdout}");
}

/// With `--capture`, the page offers the pcapng: the download is a capture tshark reads, holding
/// the page's own traffic to the proxy; without it, the download says how to start capturing.
#[test]
fn the_capture_is_a_download_tshark_reads() {
    let dir = tempfile::tempdir().unwrap();
    let pcapng = dir.path().join("lab.pcapng");
    let up = ControlLab::start_with(
        Path::new(env!("CARGO_BIN_EXE_egresslab")),
        "proxy-healthy",
        0,
        &[
            "--web",
            "127.0.0.1:0",
            "--capture",
            pcapng.to_str().unwrap(),
        ],
    )
    .unwrap();
    let web = web(&up);
    let proxy = up.ready()["proxies"]["corp"]["url"]
        .as_str()
        .unwrap()
        .to_owned();
    let out = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "--max-time", "10", "-x", &proxy])
        .arg("--cacert")
        .arg(up.ready()["ca_bundle"].as_str().unwrap())
        .arg("https://site.egresslab.test/")
        .status()
        .unwrap();
    assert!(out.success());
    let downloaded = dir.path().join("downloaded.pcapng");
    let (status, _) = curl(&[
        "-o",
        downloaded.to_str().unwrap(),
        &format!("{web}download/lab.pcapng"),
    ]);
    assert_eq!(status, "200");
    let read = Command::new("tshark")
        .arg("-r")
        .arg(&downloaded)
        .args([
            "-Y",
            "tcp.flags.syn == 1 && tcp.flags.ack == 0",
            "-T",
            "fields",
            "-e",
            "tcp.dstport",
        ])
        .output()
        .unwrap();
    let ports = String::from_utf8_lossy(&read.stdout);
    assert!(
        read.status.success(),
        "tshark: {}",
        String::from_utf8_lossy(&read.stderr)
    );
    let proxy_port = proxy.rsplit(':').next().unwrap();
    assert!(
        ports.lines().any(|p| p == proxy_port),
        "a SYN to the proxy in:\n{ports}"
    );

    let plain = self::up("proxy-healthy");
    let (status, body) = curl(&[&format!("{}download/lab.pcapng", self::web(&plain))]);
    assert_eq!(status, "404");
    assert!(body.contains("--capture FILE.pcapng"), "{body}");
}
