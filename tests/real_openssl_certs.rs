//! Real-client conformance: `openssl verify`, `openssl pkcs12`, `openssl x509` and
//! `openssl ocsp` judge the factory's certificates, CRL, PKCS#12 exports and OCSP answers.

mod common;

use std::process::Command;

use common::certs::{anchor_for, openssl_verify, pem_of};
use egresslab_certs::{CaRole, Factory, Profile};

const HOST: &str = "tenant.msappproxy.net";

/// The `openssl verify` verdict a profile must produce: `None` for OK, or the error number.
fn expectation(profile: Profile) -> Option<u32> {
    match profile {
        Profile::Valid
        | Profile::Sha256
        | Profile::Sha384
        | Profile::Sha512Rsa
        | Profile::Sha512Ecdsa
        | Profile::LongChain
        | Profile::ClientAuth
        | Profile::ConditionalAccess
        | Profile::IkeMachine
        | Profile::ConnectorClient => None,
        // OpenSSL falls back to the subject CN when there is no DNS SAN.
        Profile::NoSan => None,
        Profile::Expired => Some(10),
        Profile::NotYetValid => Some(9),
        Profile::WrongHost => Some(62),
        Profile::SelfSigned => Some(18),
        Profile::UntrustedRoot | Profile::IncompleteChain => Some(20),
        Profile::NoServerAuth => Some(26),
        Profile::Revoked => Some(23),
        Profile::WeakKey => Some(66),
    }
}

