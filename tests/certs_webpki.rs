//! Every profile checked by rustls-webpki at a fixed time: the intended error or success.

mod common;

use common::certs::{anchor_for, fixed_now, webpki_verify};
use egresslab_certs::{CaRole, Factory, FactoryOptions, Profile};

const HOST: &str = "tenant.msappproxy.net";

/// What webpki must say about a profile, as the server (or client) usage its role implies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Ok,
    Expired,
    NotYetValid,
    WrongName,
    UnknownIssuer,
    EkuMissing,
    Revoked,
}

fn expectation(profile: Profile) -> Expect {
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
        | Profile::ConnectorClient => Expect::Ok,
        // webpki does not judge the strength of an end-entity key; only OpenSSL's
        // security level does (see real_openssl_certs.rs).
        Profile::WeakKey => Expect::Ok,
        Profile::Expired => Expect::Expired,
        Profile::NotYetValid => Expect::NotYetValid,
        Profile::WrongHost | Profile::NoSan => Expect::WrongName,
        Profile::SelfSigned | Profile::UntrustedRoot | Profile::IncompleteChain => {
            Expect::UnknownIssuer
        }
        Profile::NoServerAuth => Expect::EkuMissing,
        Profile::Revoked => Expect::Revoked,
    }
}

fn classify(result: &Result<(), webpki::Error>) -> Option<Expect> {
    use webpki::Error as E;
    Some(match result {
        Ok(()) => Expect::Ok,
        Err(E::CertExpired { .. }) => Expect::Expired,
        Err(E::CertNotValidYet { .. }) => Expect::NotYetValid,
        Err(E::CertNotValidForName(_)) => Expect::WrongName,
        Err(E::UnknownIssuer) => Expect::UnknownIssuer,
        Err(E::RequiredEkuNotFoundContext(_)) => Expect::EkuMissing,
        Err(E::CertRevoked) => Expect::Revoked,
        Err(_) => return None,
    })
}

