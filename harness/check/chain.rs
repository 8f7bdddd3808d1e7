//! Judging a presented chain against the client's roots with rustls-webpki, giving the exact reason.
//!
//! Incomplete-chain rule: webpki says "unknown issuer", the server sent only its own certificate, the
//! leaf is not self-issued, the client has roots, and the leaf's issuer is none of them. A longer chain
//! that still ends in an unknown issuer is an untrusted root; a self-issued leaf is self-signed.

use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use webpki::{
    CertRevocationList, EndEntityCert, KeyUsage, OwnedCertRevocationList, RevocationCheckDepth,
    RevocationOptionsBuilder, UnknownStatusPolicy,
};

use super::certinfo::{self, CertFacts};
use super::codes;
use super::config::ClientConfig;
use super::finding::{Code, Finding};

/// Why a chain is not acceptable, or that it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Valid for the name, server auth, now.
    Ok,
    /// A certificate is expired.
    Expired,
    /// A certificate is not yet valid.
    NotYetValid,
    /// The name does not match (names the certificate carries).
    NameMismatch(Vec<String>),
    /// The chain ends in a root the client does not trust.
    UntrustedRoot,
    /// A self-signed leaf the client does not trust.
    SelfSigned,
    /// Only the leaf was sent and its issuer is unknown.
    Incomplete,
    /// Server Authentication EKU missing.
    NoServerAuth,
    /// Revoked by its CRL.
    Revoked,
    /// Something else (the verifier's error).
    Other(String),
}

/// Verify `chain` (leaf first) for `host` against the client's roots, with CRLs when given.
pub fn verify(
    trust: &[CertificateDer<'static>],
    host: &str,
    chain: &[CertificateDer<'static>],
    crls: &[OwnedCertRevocationList],
) -> Verdict {
    let Some(leaf) = chain.first() else {
        return Verdict::Other("no certificate presented".into());
    };
    let anchors: Vec<_> = trust
        .iter()
        .filter_map(|c| webpki::anchor_from_trusted_cert(c).ok())
        .collect();
    let ee = match EndEntityCert::try_from(leaf) {
        Ok(ee) => ee,
        Err(e) => return Verdict::Other(format!("leaf does not parse: {e}")),
    };
    let provider = super::tls::provider();
    let lists: Vec<CertRevocationList<'_>> =
        crls.iter().cloned().map(CertRevocationList::from).collect();
    let refs: Vec<&CertRevocationList<'_>> = lists.iter().collect();
    let revocation = RevocationOptionsBuilder::new(&refs).ok().map(|b| {
        b.with_depth(RevocationCheckDepth::EndEntity)
            .with_status_policy(UnknownStatusPolicy::Allow)
            .build()
    });
    let result = ee.verify_for_usage(
        provider.signature_verification_algorithms.all,
        &anchors,
        &chain[1..],
        UnixTime::now(),
        KeyUsage::server_auth(),
        revocation,
        None,
    );
    let facts = certinfo::facts(leaf);
    if let Err(e) = result {
        return match e {
            webpki::Error::CertExpired { .. } => Verdict::Expired,
            webpki::Error::CertNotValidYet { .. } => Verdict::NotYetValid,
            webpki::Error::RequiredEkuNotFoundContext(_) => Verdict::NoServerAuth,
            webpki::Error::CertRevoked => Verdict::Revoked,
            webpki::Error::UnknownIssuer => unknown_issuer(trust, chain, facts.as_ref()),
            #[allow(deprecated)]
            webpki::Error::RequiredEkuNotFound => Verdict::NoServerAuth,
            other => Verdict::Other(other.to_string()),
        };
    }
    let name = match ServerName::try_from(host.trim_matches(['[', ']'])) {
        Ok(n) => n,
        Err(e) => return Verdict::Other(format!("bad host name {host}: {e}")),
    };
    match ee.verify_is_valid_for_subject_name(&name) {
        Ok(()) => Verdict::Ok,
        Err(_) => Verdict::NameMismatch(facts.map(|f| f.dns_names).unwrap_or_default()),
    }
}

fn unknown_issuer(
    trust: &[CertificateDer<'static>],
    chain: &[CertificateDer<'static>],
    leaf: Option<&CertFacts>,
) -> Verdict {
    let Some(leaf) = leaf else {
        return Verdict::UntrustedRoot;
    };
    if leaf.self_issued {
        return Verdict::SelfSigned;
    }
    let issuer_is_root = trust
        .iter()
        .filter_map(|c| certinfo::facts(c))
        .any(|r| r.subject == leaf.issuer);
    if chain.len() == 1 && !trust.is_empty() && !issuer_is_root {
        Verdict::Incomplete
    } else {
        Verdict::UntrustedRoot
    }
}

/// Whether the leaf's issuer is one the client expects (always true when it expects none).
pub fn issuer_expected(config: &ClientConfig, leaf: &CertFacts) -> bool {
    if config.expected_issuers.is_empty() {
        return true;
    }
    config.expected_issuers.iter().any(|e| {
        leaf.issuer_cn
            .as_deref()
            .is_some_and(|cn| cn.eq_ignore_ascii_case(e))
            || leaf.issuer.eq_ignore_ascii_case(e)
    })
}

/// The pki.* code and a summary for a verdict about `target`.
pub fn pki_finding(target: &str, verdict: &Verdict, leaf: Option<&CertFacts>) -> Finding {
    let issuer = leaf.map(|l| l.issuer.clone()).unwrap_or_default();
    let (code, summary): (Code, String) = match verdict {
        Verdict::Ok => (codes::PKI_CHAIN_OK, format!("the chain of {target} is valid (issuer {issuer})")),
        Verdict::Expired => (
            codes::PKI_EXPIRED,
            format!("a certificate of {target} is expired (leaf not after {})", leaf.map(|l| certinfo::rfc3339(l.not_after)).unwrap_or_default()),
        ),
        Verdict::NotYetValid => (
            codes::PKI_NOT_YET_VALID,
            format!("a certificate of {target} is not yet valid (leaf not before {})", leaf.map(|l| certinfo::rfc3339(l.not_before)).unwrap_or_default()),
        ),
        Verdict::NameMismatch(names) => (codes::PKI_NAME_MISMATCH, format!("the certificate of {target} is for {}, not for this name", names.join(", "))),
        Verdict::UntrustedRoot => (codes::PKI_UNTRUSTED_ROOT, format!("the chain of {target} ends in a root the client does not trust (issuer {issuer})")),
        Verdict::SelfSigned => (codes::PKI_SELF_SIGNED, format!("{target} presents a self-signed certificate ({issuer})")),
        Verdict::Incomplete => (codes::PKI_INCOMPLETE_CHAIN, format!("{target} sent only its own certificate; its issuer {issuer} is not among the client's roots (intermediate missing)")),
        Verdict::NoServerAuth => (codes::PKI_MISSING_SERVER_AUTH_EKU, format!("the certificate of {target} lacks the Server Authentication EKU")),
        Verdict::Revoked => (codes::PKI_REVOKED, format!("the certificate of {target} is revoked by its CRL")),
        Verdict::Other(e) => (codes::PKI_CHAIN_INVALID, format!("the chain of {target} is invalid: {e}")),
    };
    Finding::new(code, target, summary)
}
