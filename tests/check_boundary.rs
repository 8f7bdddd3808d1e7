//! The parts' boundaries and the layers inside the checks, kept by reading the sources:
//! - the check module never looks inside the lab (it sees only what a real client sees);
//! - inside harness/check, modules import only downwards (model → transport → verify → artifacts →
//!   probe → dispatch) and no two modules import each other, directly or round a cycle;
//! - the lab imports neither the checks nor the scenarios; the certificate factory knows nothing of
//!   egresslab.

#[path = "common/modgraph.rs"]
mod modgraph;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use modgraph::{cycles, module_of, references, resolve, show, ModPath};

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    out.extend(modgraph::rust_files(dir));
}

/// The layers of harness/check, lowest first. A module belongs to the longest prefix listed here; every
/// module must belong to one (a new module is placed on purpose, not by accident).
const LAYERS: &[(&str, usize, &str)] = &[
    ("check::config", 0, "model"),
    ("check::finding", 0, "model"),
    ("check::codes", 0, "model"),
    ("check::taxonomy", 0, "model"),
    ("check::report", 0, "model"),
    ("check::transport", 1, "transport"),
    ("check::verify", 2, "verify"),
    ("check::artifacts", 3, "artifacts"),
    ("check::probe", 4, "probe"),
    ("check::router", 5, "dispatch"),
    ("check", 5, "dispatch"),
];

fn layer_of(module: &[String]) -> Option<(usize, &'static str)> {
    LAYERS
        .iter()
        .filter(|(prefix, _, _)| {
            let p: Vec<&str> = prefix.split("::").collect();
            module.len() >= p.len() && module.iter().zip(&p).all(|(a, b)| a == b)
        })
        .max_by_key(|(prefix, _, _)| prefix.len())
        .map(|(_, n, name)| (*n, *name))
}

/// The sources of one part: (module, text) for every file under `harness/<part>` (or another root).
fn sources(root: &Path, src: &Path) -> Vec<(ModPath, String)> {
    modgraph::rust_files(root)
        .into_iter()
        .map(|f| {
            let module = module_of(f.strip_prefix(src).unwrap());
            (module, std::fs::read_to_string(&f).unwrap())
        })
        .collect()
}

/// What is wrong with the layering of these modules: upward imports, unplaced modules and cycles.
fn layering_problems(files: &[(ModPath, String)]) -> Vec<String> {
    let known: BTreeSet<ModPath> = files.iter().map(|(m, _)| m.clone()).collect();
    let mut problems = Vec::new();
    let mut edges: BTreeMap<ModPath, BTreeSet<ModPath>> = BTreeMap::new();
    for (module, text) in files {
        let Some((own, own_name)) = layer_of(module) else {
            problems.push(format!("{} is in no layer: add it to LAYERS", show(module)));
            continue;
        };
        edges.entry(module.clone()).or_default();
        for r in references(module, text) {
            if r.to.first().map(String::as_str) != Some("check") {
                continue;
            }
            let Some(target) = resolve(&known, &r.to) else {
                continue;
            };
            if target == module {
                continue;
            }
            let Some((theirs, their_name)) = layer_of(target) else {
                continue;
            };
            if theirs > own {
                problems.push(format!(
                    "{} ({own_name}) imports {} ({their_name}), a higher layer, at line {}",
                    show(module),
                    show(&r.to),
                    r.line
                ));
            }
            edges
                .entry(module.clone())
                .or_default()
                .insert(target.clone());
        }
    }
    for cycle in cycles(&edges) {
        let names: Vec<String> = cycle.iter().map(|m| show(m)).collect();
        problems.push(format!("import cycle among {}", names.join(", ")));
    }
    problems
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

#[test]
fn check_modules_import_only_downwards_and_have_no_cycle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("harness");
    let files = sources(&src.join("check"), &src);
    assert!(
        files.len() > 20,
        "expected the check sources, found {}",
        files.len()
    );
    // The reader sees the imports it must see (a test of the test).
    let edges: usize = files.iter().map(|(m, t)| references(m, t).len()).sum();
    assert!(
        edges > 100,
        "only {edges} references read from harness/check"
    );
    let problems = layering_problems(&files);
    assert!(
        problems.is_empty(),
        "harness/check breaks its layers:\n{}",
        problems.join("\n")
    );
}