#[test]
fn every_profile_fails_or_passes_webpki_as_intended() {
    let factory = Factory::ephemeral().unwrap();
    let now = fixed_now();
    let hosts = vec![HOST.to_string()];
    let mut failures = Vec::new();
    for &profile in Profile::ALL {
        let minted = factory.mint(profile, &hosts).unwrap();
        let crl = factory.crl_der().unwrap();
        let anchor = anchor_for(&factory, profile);
        let host = (!profile.is_client()).then_some(HOST);
        let result = webpki_verify(&minted, &anchor, profile.is_client(), host, Some(&crl), now);
        let want = expectation(profile);
        if classify(&result) != Some(want) {
            failures.push(format!(
                "profile {profile}: expected {want:?}, webpki said {result:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn client_profiles_are_refused_as_server_certificates() {
    let factory = Factory::ephemeral().unwrap();
    let now = fixed_now();
    for profile in [
        Profile::ClientAuth,
        Profile::ConditionalAccess,
        Profile::IkeMachine,
    ] {
        let minted = factory.mint(profile, &[HOST.to_string()]).unwrap();
        let anchor = anchor_for(&factory, profile);
        let result = webpki_verify(&minted, &anchor, false, None, None, now);
        assert_eq!(
            classify(&result),
            Some(Expect::EkuMissing),
            "profile {profile}: {result:?}"
        );
    }
}

#[test]
fn revoked_passes_without_a_crl() {
    let factory = Factory::ephemeral().unwrap();
    let minted = factory.mint(Profile::Revoked, &[HOST.to_string()]).unwrap();
    let anchor = anchor_for(&factory, Profile::Revoked);
    let result = webpki_verify(&minted, &anchor, false, Some(HOST), None, fixed_now());
    assert!(result.is_ok(), "{result:?}");
    // And a valid certificate passes the CRL check.
    let valid = factory.mint(Profile::Valid, &[HOST.to_string()]).unwrap();
    let crl = factory.crl_der().unwrap();
    let result = webpki_verify(&valid, &anchor, false, Some(HOST), Some(&crl), fixed_now());
    assert!(result.is_ok(), "{result:?}");
}

#[test]
fn wildcard_san_passes_the_name_constraints() {
    let factory = Factory::ephemeral().unwrap();
    let minted = factory
        .mint(Profile::Valid, &["*.msappproxy.net".to_string()])
        .unwrap();
    let anchor = anchor_for(&factory, Profile::Valid);
    let result = webpki_verify(&minted, &anchor, false, Some(HOST), None, fixed_now());
    assert!(result.is_ok(), "{result:?}");
    for ip in ["127.0.0.1", "::1", "localhost", "login.egresslab.test"] {
        let minted = factory.mint(Profile::Valid, &[ip.to_string()]).unwrap();
        let result = webpki_verify(&minted, &anchor, false, Some(ip), None, fixed_now());
        assert!(result.is_ok(), "{ip}: {result:?}");
    }
}

#[test]
fn name_constraints_refuse_foreign_hosts() {
    let factory = Factory::ephemeral().unwrap();
    let minted = factory
        .mint(Profile::Valid, &["www.example.org".to_string()])
        .unwrap();
    let anchor = anchor_for(&factory, Profile::Valid);
    let result = webpki_verify(
        &minted,
        &anchor,
        false,
        Some("www.example.org"),
        None,
        fixed_now(),
    );
    assert!(
        matches!(result, Err(webpki::Error::NameConstraintViolation)),
        "{result:?}"
    );
    // Without constraints the same certificate is fine.
    let open = Factory::ephemeral_with(&FactoryOptions::unconstrained()).unwrap();
    let minted = open
        .mint(Profile::Valid, &["www.example.org".to_string()])
        .unwrap();
    let anchor = open.authority(CaRole::Lab).cert_der().clone();
    let result = webpki_verify(
        &minted,
        &anchor,
        false,
        Some("www.example.org"),
        None,
        fixed_now(),
    );
    assert!(result.is_ok(), "{result:?}");
}

#[test]
fn inspection_fast_path_issues_trusted_server_leaves() {
    let factory = Factory::ephemeral().unwrap();
    let inspection = factory.authority(CaRole::Inspection);
    let minted = inspection.issue_server_leaf("www.example.org").unwrap();
    assert_eq!(minted.served_chain.len(), 1);
    let result = webpki_verify(
        &minted,
        inspection.cert_der(),
        false,
        Some("www.example.org"),
        None,
        fixed_now(),
    );
    assert!(result.is_ok(), "{result:?}");
    let info = minted.info().unwrap();
    assert_eq!(info.key_type, "ECDSA P-256");
    assert_eq!(
        info.issuer_common_name.as_deref(),
        Some(inspection.common_name())
    );
}

/// An untrusted-root server sends a chain as real servers do ([leaf, its intermediate]), and the
/// connector's client certificate is SHA-512-signed, chaining through the registration CA's RSA
/// intermediate to that CA.
#[test]
fn untrusted_root_and_connector_client_serve_their_intermediates() {
    let factory = Factory::ephemeral().unwrap();
    let hosts = [HOST.to_string()];
    let untrusted = factory.mint(Profile::UntrustedRoot, &hosts).unwrap();
    assert_eq!(untrusted.served_chain.len(), 2);
    let info = untrusted.info().unwrap();
    assert_eq!(
        info.issuer_common_name.as_deref(),
        Some("egresslab Untrusted Issuing CA")
    );
    let connector = factory.mint(Profile::ConnectorClient, &hosts).unwrap();
    assert_eq!(connector.served_chain.len(), 2);
    let info = connector.info().unwrap();
    assert!(
        info.signature_algorithm
            .to_ascii_lowercase()
            .contains("sha512"),
        "{}",
        info.signature_algorithm
    );
    let anchor = anchor_for(&factory, Profile::ConnectorClient);
    assert!(webpki_verify(&connector, &anchor, true, None, None, fixed_now()).is_ok());
}
