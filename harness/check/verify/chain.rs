//! Judging a presented chain against the client's roots with rustls-webpki, giving the exact reason.
//!
//! Incomplete-chain rule: webpki says "unknown issuer" for what the server sent, and the same chain
//! verifies once the intermediates the client already knows (its intermediate store, what AIA fetching
//! would bring) are added: the server withheld an intermediate. A chain that still ends in an unknown
//! issuer is an untrusted root (a leaf alone cannot tell a missing intermediate from a missing root, so
//! the incomplete verdict needs that proof); a self-issued leaf is self-signed.

use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use webpki::{
    CertRevocationList, EndEntityCert, KeyUsage, OwnedCertRevocationList, RevocationCheckDepth,
    RevocationOptionsBuilder, UnknownStatusPolicy,
};

use super::certinfo::{self, CertFacts};
use crate::check::codes;
use crate::check::config::ClientConfig;
use crate::check::finding::{Code, Finding};
use crate::check::transport::tls;

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

/// The certificates a client judges a chain with: its roots and the intermediates it already knows.
#[derive(Debug, Clone, Copy)]
pub struct Trust<'a> {
    /// Trusted roots.
    pub roots: &'a [CertificateDer<'static>],
    /// Known intermediates (never trusted by themselves; only used to build paths).
    pub intermediates: &'a [CertificateDer<'static>],
}

impl<'a> Trust<'a> {
    /// The roots and intermediates of a client configuration.
    pub fn of(config: &'a ClientConfig) -> Self {
        Trust {
            roots: &config.trust,
            intermediates: &config.intermediates,
        }
    }
}

/// Verify `chain` (leaf first) for `host` against the client's roots, with CRLs when given.
pub fn verify(
    trust: Trust<'_>,
    host: &str,
    chain: &[CertificateDer<'static>],
    crls: &[OwnedCertRevocationList],
) -> Verdict {
    let Some(leaf) = chain.first() else {
        return Verdict::Other("no certificate presented".into());
    };
    let ee = match EndEntityCert::try_from(leaf) {
        Ok(ee) => ee,
        Err(e) => return Verdict::Other(format!("leaf does not parse: {e}")),
    };
    let result = verify_path(&ee, trust.roots, &chain[1..], crls);
    let facts = certinfo::facts(leaf);
    if let Err(e) = result {
        return match e {
            webpki::Error::CertExpired { .. } => Verdict::Expired,
            webpki::Error::CertNotValidYet { .. } => Verdict::NotYetValid,
            webpki::Error::RequiredEkuNotFoundContext(_) => Verdict::NoServerAuth,
            webpki::Error::CertRevoked => Verdict::Revoked,
            webpki::Error::UnknownIssuer => unknown_issuer(&ee, trust, chain, facts.as_ref()),
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

fn verify_path(
    ee: &EndEntityCert<'_>,
    roots: &[CertificateDer<'static>],
    intermediates: &[CertificateDer<'static>],
    crls: &[OwnedCertRevocationList],
) -> Result<(), webpki::Error> {
    let anchors: Vec<_> = roots
        .iter()
        .filter_map(|c| webpki::anchor_from_trusted_cert(c).ok())
        .collect();
    let provider = tls::provider();
    let lists: Vec<CertRevocationList<'_>> =
        crls.iter().cloned().map(CertRevocationList::from).collect();
    let refs: Vec<&CertRevocationList<'_>> = lists.iter().collect();
    let revocation = RevocationOptionsBuilder::new(&refs).ok().map(|b| {
        b.with_depth(RevocationCheckDepth::EndEntity)
            .with_status_policy(UnknownStatusPolicy::Allow)
            .build()
    });
    ee.verify_for_usage(
        provider.signature_verification_algorithms.all,
        &anchors,
        intermediates,
        UnixTime::now(),
        KeyUsage::server_auth(),
        revocation,
        None,
    )
    .map(|_| ())
}

fn unknown_issuer(
    ee: &EndEntityCert<'_>,
    trust: Trust<'_>,
    chain: &[CertificateDer<'static>],
    leaf: Option<&CertFacts>,
) -> Verdict {
    if leaf.is_some_and(|l| l.self_issued) {
        return Verdict::SelfSigned;
    }
    if trust.intermediates.is_empty() {
        return Verdict::UntrustedRoot;
    }
    let mut completed: Vec<CertificateDer<'static>> = chain[1..].to_vec();
    completed.extend(trust.intermediates.iter().cloned());
    // Any answer other than "unknown issuer" means the known intermediates complete the path: what is
    // wrong is that the server did not send them.
    match verify_path(ee, trust.roots, &completed, &[]) {
        Err(webpki::Error::UnknownIssuer) => Verdict::UntrustedRoot,
        _ => Verdict::Incomplete,
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
        Verdict::Revoked => (codes::PKI_REVOKED, format!("the certificate of {target} is revoked (its CRL or OCSP responder says so; see the evidence)")),
        Verdict::Other(e) => (codes::PKI_CHAIN_INVALID, format!("the chain of {target} is invalid: {e}")),
    };
    Finding::new(code, target, summary)
}
