//! The `egresslab certs` subcommand, driven as a process.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

use egresslab_certs::Profile;

fn egresslab(args: &[&str], ca_dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_egresslab"))
        .args(args)
        .env("EGRESSLAB_CA_DIR", ca_dir)
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn profiles_lists_every_profile_with_its_defect() {
    let dir = tempfile::tempdir().unwrap();
    let out = egresslab(&["certs", "profiles"], dir.path());
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    for p in Profile::ALL {
        let line = text
            .lines()
            .find(|l| l.split_whitespace().next() == Some(p.name()))
            .unwrap_or_else(|| panic!("profile {p} missing:\n{text}"));
        assert!(line.contains(p.defect()), "profile {p}: {line}");
    }
}

#[test]
fn mint_writes_the_files_and_inspect_reads_them_back() {
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca");
    let out_dir = dir.path().join("out");
    let out = egresslab(
        &[
            "certs",
            "mint",
            "client-auth",
            "--host",
            "machine.egresslab.test",
            "--out",
            out_dir.to_str().unwrap(),
            "--pfx-password",
            "pw1",
        ],
        &ca,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    for f in [
        "leaf.pem",
        "chain.pem",
        "key.pem",
        "leaf.cer",
        "leaf.pfx",
        "root.pem",
    ] {
        assert!(out_dir.join(f).is_file(), "{f} not written");
    }
    let mode = std::fs::metadata(out_dir.join("key.pem"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let dir_mode = std::fs::metadata(&out_dir).unwrap().permissions().mode();
    assert_eq!(
        dir_mode & 0o777,
        0o700,
        "the folder holding the key is owner-only"
    );
    assert!(
        text.contains("Client Authentication (1.3.6.1.5.5.7.3.2)"),
        "{text}"
    );
    let info = &egresslab_certs::inspect_file(&out_dir.join("leaf.cer"), None).unwrap()[0];
    assert!(text.contains(&info.thumbprint_sha1), "{text}");
    // The CA came from the env-configured directory.
    assert!(ca.join("lab.key").is_file());

    let pfx = out_dir.join("leaf.pfx");
    let out = egresslab(
        &[
            "certs",
            "inspect",
            pfx.to_str().unwrap(),
            "--password",
            "pw1",
        ],
        &ca,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains(&info.thumbprint_sha1));
    assert!(
        stdout(&out).contains("certificate 1 of 3"),
        "{}",
        stdout(&out)
    );

    let out = egresslab(
        &[
            "certs",
            "inspect",
            pfx.to_str().unwrap(),
            "--password",
            "nope",
        ],
        &ca,
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("PKCS#12"), "{}", stderr(&out));

    let chain = out_dir.join("chain.pem");
    let out = egresslab(&["certs", "inspect", chain.to_str().unwrap()], &ca);
    assert!(
        stdout(&out).contains("certificate 2 of 2"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn ca_reports_the_directory_thumbprint_and_trust_steps() {
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca");
    let out = egresslab(
        &["certs", "ca", "--ca-dir", ca.to_str().unwrap()],
        dir.path(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let lab = egresslab_certs::inspect_file(&ca.join("lab.pem"), None).unwrap();
    assert!(text.contains(&lab[0].thumbprint_sha1), "{text}");
    assert!(text.contains(ca.to_str().unwrap()), "{text}");
    assert!(text.contains("update-ca-certificates"), "{text}");
    assert!(text.contains("certutil -addstore"), "{text}");
    assert!(
        text.contains("connectorregistrationca.msappproxy.net"),
        "{text}"
    );
    // A second run reuses the same root.
    let again = stdout(&egresslab(
        &["certs", "ca", "--ca-dir", ca.to_str().unwrap()],
        dir.path(),
    ));
    assert!(again.contains(&lab[0].thumbprint_sha1));
}

#[test]
fn errors_teach_what_was_expected() {
    let dir = tempfile::tempdir().unwrap();
    let out = egresslab(
        &["certs", "mint", "bogus", "--host", "a.egresslab.test"],
        dir.path(),
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("not-yet-valid"), "{}", stderr(&out));
    std::fs::write(dir.path().join("lab.pem"), "garbage").unwrap();
    let out = egresslab(&["certs", "ca"], dir.path());
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("lab.pem") || stderr(&out).contains("missing"),
        "{}",
        stderr(&out)
    );
    let help = egresslab(&["certs", "mint", "--help"], dir.path());
    assert!(stdout(&help).contains("key.pem"), "{}", stdout(&help));
}

/// Issue 20, break 8: processes that create one CA folder at once all end up with the same root, the
/// one on disk; before, each minted its own and one of them was lost.
#[test]
fn concurrent_processes_agree_on_one_ca() {
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca");
    let children: Vec<std::process::Child> = (0..6)
        .map(|_| {
            Command::new(env!("CARGO_BIN_EXE_egresslab"))
                .args(["certs", "ca", "--ca-dir", ca.to_str().unwrap()])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let outputs: Vec<Output> = children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    let on_disk = egresslab_certs::inspect_file(&ca.join("lab.pem"), None).unwrap();
    for out in &outputs {
        assert!(out.status.success(), "{}", stderr(out));
        assert!(
            stdout(out).contains(&on_disk[0].thumbprint_sha1),
            "a process printed another root than the one on disk:\n{}",
            stdout(out)
        );
    }
}
