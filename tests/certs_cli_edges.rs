//! The edges of `egresslab certs` found in issue 15, driven as a process and checked with OpenSSL:
//! `inspect leaf.pfx` opens what `mint` wrote (the mint default password tried, a wrong one named
//! with what to do), junk in a `.pem` file is a PEM problem, and `mint` warns when a host is outside
//! the lab root's name constraints — which `openssl verify` confirms.

use std::path::Path;
use std::process::{Command, Output};

mod common;

use common::bin::described as text;

fn egresslab(args: &[&str], ca_dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_egresslab"))
        .env_remove("EGRESSLAB_PFX_PASSWORD")
        .env("EGRESSLAB_CA_DIR", ca_dir)
        .args(args)
        .output()
        .expect("egresslab runs")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn mint(ca: &Path, out: &Path, host: &str, more: &[&str]) -> Output {
    let mut args = vec![
        "certs",
        "mint",
        "valid",
        "--host",
        host,
        "--out",
        out.to_str().expect("utf-8"),
    ];
    args.extend_from_slice(more);
    egresslab(&args, ca)
}

fn thumbprint(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("thumbprint: "))
        .unwrap_or_else(|| panic!("no thumbprint: {}", text(out)))
        .to_owned()
}

#[test]
fn inspect_opens_the_pfx_mint_wrote_and_names_a_wrong_password() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = dir.path().join("ca");
    let (default, custom) = (dir.path().join("default"), dir.path().join("custom"));
    let minted = mint(&ca, &default, "site.egresslab.test", &[]);
    assert!(minted.status.success(), "{}", text(&minted));
    let pfx = default.join("leaf.pfx");
    let leaf = egresslab(
        &[
            "certs",
            "inspect",
            default.join("leaf.pem").to_str().unwrap(),
        ],
        &ca,
    );
    assert!(leaf.status.success(), "{}", text(&leaf));

    // No --password: the mint default is tried, as OpenSSL opens it with that password.
    let out = egresslab(&["certs", "inspect", pfx.to_str().unwrap()], &ca);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(thumbprint(&out), thumbprint(&leaf));
    let openssl = Command::new("openssl")
        .args(["pkcs12", "-nokeys", "-passin", "pass:egresslab", "-in"])
        .arg(&pfx)
        .output()
        .expect("openssl runs");
    assert!(openssl.status.success(), "{}", text(&openssl));

    // A file protected by another password: named, with what to do; then opened by flag and env.
    let minted = mint(
        &ca,
        &custom,
        "site.egresslab.test",
        &["--pfx-password", "s3cret"],
    );
    assert!(minted.status.success(), "{}", text(&minted));
    let pfx = custom.join("leaf.pfx");
    let out = egresslab(&["certs", "inspect", pfx.to_str().unwrap()], &ca);
    assert!(!out.status.success(), "{}", text(&out));
    let said = stderr(&out);
    assert!(said.contains("wrong PKCS#12 password"), "{said}");
    assert!(said.contains("--password"), "{said}");
    assert!(said.contains(&pfx.display().to_string()), "{said}");
    assert!(!said.contains("MAC tag mismatch"), "{said}");
    let by_flag = egresslab(
        &[
            "certs",
            "inspect",
            pfx.to_str().unwrap(),
            "--password",
            "s3cret",
        ],
        &ca,
    );
    assert!(by_flag.status.success(), "{}", text(&by_flag));
    let by_env = Command::new(env!("CARGO_BIN_EXE_egresslab"))
        .env("EGRESSLAB_CA_DIR", &ca)
        .env("EGRESSLAB_PFX_PASSWORD", "s3cret")
        .args(["certs", "inspect"])
        .arg(&pfx)
        .output()
        .expect("egresslab runs");
    assert!(by_env.status.success(), "{}", text(&by_env));
    assert_eq!(thumbprint(&by_flag), thumbprint(&by_env));
}