/// The layer check fails where it must: an upward import, a cycle inside a layer, an unplaced module.
#[test]
fn the_layer_check_finds_upward_imports_and_cycles() {
    let m = |s: &str| s.split("::").map(String::from).collect::<ModPath>();
    let files = vec![
        (m("check::transport::tcp"), "use crate::check::verify::chain::Verdict;\n".to_string()),
        (m("check::verify::chain"), "fn f() { super::ocsp::x(); }".to_string()),
        (m("check::verify::ocsp"), "// use crate::check::probe::https;\nuse super::{chain::{self, X}};\nconst S: &str = \"crate::check::probe\";".to_string()),
        (m("check::probe::https"), "mod tests { use super::*; use super::super::tls_block; }".to_string()),
        (m("check::probe::tls_block"), String::new()),
        (m("check::elsewhere"), String::new()),
    ];
    let problems = layering_problems(&files).join("\n");
    assert!(
        problems.contains(
            "check::transport::tcp (transport) imports check::verify::chain::Verdict (verify)"
        ),
        "{problems}"
    );
    assert!(
        problems.contains("import cycle among check::verify::chain, check::verify::ocsp"),
        "{problems}"
    );
    // Comments, strings and a test module's `super::*` are no imports.
    assert!(!problems.contains("probe"), "{problems}");
    // The root `check` module is the dispatch layer, so `check::elsewhere` is placed there.
    assert_eq!(problems.lines().count(), 2, "{problems}");
    // A higher layer seen from a lower one through a root re-export is caught too.
    let root = vec![
        (m("check"), String::new()),
        (m("check::codes"), "use crate::check::Finding;".to_string()),
    ];
    assert_eq!(
        layering_problems(&root),
        vec![
            "check::codes (model) imports check::Finding (dispatch), a higher layer, at line 1"
                .to_string()
        ]
    );
}

/// Every `crate::`/`super::` reference of `files` that leaves `part` for one of `forbidden`.
fn crossings(files: &[(ModPath, String)], forbidden: &[&str]) -> Vec<String> {
    let mut hits = Vec::new();
    for (module, text) in files {
        for r in references(module, text) {
            if let Some(first) = r.to.first() {
                if forbidden.contains(&first.as_str()) {
                    hits.push(format!(
                        "{} uses {} at line {}",
                        show(module),
                        show(&r.to),
                        r.line
                    ));
                }
            }
        }
        // By the library's public name, in code (doc comments are not code).
        let code = modgraph::code_only(text);
        for part in forbidden {
            if code.contains(&format!("egresslab::{part}")) {
                hits.push(format!("{} uses egresslab::{part}", show(module)));
            }
        }
    }
    hits
}

#[test]
fn the_lab_imports_neither_the_checks_nor_the_scenarios() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("harness");
    let files = sources(&src.join("lab"), &src);
    assert!(
        files.len() > 10,
        "expected the lab sources, found {}",
        files.len()
    );
    let hits = crossings(&files, &["check", "scenario"]);
    assert!(
        hits.is_empty(),
        "the lab reaches into another part:\n{}",
        hits.join("\n")
    );
    // And the checks never into the lab or the scenarios, by any spelling of the path.
    let checks = sources(&src.join("check"), &src);
    let hits = crossings(&checks, &["lab", "scenario"]);
    assert!(
        hits.is_empty(),
        "the checks reach into another part:\n{}",
        hits.join("\n")
    );
}

#[test]
fn the_certificate_factory_knows_nothing_of_egresslab() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("certs");
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    let deps: Vec<&str> = manifest
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("egresslab") && !l.starts_with("egresslab-certs"))
        .collect();
    assert!(
        deps.is_empty(),
        "certs/Cargo.toml depends on egresslab: {deps:?}"
    );
    let files = modgraph::rust_files(&root);
    assert!(!files.is_empty());
    let mut hits = Vec::new();
    for f in &files {
        let code = modgraph::code_only(&std::fs::read_to_string(f).unwrap());
        for (n, line) in code.lines().enumerate() {
            let uses = line
                .split(|c: char| !(c.is_alphanumeric() || c == '_'))
                .any(|word| word == "egresslab");
            if uses {
                hits.push(format!("{}:{}: {}", f.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(
        hits.is_empty(),
        "certs refers to egresslab:\n{}",
        hits.join("\n")
    );
}
