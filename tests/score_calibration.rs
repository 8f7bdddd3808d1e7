//! The score tells a good diagnoser from a bad one: five reference diagnosers, scored by `egresslab
//! score` on the same generated cases, land where common sense puts them.
//!
//! - the built-in checks (no `--exec`);
//! - tests/fixtures/diagnosers/naive-curl: one curl, its exit code mapped to one code;
//! - name-everything: every code of the taxonomy, every time;
//! - name-nothing: always healthy;
//! - constant with the run's most common faulty ground truth: "always the most common cause".
//!
//! The order asserted: built-in > naive > each of the three that look at nothing, and those three near
//! zero (name-everything by precision, name-nothing by recall). The scores are printed (run with
//! `--nocapture` to see them); docs/generated-scenarios.md gives the figures of a larger run.

use std::collections::BTreeMap;
use std::process::Command;

use egresslab::scenario::generate::{generate, GenOptions, HEALTHY};

const SEED: u64 = 21;
const CASES: usize = 120;

fn diagnoser(name: &str) -> String {
    format!(
        "{}/tests/fixtures/diagnosers/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// `egresslab score` with `exec` (None: the built-in checks), as JSON.
fn score(exec: Option<&str>) -> serde_json::Value {
    let out = tempfile::tempdir().expect("tempdir");
    let mut command = Command::new(env!("CARGO_BIN_EXE_egresslab"));
    command
        .args([
            "score",
            "--cases",
            &CASES.to_string(),
            "--seed",
            &SEED.to_string(),
        ])
        .args(["--format", "json", "--shrink", "0", "--jobs", "12", "--out"])
        .arg(out.path());
    if let Some(exec) = exec {
        command.args(["--exec", exec, "--exec-timeout", "20"]);
    }
    let output = command.output().expect("egresslab runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        matches!(output.status.code(), Some(0 | 1)),
        "{exec:?}: {}\n{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{exec:?}: {e}: {stdout}"))
}

fn number(score: &serde_json::Value, key: &str) -> f64 {
    score[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key}: {score}"))
}

#[test]
fn reference_diagnosers_land_where_common_sense_puts_them() {
    // The most common fault of this run (healthy left out: that would be name-nothing), from the
    // generator alone.
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for g in generate(SEED, CASES, GenOptions::default()).expect("generates") {
        *counts.entry(g.truth()).or_default() += 1;
    }
    let (common, common_n) = counts
        .iter()
        .filter(|(label, _)| **label != HEALTHY)
        .max_by_key(|(label, n)| (**n, std::cmp::Reverse(**label)))
        .map(|(l, n)| (l.to_string(), *n))
        .expect("cases");
    let constant = format!("{} {common}", diagnoser("constant"));
    let naive = diagnoser("naive-curl");
    let everything = diagnoser("name-everything");
    let nothing = diagnoser("name-nothing");
    let judges: Vec<(&str, Option<&str>)> = vec![
        ("built-in checks", None),
        ("naive curl", Some(&naive)),
        ("name everything", Some(&everything)),
        ("name nothing", Some(&nothing)),
        ("most common cause", Some(&constant)),
    ];
    let scores: Vec<(&str, serde_json::Value)> = std::thread::scope(|s| {
        let handles: Vec<_> = judges
            .iter()
            .map(|(name, exec)| (*name, s.spawn(move || score(*exec))))
            .collect();
        handles
            .into_iter()
            .map(|(name, h)| (name, h.join().expect("scored")))
            .collect()
    });
    let f1: BTreeMap<&str, f64> = scores
        .iter()
        .map(|(name, s)| (*name, number(s, "macro_f1")))
        .collect();
    for (name, s) in &scores {
        eprintln!(
            "{name:18} macro-F1 {:.3}  exact {:>3}/{CASES}  correct {:>3}  precision {:.3}  recall {:.3}",
            number(s, "macro_f1"),
            s["exact"],
            s["correct"],
            number(s, "precision"),
            number(s, "recall"),
        );
        assert_eq!(s["cases"], CASES, "{name}");
        assert_eq!(s["errors"], 0, "{name}: every case gave a verdict");
    }
    eprintln!("most common truth: {common} ({common_n} of {CASES})");
    let by = |name: &str| &scores.iter().find(|(n, _)| *n == name).expect("scored").1;
    // The order common sense gives.
    assert!(
        f1["built-in checks"] > f1["naive curl"],
        "the checks beat one curl: {f1:?}"
    );
    for trivial in ["name everything", "name nothing", "most common cause"] {
        assert!(
            f1["naive curl"] > f1[trivial],
            "one curl beats {trivial}: {f1:?}"
        );
        assert!(f1[trivial] < 0.15, "{trivial} is near zero: {f1:?}");
    }
    assert!(f1["built-in checks"] > 0.6, "{f1:?}");
    // Why the trivial ones are near zero.
    let everything = by("name everything");
    assert!(
        number(everything, "precision") < 0.1,
        "naming every code has near-zero precision: {}",
        everything["precision"]
    );
    assert_eq!(everything["labels"][HEALTHY]["recall"], 0.0);
    let nothing = by("name nothing");
    let healthy = counts.get(HEALTHY).copied().unwrap_or(0);
    assert_eq!(
        nothing["correct"], healthy,
        "right on the healthy cases only"
    );
    for (label, l) in nothing["labels"].as_object().expect("labels") {
        if label != HEALTHY {
            assert_eq!(l["recall"], 0.0, "{label}: naming nothing finds nothing");
        }
    }
    let constant = by("most common cause");
    assert_eq!(constant["correct"], common_n);
    assert_eq!(constant["labels"][common.as_str()]["recall"], 1.0);
}
