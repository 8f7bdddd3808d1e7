//! `egresslab triage` on every customer folder shipped in scenarios/triage/NAME/folder: the verdict,
//! effective proxy and file kinds of its expected.json, and the written scenario passes `egresslab run`
//! (a real lab: real sockets, real TLS, the checks finding the same cause again).

use std::path::{Path, PathBuf};

use serde_json::Value;

mod common;

use common::bin::egresslab as bin;

fn folders() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/triage");
    let mut out: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("scenarios/triage")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.join("expected.json").is_file())
        .collect();
    out.sort();
    out
}

/// A file kind as the JSON report writes it: "error-text", or {"artifact": "NetshWinhttp"}.
fn kind_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Object(m) => m
            .get("artifact")
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_string(),
        other => other.to_string(),
    }
}

#[test]
fn every_shipped_folder_gives_its_verdict_and_the_written_scenario_passes() {
    let all = folders();
    assert!(all.len() >= 5, "only {} folders", all.len());
    let tmp = tempfile::tempdir().expect("tempdir");
    for dir in &all {
        let name = dir.file_name().and_then(|n| n.to_str()).expect("name");
        let expected: Value = serde_json::from_str(
            &std::fs::read_to_string(dir.join("expected.json")).expect("expected.json"),
        )
        .expect("expected.json parses");
        let out_file = tmp.path().join(format!("triage-{name}.toml"));
        let out = bin()
            .arg("triage")
            .arg(dir.join("folder"))
            .arg("--out")
            .arg(&out_file)
            .args(["--format", "json"])
            .output()
            .expect("egresslab triage runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{name}: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let report: Value = serde_json::from_str(&stdout).expect("JSON report");
        assert_eq!(
            report["verdict"]["code"], expected["verdict"],
            "{name}: {stdout}"
        );
        assert!(
            !report["verdict"]["evidence"]
                .as_array()
                .expect("evidence")
                .is_empty(),
            "{name}: a verdict without evidence"
        );
        assert!(
            !report["next_steps"].as_array().expect("steps").is_empty(),
            "{name}: no next steps"
        );
        assert_eq!(
            report["effective_proxy"]["proxy"], expected["effective_proxy"],
            "{name}"
        );
        assert_eq!(
            report["effective_proxy"]["decided_by"], expected["decided_by"],
            "{name}"
        );
        let files = report["files"].as_array().expect("files");
        for (file, kind) in expected["kinds"].as_object().expect("kinds") {
            let got = files
                .iter()
                .find(|f| f["file"] == *file)
                .unwrap_or_else(|| panic!("{name}: {file} not in the report"));
            assert_eq!(
                kind_of(&got["kind"]),
                kind.as_str().expect("kind"),
                "{name}: {file}"
            );
        }
        assert_eq!(report["scenario"], out_file.display().to_string(), "{name}");
        // the written scenario reproduces the verdict in a real lab
        let run = bin()
            .arg("run")
            .arg(&out_file)
            .output()
            .expect("egresslab run runs");
        let table = String::from_utf8_lossy(&run.stdout);
        assert!(
            run.status.success(),
            "{name}: the written scenario fails:\n{table}{}\n{}",
            String::from_utf8_lossy(&run.stderr),
            std::fs::read_to_string(&out_file).unwrap_or_default()
        );
        assert!(table.contains("PASS"), "{name}: {table}");
        assert!(
            table.contains(expected["verdict"].as_str().expect("verdict")),
            "{name}: {table}"
        );
    }
}

#[test]
fn the_text_report_names_files_cause_evidence_and_steps() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/triage/netsh-override/folder");
    let out = bin().arg("triage").arg(&dir).output().expect("runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    for want in [
        "netsh-winhttp.txt — netsh winhttp show proxy output",
        "effective proxy: http://proxy-b.contoso.example:3128 (decided by netsh winhttp",
        "likely root cause: config.netsh_overrides",
        "evidence: netsh-winhttp.txt",
        "next steps:",
    ] {
        assert!(text.contains(want), "{want:?} missing:\n{text}");
    }
}

#[test]
fn a_folder_with_a_squid_conf_a_pasted_error_and_an_unknown_file() {
    let tmp = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        tmp.path().join("squid.conf"),
        "http_port 3128\nhttp_access deny all\n",
    )
    .expect("write");
    std::fs::write(tmp.path().join("notes.txt"), "milk\neggs\n").expect("write");
    std::fs::write(tmp.path().join("paste.txt"), "エラー 809\n").expect("write");
    let out = bin()
        .arg("triage")
        .arg(tmp.path())
        .args(["--format", "json", "--out"])
        .arg(tmp.path().join("x.toml"))
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    // 809 has no reproduction written by triage: exit 3, report still given
    assert_eq!(out.status.code(), Some(3), "{stdout}");
    let report: Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(report["verdict"]["code"], "vpn.ike_blocked", "{stdout}");
    let steps = report["next_steps"].to_string();
    assert!(steps.contains("egresslab import squid.conf"), "{steps}");
    assert!(steps.contains("notes.txt was not read"), "{steps}");
    let files = report["files"].as_array().expect("files");
    let kind = |n: &str| {
        files
            .iter()
            .find(|f| f["file"] == n)
            .map(|f| kind_of(&f["kind"]))
    };
    assert_eq!(kind("squid.conf").as_deref(), Some("squid-conf"));
    assert_eq!(kind("notes.txt").as_deref(), Some("unknown"));
    assert_eq!(kind("paste.txt").as_deref(), Some("error-text"));
    assert!(
        !tmp.path().join("x.toml").exists(),
        "a scenario was written for an unreproducible verdict"
    );
}

fn triage_json(dir: &Path) -> Value {
    let out = bin()
        .arg("triage")
        .arg(dir)
        .args(["--format", "json"])
        .output()
        .expect("runs");
    serde_json::from_slice(&out.stdout).expect("JSON")
}

#[test]
fn a_pac_file_decides_when_the_config_defers_to_the_system_and_a_looping_one_is_reported() {
    let tmp = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        tmp.path().join("connector.exe.config"),
        r#"<configuration><system.net><defaultProxy enabled="true"><proxy usesystemdefault="true" /></defaultProxy></system.net></configuration>"#,
    )
    .expect("write");
    std::fs::write(
        tmp.path().join("wpad.dat"),
        r#"function FindProxyForURL(url, host) {
  if (shExpMatch(host, "*.msappproxy.net")) return "PROXY pac-proxy.contoso.example:3128; DIRECT";
  return "DIRECT";
}"#,
    )
    .expect("write");
    let report = triage_json(tmp.path());
    assert_eq!(
        report["effective_proxy"]["proxy"], "http://pac-proxy.contoso.example:3128",
        "{report}"
    );
    assert_eq!(report["effective_proxy"]["decided_by"], "pac", "{report}");

    std::fs::write(
        tmp.path().join("wpad.dat"),
        "function FindProxyForURL(url, host) { while (true) {} }",
    )
    .expect("write");
    let report = triage_json(tmp.path());
    assert_eq!(report["effective_proxy"]["proxy"], Value::Null, "{report}");
    let why = report["effective_proxy"]["why"].to_string();
    assert!(why.contains("the PAC file gives no answer"), "{why}");
}
