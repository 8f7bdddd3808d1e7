//! `egresslab score` against a deliberately naive external diagnoser reports its mistakes by code, and a
//! miss shrinks to a minimal topology that still loads as a scenario file.

use std::collections::BTreeSet;
use std::process::Command;

use egresslab::scenario::generate::{generate, shrink, GenOptions, Judge};
use egresslab::scenario::load_file;

const NAIVE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/diagnosers/naive-curl"
);

#[test]
fn score_shows_the_naive_diagnosers_misses_by_code() {
    let out = tempfile::tempdir().expect("tempdir");
    let output = Command::new(env!("CARGO_BIN_EXE_egresslab"))
        .args(["score", "--cases", "40", "--seed", "3", "--format", "json"])
        .args(["--shrink", "0", "--jobs", "4", "--exec", NAIVE, "--out"])
        .arg(out.path())
        .output()
        .expect("egresslab runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(1),
        "misses fail the run: {stdout}"
    );
    let score: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    let matrix = score["matrix"].as_object().expect("matrix");
    let total: u64 = matrix
        .values()
        .flat_map(|row| row.as_object().expect("row").values())
        .map(|n| n.as_u64().expect("count"))
        .sum();
    assert_eq!(total, 40);
    // The naive program can only ever print these; every other truth must show up as a miss.
    let sayable: BTreeSet<&str> = [
        "healthy",
        "net.dns.nxdomain",
        "net.tcp.refused",
        "net.tcp.filtered",
        "tls.handshake.failed",
        "proxy.denied",
        "pki.untrusted_root",
    ]
    .into();
    let mut unsayable_rows = 0;
    for (truth, row) in matrix {
        if !sayable.contains(truth.as_str()) {
            unsayable_rows += 1;
            assert!(row.get(truth).is_none(), "{truth} cannot be right: {row:?}");
        }
        for predicted in row.as_object().expect("row").keys() {
            assert!(
                sayable.contains(predicted.as_str()),
                "{predicted} was never printed"
            );
        }
    }
    assert!(unsayable_rows >= 3, "{matrix:?}");
    let correct = score["correct"].as_u64().expect("correct");
    let misses = score["misses"].as_array().expect("misses");
    assert!(
        correct > 0,
        "it gets the healthy and time-out cases: {stdout}"
    );
    assert_eq!(correct + misses.len() as u64, 40);
    // An expired certificate is not an untrusted root: the matrix names that confusion.
    if let Some(row) = matrix.get("pki.expired") {
        assert!(row.get("pki.untrusted_root").is_some(), "{row:?}");
    }
    let replays = score["replays"].as_array().expect("replays");
    assert_eq!(replays.len(), misses.len());
    for replay in replays {
        let path = std::path::Path::new(replay.as_str().expect("path"));
        assert!(path.starts_with(out.path()));
        let scenario = load_file(path).expect("a replay file loads");
        assert!(!scenario.expect.diagnoses.is_empty() || scenario.expect.healthy);
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_miss_shrinks_to_a_minimal_topology() {
    // A judge that blames the firewall for everything: every case that is not filtered misses.
    let judge = Judge::Exec {
        command: "echo net.tcp.filtered",
        timeout: std::time::Duration::from_secs(10),
    };
    let mut cases = generate(11, 30, GenOptions::default()).expect("generates");
    let big = cases
        .iter_mut()
        .filter(|g| g.case.decoys.len() >= 2 && g.truth() != "net.tcp.filtered")
        .max_by_key(|g| g.case.decoys.len())
        .expect("a case with decoys");
    let truth = big.truth();
    let decoys = big.case.decoys.len();
    let (minimal, result) = shrink(big, judge, 64).await;
    assert!(!result.correct);
    assert_eq!(
        egresslab::scenario::generate::truth(&minimal),
        truth,
        "the root cause stays"
    );
    assert!(
        minimal.decoys.is_empty(),
        "{decoys} decoys should shrink away: {minimal:?}"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("min.toml");
    std::fs::write(
        &path,
        egresslab::scenario::generate::render(&minimal, "min", "test"),
    )
    .expect("writes");
    let scenario = load_file(&path).expect("the shrunk file loads");
    assert!(scenario.expect.healthy || scenario.expect.diagnoses == vec![truth]);
}
