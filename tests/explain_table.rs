//! `egresslab explain` on what people really paste: the table in tests/fixtures/explain/pasted.toml (at
//! least 60 texts with their expected codes, and at least 10 that must not match), through the library
//! and, for every row, through the binary with the text on standard input (`explain -`).

use std::io::Write as _;
use std::process::{Command, Stdio};

use egresslab::check::taxonomy::paste::candidates;

#[derive(serde::Deserialize)]
struct Table {
    case: Vec<Case>,
    reject: Vec<Reject>,
}

#[derive(serde::Deserialize)]
struct Case {
    text: String,
    expect: Vec<String>,
}

#[derive(serde::Deserialize)]
struct Reject {
    text: String,
}

fn table() -> Table {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/explain/pasted.toml"
    );
    let text = std::fs::read_to_string(path).expect("the table");
    toml::from_str(&text).expect("the table parses")
}

fn explain_stdin(text: &str) -> (i32, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_egresslab"))
        .args(["explain", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("egresslab starts");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("egresslab ends");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn every_pasted_text_gives_its_code_and_the_rejects_match_nothing() {
    let t = table();
    assert!(t.case.len() >= 60, "only {} cases", t.case.len());
    assert!(t.reject.len() >= 10, "only {} rejects", t.reject.len());
    let mut failures = Vec::new();
    for c in &t.case {
        let found = candidates(&c.text);
        let codes: Vec<&str> = found.iter().map(|f| f.diagnosis.code.as_str()).collect();
        let top_ok = codes
            .first()
            .is_some_and(|top| c.expect.iter().any(|e| e == top));
        let all_ok = c.expect.iter().all(|e| codes.contains(&e.as_str()));
        if !top_ok || !all_ok {
            failures.push(format!(
                "{:?}: expected {:?}, got {:?}",
                c.text, c.expect, codes
            ));
        }
        assert!(
            found.iter().all(|f| !f.why.is_empty()),
            "{:?}: a candidate without a reason",
            c.text
        );
    }
    for r in &t.reject {
        let found = candidates(&r.text);
        if !found.is_empty() {
            let codes: Vec<&str> = found.iter().map(|f| f.diagnosis.code.as_str()).collect();
            failures.push(format!("{:?}: must not match, got {codes:?}", r.text));
        }
    }
    assert!(
        failures.is_empty(),
        "{} rows fail:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn the_binary_reads_standard_input_and_lists_candidates_with_reasons() {
    let t = table();
    for c in &t.case {
        let (code, out) = explain_stdin(&c.text);
        assert_eq!(code, 0, "{:?}: {out}", c.text);
        assert!(out.contains(&c.expect[0]), "{:?}: {out}", c.text);
        assert!(out.contains("matched: "), "{:?}: {out}", c.text);
        if c.expect.len() > 1 {
            assert!(out.contains("candidates fit"), "{:?}: {out}", c.text);
        }
    }
    for r in &t.reject {
        let (code, out) = explain_stdin(&r.text);
        assert_eq!(code, 1, "{:?}: {out}", r.text);
        assert!(out.contains("not recognised"), "{:?}: {out}", r.text);
    }
}