#[test]
fn junk_in_a_pem_file_is_a_pem_problem() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = dir.path().join("ca");
    let cases: [(&str, &[u8], &str); 3] = [
        (
            "junk.pem",
            b"this is not a certificate at all\n",
            "no \"-----BEGIN\" line",
        ),
        // Starts as DER would (a SEQUENCE) but is named .pem: still a PEM problem.
        (
            "binary.pem",
            &[0x30, 0x82, 0x01, 0x00, 0xde, 0xad],
            "no \"-----BEGIN\" line",
        ),
        (
            "damaged.pem",
            b"-----BEGIN CERTIFICATE-----\n!!!! not base64 !!!!\n-----END CERTIFICATE-----\n",
            "damaged",
        ),
    ];
    for (name, bytes, expected) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).expect("write");
        let out = egresslab(&["certs", "inspect", path.to_str().unwrap()], &ca);
        assert!(!out.status.success(), "{name}: {}", text(&out));
        let said = stderr(&out);
        assert!(
            said.contains("is not a PEM certificate file"),
            "{name}: {said}"
        );
        assert!(said.contains(expected), "{name}: {said}");
        assert!(said.contains(name), "{name}: {said}");
        assert!(!said.contains("PKCS#12"), "{name}: {said}");
        assert!(!said.contains("panicked"), "{name}: {said}");
    }
    // Text junk without the .pem name is reported as PEM too: only DER-shaped bytes are PKCS#12.
    let path = dir.path().join("notes.txt");
    std::fs::write(&path, "hello\n").expect("write");
    let out = egresslab(&["certs", "inspect", path.to_str().unwrap()], &ca);
    assert!(
        stderr(&out).contains("is not a PEM certificate file"),
        "{}",
        text(&out)
    );
}

/// `openssl verify` of a minted leaf against its own root.pem and chain.pem.
fn openssl_verify(out_dir: &Path) -> Output {
    Command::new("openssl")
        .arg("verify")
        .arg("-CAfile")
        .arg(out_dir.join("root.pem"))
        .arg("-untrusted")
        .arg(out_dir.join("chain.pem"))
        .arg(out_dir.join("leaf.pem"))
        .output()
        .expect("openssl runs")
}

#[test]
fn mint_warns_when_a_host_is_outside_the_lab_roots_constraints() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = dir.path().join("ca");

    let outside = dir.path().join("outside");
    let out = mint(&ca, &outside, "www.example.org", &[]);
    assert!(out.status.success(), "{}", text(&out));
    let said = stderr(&out);
    assert!(
        said.contains("warning: www.example.org is outside the name constraints of the lab root"),
        "{said}"
    );
    assert!(
        said.contains(&ca.join("lab.pem").display().to_string()),
        "{said}"
    );
    assert!(said.contains("msappproxy.net"), "{said}");
    // The warning is true: OpenSSL refuses the chain for exactly that reason.
    let verify = openssl_verify(&outside);
    assert!(!verify.status.success(), "{}", text(&verify));
    assert!(
        text(&verify).contains("permitted subtree violation"),
        "{}",
        text(&verify)
    );

    // An IP outside 127.0.0.0/8 is warned about too; a lab name is not.
    let ip = dir.path().join("ip");
    let out = mint(&ca, &ip, "site.egresslab.test", &["--host", "10.1.2.3"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        stderr(&out).contains("10.1.2.3 is outside"),
        "{}",
        text(&out)
    );
    assert!(
        !stderr(&out).contains("site.egresslab.test is outside"),
        "{}",
        text(&out)
    );

    let inside = dir.path().join("inside");
    let out = mint(&ca, &inside, "login.microsoftonline.com", &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(!stderr(&out).contains("warning"), "{}", text(&out));
    let verify = openssl_verify(&inside);
    assert!(verify.status.success(), "{}", text(&verify));

    // A certificate that does not chain to the lab root is not the root's business.
    let own = dir.path().join("self-signed");
    let out = egresslab(
        &[
            "certs",
            "mint",
            "self-signed",
            "--host",
            "www.example.org",
            "--out",
            own.to_str().unwrap(),
        ],
        &ca,
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(!stderr(&out).contains("warning"), "{}", text(&out));
}
