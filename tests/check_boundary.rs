//! The check module must never look inside the lab: it sees only what a real client sees.

use std::path::Path;

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn harness_check_never_imports_the_lab() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("harness/check");
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    assert!(
        files.len() > 10,
        "expected the check sources, found {files:?}"
    );
    let forbidden = [
        "crate::lab",
        "super::super::lab",
        "egresslab::lab",
        "super::lab",
    ];
    let mut hits = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        for (n, line) in text.lines().enumerate() {
            if forbidden.iter().any(|x| line.contains(x)) {
                hits.push(format!("{}:{}: {}", f.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(
        hits.is_empty(),
        "harness/check imports the lab:\n{}",
        hits.join("\n")
    );
}

#[test]
fn docs_diagnoses_md_is_generated_from_the_taxonomy() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/diagnoses.md");
    let generated = egresslab::check::taxonomy::markdown();
    if std::env::var_os("EGRESSLAB_REGENERATE_DOCS").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        on_disk == generated,
        "docs/diagnoses.md is stale: run `EGRESSLAB_REGENERATE_DOCS=1 cargo test --test check_boundary` \
         or `egresslab explain --list --format markdown > docs/diagnoses.md`"
    );
}
