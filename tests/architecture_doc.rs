//! docs/architecture.md stays true: every path it names in backticks exists in the tree.

use std::path::Path;

/// The backticked words of `text` that look like paths in the tree (they hold a `/` or end in `.rs`).
fn named_paths(text: &str) -> Vec<&str> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .filter(|word| !word.contains(' ') && (word.contains('/') || word.ends_with(".rs")))
        .collect()
}

#[test]
fn every_path_the_architecture_page_names_exists() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("docs/architecture.md")).expect("read the page");
    let paths = named_paths(&text);
    assert!(paths.len() > 20, "the page names too few paths: {paths:?}");
    let missing: Vec<&str> = paths
        .iter()
        .copied()
        .filter(|p| p.contains('/') && !root.join(p).exists())
        .collect();
    assert!(
        missing.is_empty(),
        "docs/architecture.md names paths that do not exist: {missing:?}"
    );
}

#[test]
fn the_path_reader_finds_backticked_paths_only() {
    let text = "see `harness/lab/` and `a b/c` and `Live` and `x.rs`";
    assert_eq!(named_paths(text), vec!["harness/lab/", "x.rs"]);
}
