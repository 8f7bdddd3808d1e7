//! `egresslab run --exec`: a command no `[[expect.exec]]` names is run once and reported "not
//! judged" (table, JSON, JUnit) instead of passing silently; `--exec-expect exit=N` and a scenario's
//! `client = "*"` give it an expectation. And the run table: aligned with long codes, each finding's
//! summary with `-v`.

use std::path::Path;
use std::process::{Command, Output};

fn egresslab(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_egresslab"))
        .env(
            "EGRESSLAB_CA_DIR",
            concat!(env!("CARGO_TARGET_TMPDIR"), "/egresslab-ca"),
        )
        .args(args)
        .output()
        .expect("egresslab runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A healthy scenario whose only exec expectation is for any client: exit status 1.
fn any_client_scenario(dir: &Path) -> String {
    let path = dir.join("any-client.toml");
    std::fs::write(
        &path,
        r#"[scenario]
name = "any-client"
summary = "A healthy site; any --exec command must exit 1."
seed = "egresslab test: [[expect.exec]] client = \"*\""

[[endpoint]]
name = "site"
hosts = ["site.egresslab.test"]
port = 443
tls = { profile = "valid" }

[client]
probes = [{ url = "https://site.egresslab.test/" }]

[expect]
healthy = true

[[expect.exec]]
client = "*"
exit_code = 1
"#,
    )
    .expect("written");
    path.display().to_string()
}

#[test]
fn a_command_nothing_judges_is_reported_not_judged_everywhere() {
    // tls-healthy has expectations for curl and openssl only; `true` is neither.
    let table = egresslab(&["run", "tls-healthy", "--exec", "true"]);
    assert!(table.status.success(), "{table:?}");
    let text = stdout(&table);
    assert!(text.contains("PASS (exec not judged)"), "{text}");
    assert!(
        text.contains("exec true: not judged (exit 0)"),
        "the note says what the command did: {text}"
    );
    assert!(text.contains("--exec-expect exit=N"), "{text}");
    assert!(text.contains("was not judged in 1"), "{text}");

    let json = egresslab(&["run", "tls-healthy", "--exec", "true", "--format", "json"]);
    let value: serde_json::Value = serde_json::from_slice(&json.stdout).expect("JSON");
    assert_eq!(value[0]["exec"], "not judged", "{value}");
    assert_eq!(value[0]["passed"], true);
    assert!(value[0]["notes"][0]
        .as_str()
        .is_some_and(|n| n.contains("not judged")));

    let junit = egresslab(&["run", "tls-healthy", "--exec", "true", "--format", "junit"]);
    let xml = stdout(&junit);
    assert!(xml.contains("<system-out>"), "{xml}");
    assert!(xml.contains("not judged"), "{xml}");
    assert!(!xml.contains("<failure"), "{xml}");

    // A judged command carries no such note.
    let judged = egresslab(&[
        "run",
        "tls-healthy",
        "--exec",
        "true",
        "--format",
        "json",
        "--exec-expect",
        "exit=0",
    ]);
    let value: serde_json::Value = serde_json::from_slice(&judged.stdout).expect("JSON");
    assert_eq!(value[0]["exec"], serde_json::Value::Null, "{value}");
    assert_eq!(value[0]["notes"], serde_json::json!([]));
}

#[test]
fn exec_expect_judges_a_command_no_scenario_entry_names() {
    let pass = egresslab(&[
        "run",
        "tls-healthy",
        "--exec",
        "true",
        "--exec-expect",
        "exit=0",
    ]);
    assert!(pass.status.success(), "{pass:?}");
    assert!(!stdout(&pass).contains("not judged"));

    let fail = egresslab(&[
        "run",
        "tls-healthy",
        "--exec",
        "true",
        "--exec-expect",
        "exit=3",
    ]);
    assert_eq!(fail.status.code(), Some(1), "{fail:?}");
    let text = stdout(&fail);
    assert!(text.contains("FAIL"), "{text}");
    assert!(text.contains("exec true:"), "{text}");

    let bad = egresslab(&[
        "run",
        "tls-healthy",
        "--exec",
        "true",
        "--exec-expect",
        "exit=seven",
    ]);
    assert_eq!(bad.status.code(), Some(2), "a usage error: {bad:?}");
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(stderr.contains("whole number"), "{stderr}");
}

#[test]
fn a_scenario_entry_for_any_client_judges_every_command() {
    let dir = tempfile::tempdir().expect("tempdir");
    let scenario = any_client_scenario(dir.path());
    let pass = egresslab(&["run", &scenario, "--exec", "false"]);
    assert!(
        pass.status.success(),
        "`false` exits 1 as expected: {pass:?}"
    );
    assert!(!stdout(&pass).contains("not judged"));
    let fail = egresslab(&["run", &scenario, "--exec", "true"]);
    assert_eq!(
        fail.status.code(),
        Some(1),
        "`true` exits 0, not 1: {fail:?}"
    );
}

/// The column where `RESULT` starts in the header, and where each row's verdict starts.
fn verdict_columns(table: &str) -> (usize, Vec<usize>) {
    let mut lines = table.lines();
    let header = lines.next().expect("a header");
    let column = header.find("RESULT").expect("a RESULT column");
    let rows = lines
        .filter_map(|line| {
            line.find("  PASS")
                .or_else(|| line.find("  FAIL"))
                .map(|at| at + 2)
        })
        .collect();
    (column, rows)
}

#[test]
fn the_table_stays_aligned_with_long_codes_and_shows_summaries_with_v() {
    // registration-errors expects four long event codes; tls-healthy expects none.
    let out = egresslab(&[
        "run",
        "registration-errors",
        "tls-healthy",
        "port-443-refused",
    ]);
    let text = stdout(&out);
    let (column, rows) = verdict_columns(&text);
    assert_eq!(rows.len(), 3, "{text}");
    assert!(
        rows.iter().all(|at| *at == column),
        "verdicts at {rows:?}, header at {column}:\n{text}"
    );

    let verbose = egresslab(&["run", "port-443-refused", "-v"]);
    let text = stdout(&verbose);
    let summary = text
        .lines()
        .find(|line| line.contains("error net.tcp.refused:"))
        .unwrap_or_else(|| panic!("a summary line for the refused port:\n{text}"));
    assert!(
        summary.len() > "error net.tcp.refused: ".len() + 10,
        "{summary}"
    );
    let quiet = stdout(&egresslab(&["run", "port-443-refused"]));
    assert!(!quiet.contains("error net.tcp.refused:"), "{quiet}");
}