fn run(args: &[&str], dir: &std::path::Path) -> (bool, String) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl must be installed (./test.sh installs it)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn every_profile_gets_the_intended_openssl_verdict() {
    let factory = Factory::ephemeral().unwrap();
    let hosts = vec![HOST.to_string()];
    let mut failures = Vec::new();
    for &profile in Profile::ALL {
        let dir = tempfile::tempdir().unwrap();
        let minted = factory.mint(profile, &hosts).unwrap();
        let crl = factory.crl_der().unwrap();
        std::fs::write(dir.path().join("crl.pem"), pem_of("X509 CRL", &[&crl])).unwrap();
        let mut args = vec!["-purpose"];
        if profile.is_client() {
            args.push("sslclient");
        } else {
            args.extend(["sslserver", "-verify_hostname", HOST]);
        }
        match profile {
            Profile::Revoked => args.extend(["-crl_check", "-CRLfile", "crl.pem"]),
            Profile::WeakKey => args.extend(["-auth_level", "2"]),
            _ => {}
        }
        let anchor = anchor_for(&factory, profile);
        let (ok, output) = openssl_verify(dir.path(), &minted, &anchor, &args);
        let verdict_ok = match expectation(profile) {
            None => ok && output.contains("leaf.pem: OK"),
            Some(n) => !ok && output.contains(&format!("error {n} at")),
        };
        if !verdict_ok {
            failures.push(format!(
                "profile {profile}: expected {:?} from `openssl verify {}`, got:\n{output}",
                expectation(profile),
                args.join(" ")
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn valid_passes_the_crl_check_and_weak_key_passes_level_one() {
    let factory = Factory::ephemeral().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let _revoked = factory.mint(Profile::Revoked, &[HOST.to_string()]).unwrap();
    let crl = factory.crl_der().unwrap();
    std::fs::write(dir.path().join("crl.pem"), pem_of("X509 CRL", &[&crl])).unwrap();
    let valid = factory.mint(Profile::Valid, &[HOST.to_string()]).unwrap();
    let anchor = anchor_for(&factory, Profile::Valid);
    let (ok, out) = openssl_verify(
        dir.path(),
        &valid,
        &anchor,
        &["-crl_check", "-CRLfile", "crl.pem"],
    );
    assert!(ok, "valid with CRL: {out}");
    let weak = factory.mint(Profile::WeakKey, &[HOST.to_string()]).unwrap();
    let (ok, out) = openssl_verify(dir.path(), &weak, &anchor, &["-auth_level", "1"]);
    assert!(ok, "weak key at level 1: {out}");
}

#[test]
fn client_profiles_are_unsuitable_for_sslserver() {
    let factory = Factory::ephemeral().unwrap();
    for profile in [
        Profile::ClientAuth,
        Profile::ConditionalAccess,
        Profile::IkeMachine,
    ] {
        let dir = tempfile::tempdir().unwrap();
        let minted = factory.mint(profile, &[HOST.to_string()]).unwrap();
        let anchor = anchor_for(&factory, profile);
        let (ok, out) = openssl_verify(dir.path(), &minted, &anchor, &["-purpose", "sslserver"]);
        assert!(
            !ok && out.contains("error 26 at"),
            "profile {profile}: {out}"
        );
    }
}

#[test]
fn name_constraints_stop_foreign_hosts_in_openssl() {
    let factory = Factory::ephemeral().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let minted = factory
        .mint(Profile::Valid, &["www.example.org".to_string()])
        .unwrap();
    let anchor = anchor_for(&factory, Profile::Valid);
    let (ok, out) = openssl_verify(dir.path(), &minted, &anchor, &["-purpose", "sslserver"]);
    assert!(!ok && out.contains("error 47 at"), "{out}");
    let wildcard = factory
        .mint(Profile::Valid, &["*.msappproxy.net".to_string()])
        .unwrap();
    let (ok, out) = openssl_verify(dir.path(), &wildcard, &anchor, &["-verify_hostname", HOST]);
    assert!(ok, "wildcard under the constraint: {out}");
}

#[test]
fn pkcs12_opens_with_the_password_and_thumbprints_match() {
    let factory = Factory::ephemeral().unwrap();
    for profile in [Profile::Valid, Profile::Sha512Rsa, Profile::ConnectorClient] {
        let dir = tempfile::tempdir().unwrap();
        let minted = factory.mint(profile, &[HOST.to_string()]).unwrap();
        let files = minted.write_to(dir.path(), "leaf", "s3cret pw").unwrap();
        let pfx = files.pfx.to_str().unwrap();
        let (ok, out) = run(
            &["pkcs12", "-in", pfx, "-passin", "pass:s3cret pw", "-nokeys"],
            dir.path(),
        );
        assert!(
            ok && out.contains("BEGIN CERTIFICATE"),
            "profile {profile}: {out}"
        );
        let (ok, out) = run(
            &[
                "pkcs12",
                "-in",
                pfx,
                "-passin",
                "pass:s3cret pw",
                "-nocerts",
                "-nodes",
            ],
            dir.path(),
        );
        assert!(
            ok && out.contains("PRIVATE KEY"),
            "profile {profile} key: {out}"
        );
        let (ok, out) = run(
            &["pkcs12", "-in", pfx, "-passin", "pass:wrong", "-nokeys"],
            dir.path(),
        );
        assert!(!ok, "profile {profile}: wrong password accepted: {out}");
        let (ok, out) = run(
            &[
                "x509",
                "-noout",
                "-fingerprint",
                "-sha1",
                "-in",
                files.leaf_pem.to_str().unwrap(),
            ],
            dir.path(),
        );
        assert!(ok, "{out}");
        let openssl_thumb = out.trim().rsplit('=').next().unwrap().replace(':', "");
        assert_eq!(
            openssl_thumb,
            minted.info().unwrap().thumbprint_sha1,
            "profile {profile}"
        );
        let from_pfx = egresslab_certs::inspect_file(&files.pfx, Some("s3cret pw")).unwrap();
        assert_eq!(
            from_pfx[0].thumbprint_sha1, openssl_thumb,
            "profile {profile}"
        );
        let der = egresslab_certs::inspect_file(&files.cer, None).unwrap();
        assert_eq!(der[0].thumbprint_sha1, openssl_thumb);
    }
}

#[test]
fn ocsp_answers_revoked_and_good_to_openssl() {
    let factory = Factory::ephemeral().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let intermediate = factory.authority(CaRole::Intermediate);
    std::fs::write(d.join("issuer.pem"), intermediate.cert_pem()).unwrap();
    std::fs::write(
        d.join("root.pem"),
        factory.authority(CaRole::Lab).cert_pem(),
    )
    .unwrap();
    let cases = [(Profile::Revoked, "revoked"), (Profile::Valid, "good")];
    for (profile, status) in cases {
        let minted = factory.mint(profile, &[HOST.to_string()]).unwrap();
        std::fs::write(d.join("leaf.pem"), minted.leaf_pem()).unwrap();
        let (ok, out) = run(
            &[
                "ocsp",
                "-issuer",
                "issuer.pem",
                "-cert",
                "leaf.pem",
                "-reqout",
                "req.der",
            ],
            d,
        );
        assert!(ok, "building the request: {out}");
        let request = std::fs::read(d.join("req.der")).unwrap();
        let response = factory.ocsp_response(&request).unwrap();
        std::fs::write(d.join("resp.der"), response).unwrap();
        // With the request: signature and echoed nonce are checked.
        let (ok, out) = run(
            &[
                "ocsp",
                "-respin",
                "resp.der",
                "-reqin",
                "req.der",
                "-issuer",
                "issuer.pem",
                "-CAfile",
                "root.pem",
                "-resp_text",
            ],
            d,
        );
        assert!(ok, "profile {profile}: {out}");
        assert!(
            out.contains("Response verify OK"),
            "profile {profile}: {out}"
        );
        assert!(
            !out.contains("Nonce Verify error"),
            "profile {profile}: {out}"
        );
        assert!(
            out.contains(&format!("Cert Status: {status}")),
            "profile {profile}: {out}"
        );
        // With the certificate: openssl matches the answer to it.
        let (ok, out) = run(
            &[
                "ocsp",
                "-respin",
                "resp.der",
                "-issuer",
                "issuer.pem",
                "-CAfile",
                "root.pem",
                "-cert",
                "leaf.pem",
                "-no_nonce",
            ],
            d,
        );
        assert!(ok, "profile {profile}: {out}");
        assert!(
            out.contains(&format!("leaf.pem: {status}")),
            "profile {profile}: {out}"
        );
    }
    // A serial the lab never issued is "unknown".
    let stranger = Factory::ephemeral().unwrap();
    let other = stranger.mint(Profile::Valid, &[HOST.to_string()]).unwrap();
    std::fs::write(d.join("other.pem"), other.leaf_pem()).unwrap();
    let (ok, out) = run(
        &[
            "ocsp",
            "-issuer",
            "issuer.pem",
            "-cert",
            "other.pem",
            "-reqout",
            "req2.der",
        ],
        d,
    );
    assert!(ok, "{out}");
    let response = factory
        .ocsp_response(&std::fs::read(d.join("req2.der")).unwrap())
        .unwrap();
    std::fs::write(d.join("resp2.der"), response).unwrap();
    let (_, out) = run(
        &[
            "ocsp",
            "-respin",
            "resp2.der",
            "-issuer",
            "issuer.pem",
            "-CAfile",
            "root.pem",
            "-cert",
            "other.pem",
            "-no_nonce",
        ],
        d,
    );
    assert!(out.contains("other.pem: unknown"), "{out}");
}
