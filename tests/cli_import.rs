//! `egresslab import` as a user runs it: a catalog squid.conf in, a scenario out that
//! `egresslab run` passes, the directives it does not model listed by file and line; bad input
//! refused with the file and line.

use std::path::PathBuf;

mod common;

use common::bin::egresslab;

fn catalog(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios/squid-conf")
        .join(file)
}

#[test]
fn import_writes_a_scenario_that_runs_and_lists_what_it_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("corp.toml");
    let conf = catalog("corporate-allowlist-basic.conf");
    let import = egresslab()
        .arg("import")
        .arg(&conf)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&import.stderr);
    assert!(import.status.success(), "{stderr}");
    // Line 10 is `auth_param basic children 5`, line 36 `read_timeout 5 minutes`.
    let at = |line: usize| format!("{}:{line} ", conf.display());
    assert!(
        stderr.contains(&format!("{}auth_param basic children", at(10))),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("{}read_timeout", at(36))),
        "{stderr}"
    );
    let scenario = std::fs::read_to_string(&out).unwrap();
    assert!(scenario.contains("[[proxy.http_access]]"), "{scenario}");
    let run = egresslab().arg("run").arg(&out).output().unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(stdout.contains("1/1 passed"), "{stdout}");
}

#[test]
fn bad_squid_conf_is_refused_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("squid.conf");
    std::fs::write(
        &conf,
        "acl SSL_ports port 443\nhttp_access allow SSL_porst\n",
    )
    .unwrap();
    let import = egresslab()
        .arg("import")
        .arg(&conf)
        .arg("--out")
        .arg(dir.path().join("s.toml"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&import.stderr);
    assert!(!import.status.success());
    assert!(
        stderr.contains(&format!(
            "{}:2: http_access: ACL \"SSL_porst\" is not defined",
            conf.display()
        )),
        "{stderr}"
    );
    std::fs::write(&conf, "include squid.conf\n").unwrap();
    let looped = egresslab()
        .arg("import")
        .arg(&conf)
        .arg("--out")
        .arg(dir.path().join("s.toml"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&looped.stderr);
    assert!(!looped.status.success());
    assert!(stderr.contains("include nested deeper than 16"), "{stderr}");
}
