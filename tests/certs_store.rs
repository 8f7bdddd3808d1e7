//! Persisted lab CAs: reused across opens, keys owner-only, corruption reported by path.

mod common;

use std::os::unix::fs::PermissionsExt;

use common::certs::{fixed_now, webpki_verify};
use egresslab_certs::{CaRole, CertError, Factory, Profile};

#[test]
fn opening_twice_reuses_the_same_authorities() {
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca");
    let first = Factory::open(&ca).unwrap();
    let second = Factory::open(&ca).unwrap();
    let dir_mode = std::fs::metadata(&ca).unwrap().permissions().mode() & 0o777;
    assert_eq!(dir_mode, 0o700, "the CA folder is owner-only");
    for role in CaRole::ALL {
        let a = egresslab_certs::inspect(first.authority(*role).cert_der()).unwrap();
        let b = egresslab_certs::inspect(second.authority(*role).cert_der()).unwrap();
        assert_eq!(a.thumbprint_sha1, b.thumbprint_sha1, "role {role}");
        let key = ca.join(format!("{}.key", role.name()));
        let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", key.display());
    }
    assert_eq!(
        second
            .authority(CaRole::ConnectorRegistration)
            .common_name(),
        "connectorregistrationca.msappproxy.net"
    );
    // A leaf minted by the reopened factory chains to the root created by the first.
    let minted = second
        .mint(Profile::Valid, &["app.msappproxy.net".to_string()])
        .unwrap();
    let anchor = first.authority(CaRole::Lab).cert_der();
    let result = webpki_verify(
        &minted,
        anchor,
        false,
        Some("app.msappproxy.net"),
        None,
        fixed_now(),
    );
    assert!(result.is_ok(), "{result:?}");
    // And the reopened intermediate still signs a CRL webpki accepts.
    let revoked = second
        .mint(Profile::Revoked, &["app.msappproxy.net".to_string()])
        .unwrap();
    let crl = second.crl_der().unwrap();
    let result = webpki_verify(&revoked, anchor, false, None, Some(&crl), fixed_now());
    assert!(
        matches!(result, Err(webpki::Error::CertRevoked)),
        "{result:?}"
    );
}

#[test]
fn a_corrupt_certificate_is_named_not_regenerated() {
    let dir = tempfile::tempdir().unwrap();
    Factory::open(dir.path()).unwrap();
    let cert = dir.path().join("lab.pem");
    std::fs::write(
        &cert,
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    match Factory::open(dir.path()) {
        Err(CertError::CorruptFile { path, .. }) => assert_eq!(path, cert),
        other => panic!("expected CorruptFile for lab.pem, got {other:?}"),
    }
    let err = Factory::open(dir.path()).unwrap_err().to_string();
    assert!(err.contains("lab.pem"), "{err}");
    // The file was left alone.
    assert!(std::fs::read_to_string(&cert).unwrap().contains("AAAA"));
}

#[test]
fn a_corrupt_or_mismatched_key_is_named() {
    let dir = tempfile::tempdir().unwrap();
    Factory::open(dir.path()).unwrap();
    let key = dir.path().join("intermediate.key");
    std::fs::write(&key, "not a key").unwrap();
    match Factory::open(dir.path()) {
        Err(CertError::CorruptFile { path, .. }) => assert_eq!(path, key),
        other => panic!("expected CorruptFile for intermediate.key, got {other:?}"),
    }
    // Another CA's key in the file is a mismatch, also reported.
    std::fs::copy(dir.path().join("lab.key"), &key).unwrap();
    match Factory::open(dir.path()) {
        Err(CertError::CorruptFile { path, reason, .. }) => {
            assert_eq!(path, key);
            assert!(reason.contains("does not match"), "{reason}");
        }
        other => panic!("expected a key mismatch, got {other:?}"),
    }
}

#[test]
fn a_partial_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    Factory::open(dir.path()).unwrap();
    let gone = dir.path().join("untrusted.key");
    std::fs::remove_file(&gone).unwrap();
    match Factory::open(dir.path()) {
        Err(CertError::IncompleteStore { missing }) => assert_eq!(missing, gone),
        other => panic!("expected IncompleteStore, got {other:?}"),
    }
}

#[test]
fn an_unusable_directory_is_an_error_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plain-file");
    std::fs::write(&file, "x").unwrap();
    let ca = file.join("ca");
    match Factory::open(&ca) {
        Err(CertError::Unreadable { path, .. }) => assert!(path.starts_with(&file), "{path:?}"),
        other => panic!("expected Unreadable, got {other:?}"),
    }
}
