//! Sharded runs: 4 partitions of `egresslab score` and of `egresslab run`, run in parallel on this
//! machine (after the unsharded run, so that the two do not share the cores), hold every case or
//! scenario exactly once, and `egresslab merge` joins them into the score and the report of the
//! unsharded run.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const SHARDS: usize = 4;

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

fn with_partition(args: &[&str], k: usize) -> Output {
    let mut all: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    all.push("--partition".into());
    all.push(format!("{k}/{SHARDS}"));
    let all: Vec<&str> = all.iter().map(String::as_str).collect();
    egresslab(&all)
}

fn finished(args: &[&str], output: &Output) {
    assert!(
        matches!(output.status.code(), Some(0 | 1)),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Run `args` unsharded, then as 4 shards at the same time, writing each stdout to
/// `dir/NAME-whole.EXT` and `dir/NAME-K.EXT`; returns the paths.
fn sharded(dir: &Path, name: &str, ext: &str, args: &[&str]) -> (PathBuf, Vec<PathBuf>) {
    let output = egresslab(args);
    finished(args, &output);
    let whole = dir.join(format!("{name}-whole.{ext}"));
    std::fs::write(&whole, &output.stdout).expect("writes");
    let outputs: Vec<Output> = std::thread::scope(|s| {
        let handles: Vec<_> = (1..=SHARDS)
            .map(|k| s.spawn(move || with_partition(args, k)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("ran"))
            .collect()
    });
    let mut parts = Vec::new();
    for (k, output) in (1..=SHARDS).zip(outputs) {
        finished(args, &output);
        let path = dir.join(format!("{name}-{k}.{ext}"));
        std::fs::write(&path, &output.stdout).expect("writes");
        parts.push(path);
    }
    (whole, parts)
}

fn merge(files: &[PathBuf], extra: &[&str]) -> Output {
    let mut args = vec!["merge".to_owned()];
    args.extend(files.iter().map(|p| p.display().to_string()));
    args.extend(extra.iter().map(|a| a.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    egresslab(&args)
}

fn json(bytes: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(bytes)))
}

/// The parts of a score that do not depend on timing or on where replay files went.
fn score_body(score: &serde_json::Value) -> serde_json::Value {
    let mut body = score.clone();
    let map = body.as_object_mut().expect("an object");
    for key in ["elapsed_ms", "out", "replays", "shrunk"] {
        map.remove(key);
    }
    for list in ["results", "misses"] {
        for r in map[list].as_array_mut().expect("a list") {
            r.as_object_mut().expect("a result").remove("elapsed_ms");
        }
    }
    body
}

/// The cases of a score, without what the judge said: (index, id, cause, truth).
fn cases_of(score: &serde_json::Value) -> Vec<serde_json::Value> {
    score["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| serde_json::json!([r["index"], r["id"], r["cause"], r["truth"]]))
        .collect()
}

#[test]
fn four_score_shards_merge_into_the_unsharded_score() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("replays");
    let out = out.to_str().expect("utf-8");
    // A judge whose verdict follows from the topology alone, so that every run of a case gives the
    // same verdict even on a loaded machine: then merged and unsharded scores must agree to the bit.
    // (The built-in checks' verdicts depend on time-outs; the cases they are given are compared below.)
    let judge = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/diagnosers/by-topology"
    );
    let args = [
        "score", "--cases", "80", "--seed", "6", "--format", "json", "--shrink", "0", "--jobs",
        "8", "--out", out, "--exec", judge,
    ];
    let (whole, parts) = sharded(dir.path(), "score", "json", &args);
    let whole = json(&std::fs::read(whole).expect("reads"));
    let mut indexes: Vec<u64> = Vec::new();
    for part in &parts {
        let shard = json(&std::fs::read(part).expect("reads"));
        let results = shard["results"].as_array().expect("results");
        assert!(
            results.len() >= 80 / SHARDS - 1,
            "{part:?}: {}",
            results.len()
        );
        indexes.extend(results.iter().map(|r| r["index"].as_u64().expect("index")));
    }
    indexes.sort();
    assert_eq!(indexes, (0..80).collect::<Vec<u64>>(), "every case once");
    let merged = merge(&parts, &[]);
    assert!(
        matches!(merged.status.code(), Some(0 | 1)),
        "{}",
        String::from_utf8_lossy(&merged.stderr)
    );
    let merged = json(&merged.stdout);
    assert_eq!(score_body(&merged), score_body(&whole));
    assert_eq!(
        merged["partition"],
        serde_json::json!({"index": 1, "count": 1})
    );
    assert!(
        merged["misses"].as_array().expect("misses").len() > 10,
        "a varied score"
    );
    // The built-in checks' shards are given the same cases as their unsharded run.
    let builtin = [
        "score", "--cases", "40", "--seed", "6", "--format", "json", "--shrink", "0", "--jobs",
        "4", "--out", out,
    ];
    let (whole_builtin, builtin_parts) = sharded(dir.path(), "builtin", "json", &builtin);
    let merged_builtin = json(&merge(&builtin_parts, &[]).stdout);
    let whole_builtin = json(&std::fs::read(whole_builtin).expect("reads"));
    assert_eq!(cases_of(&merged_builtin), cases_of(&whole_builtin));
    assert_eq!(merged_builtin["cases"], 40);
    // The text of the merged score is the score's own text.
    let text = merge(&parts, &["--format", "text"]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("macro-F1"), "{text}");
    // A shard missing, or given twice, is refused by name.
    let refused = merge(&parts[..3], &[]);
    assert_eq!(refused.status.code(), Some(2), "a usage error");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("missing: 4/4"), "{stderr}");
    let twice = merge(&[parts[0].clone(), parts[0].clone()], &[]);
    assert!(
        String::from_utf8_lossy(&twice.stderr).contains("are both shard 1/4"),
        "{}",
        String::from_utf8_lossy(&twice.stderr)
    );
}

#[test]
fn four_run_shards_merge_into_the_unsharded_report() {
    let dir = tempfile::tempdir().expect("tempdir");
    // The TLS folder of the catalog: 13 scenarios, quick ones.
    let args = ["run", "--filter", "tls", "--format", "json", "--jobs", "4"];
    let (whole, parts) = sharded(dir.path(), "run", "json", &args);
    let whole = json(&std::fs::read(whole).expect("reads"));
    let merged = merge(&parts, &[]);
    let merged = json(&merged.stdout);
    let essentials = |v: &serde_json::Value| -> Vec<serde_json::Value> {
        v.as_array()
            .expect("an array")
            .iter()
            .map(|o| {
                serde_json::json!([
                    o["scenario"],
                    o["position"],
                    o["passed"],
                    o["expected"],
                    o["got"]
                ])
            })
            .collect()
    };
    let whole_list = essentials(&whole);
    assert!(whole_list.len() >= 8, "{whole_list:?}");
    assert_eq!(
        essentials(&merged),
        whole_list,
        "same scenarios, same order, same outcome"
    );
    let mut sizes = Vec::new();
    for part in &parts {
        sizes.push(
            json(&std::fs::read(part).expect("reads"))
                .as_array()
                .expect("list")
                .len(),
        );
    }
    assert_eq!(sizes.iter().sum::<usize>(), whole_list.len(), "{sizes:?}");
    // JUnit shards too.
    let args = ["run", "--filter", "tls", "--format", "junit", "--jobs", "4"];
    let (whole, parts) = sharded(dir.path(), "junit", "xml", &args);
    let merged = merge(&parts, &[]);
    let merged = String::from_utf8_lossy(&merged.stdout).to_string();
    let whole = std::fs::read_to_string(whole).expect("reads");
    let cases = |xml: &str| -> Vec<String> {
        let mut names: Vec<String> = xml
            .lines()
            .filter(|l| l.trim_start().starts_with("<testcase") || l.contains("<failure"))
            .map(|l| {
                // The time attribute differs from run to run.
                let l = l.trim();
                match l.find(" time=") {
                    Some(i) => l[..i].to_owned(),
                    None => l.to_owned(),
                }
            })
            .collect();
        names.sort();
        names
    };
    assert_eq!(cases(&merged), cases(&whole));
    let tests = |xml: &str| {
        xml.lines()
            .find(|l| l.contains("<testsuite "))
            .map(|l| l[..l.find(" time=").unwrap_or(l.len())].to_owned())
    };
    assert_eq!(tests(&merged), tests(&whole), "the suite's counts");
}
