//! The certificate fields the checks need: what the certificate factory's reader gives, plus the
//! revocation pointers (CRL distribution points, OCSP responders) read here.

use x509_parser::extensions::{DistributionPointName, GeneralName, ParsedExtension};
use x509_parser::prelude::{FromDer, X509Certificate};

pub use egresslab_certs::{EKU_AAD_CONDITIONAL_ACCESS, EKU_CLIENT_AUTH, EKU_SERVER_AUTH};

/// id-ad-ocsp: the access method of an OCSP responder in authority information access.
const OID_OCSP: &str = "1.3.6.1.5.5.7.48.1";

/// What the checks read from one certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertFacts {
    /// SHA-1 thumbprint, uppercase hex (as in TrustSettings.xml).
    pub thumbprint_sha1: String,
    /// Subject, RFC 4514 style.
    pub subject: String,
    /// Issuer, RFC 4514 style.
    pub issuer: String,
    /// Issuer common name, if any.
    pub issuer_cn: Option<String>,
    /// Subject common name, if any.
    pub subject_cn: Option<String>,
    /// Not before, seconds since the epoch.
    pub not_before: i64,
    /// Not after, seconds since the epoch.
    pub not_after: i64,
    /// EKU OIDs, dotted (empty when the extension is absent).
    pub ekus: Vec<String>,
    /// Whether an EKU extension is present.
    pub has_eku_extension: bool,
    /// DNS names in the SAN extension.
    pub dns_names: Vec<String>,
    /// Signature algorithm OID, dotted.
    pub signature_oid: String,
    /// HTTP CRL distribution point URLs.
    pub crl_urls: Vec<String>,
    /// HTTP OCSP responder URLs (authority information access).
    pub ocsp_urls: Vec<String>,
    /// Issuer equals subject.
    pub self_issued: bool,
}

impl CertFacts {
    /// Whether the certificate is signed with SHA-512 (RSA or ECDSA).
    pub fn sha512_signed(&self) -> bool {
        matches!(
            self.signature_oid.as_str(),
            "1.2.840.113549.1.1.13" | "1.2.840.10045.4.3.4"
        )
    }
    /// Whether the EKU list allows `oid` (an absent EKU extension allows everything).
    pub fn allows(&self, oid: &str) -> bool {
        !self.has_eku_extension || self.ekus.iter().any(|e| e == oid || e == "2.5.29.37.0")
    }
    /// Valid at `now` (seconds since the epoch).
    pub fn valid_at(&self, now: i64) -> bool {
        self.not_before <= now && now <= self.not_after
    }
}

/// Read the facts of a DER certificate; `None` when it does not parse. The fields the certificate
/// factory's reader already gives (thumbprint, names, validity, EKUs, SANs, signature) come from
/// [`egresslab_certs::inspect`]; only the revocation pointers are read here.
pub fn facts(der: &[u8]) -> Option<CertFacts> {
    let info = egresslab_certs::inspect(der).ok()?;
    let (crl_urls, ocsp_urls) = revocation_urls(der)?;
    let dns_names = info
        .sans
        .iter()
        .filter(|n| n.parse::<std::net::IpAddr>().is_err())
        .cloned()
        .collect();
    Some(CertFacts {
        thumbprint_sha1: info.thumbprint_sha1,
        self_issued: info.subject == info.issuer,
        subject: info.subject,
        issuer: info.issuer,
        issuer_cn: info.issuer_common_name,
        subject_cn: info.subject_common_name,
        not_before: info.not_before.unix_timestamp(),
        not_after: info.not_after.unix_timestamp(),
        // An EKU extension lists at least one purpose (RFC 5280), so an empty list means none.
        has_eku_extension: !info.ekus.is_empty(),
        ekus: info.ekus,
        dns_names,
        signature_oid: signature_oid(&info.signature_algorithm),
        crl_urls,
        ocsp_urls,
    })
}

/// The dotted OID of a signature algorithm named the way the factory's reader names it.
fn signature_oid(name: &str) -> String {
    match name {
        "sha1WithRSAEncryption" => "1.2.840.113549.1.1.5",
        "sha256WithRSAEncryption" => "1.2.840.113549.1.1.11",
        "sha384WithRSAEncryption" => "1.2.840.113549.1.1.12",
        "sha512WithRSAEncryption" => "1.2.840.113549.1.1.13",
        "rsassaPss" => "1.2.840.113549.1.1.10",
        "ecdsa-with-SHA256" => "1.2.840.10045.4.3.2",
        "ecdsa-with-SHA384" => "1.2.840.10045.4.3.3",
        "ecdsa-with-SHA512" => "1.2.840.10045.4.3.4",
        "ED25519" => "1.3.101.112",
        other => other,
    }
    .to_string()
}

/// HTTP CRL distribution points and OCSP responders of a certificate.
fn revocation_urls(der: &[u8]) -> Option<(Vec<String>, Vec<String>)> {
    let (_, cert) = X509Certificate::from_der(der).ok()?;
    let mut crl_urls = Vec::new();
    let mut ocsp_urls = Vec::new();
    for ext in cert.extensions() {
        match ext.parsed_extension() {
            ParsedExtension::CRLDistributionPoints(points) => {
                for p in points.iter() {
                    if let Some(DistributionPointName::FullName(names)) = &p.distribution_point {
                        for n in names {
                            if let GeneralName::URI(u) = n {
                                if u.starts_with("http://") {
                                    crl_urls.push(u.to_string());
                                }
                            }
                        }
                    }
                }
            }
            ParsedExtension::AuthorityInfoAccess(aia) => {
                for desc in aia.iter() {
                    if desc.access_method.to_id_string() != OID_OCSP {
                        continue;
                    }
                    if let GeneralName::URI(u) = &desc.access_location {
                        if u.starts_with("http://") {
                            ocsp_urls.push(u.to_string());
                        }
                    }
                }
            }
            _ => {}
        }
    }
    Some((crl_urls, ocsp_urls))
}

/// Seconds since the epoch, now.
pub fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// An RFC 3339 rendering of seconds since the epoch.
pub fn rfc3339(secs: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| secs.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use egresslab_certs::{CaRole, Factory, Profile, CRL_URL, OCSP_URL};

    #[test]
    fn facts_of_factory_certificates() {
        let factory = Factory::ephemeral().unwrap();
        let hosts = vec!["facts.egresslab.test".to_string(), "127.0.0.1".to_string()];
        let revoked = facts(factory.mint(Profile::Revoked, &hosts).unwrap().leaf()).unwrap();
        assert_eq!(revoked.crl_urls, vec![CRL_URL.to_string()]);
        assert_eq!(revoked.ocsp_urls, vec![OCSP_URL.to_string()]);
        assert_eq!(revoked.dns_names, vec!["facts.egresslab.test".to_string()]);
        assert!(revoked.allows(EKU_SERVER_AUTH) && !revoked.allows(EKU_CLIENT_AUTH));
        assert!(!revoked.sha512_signed() && !revoked.self_issued);
        assert_eq!(
            revoked.issuer_cn.as_deref(),
            Some("egresslab Lab Issuing CA")
        );
        let sha512 = facts(factory.mint(Profile::Sha512Rsa, &hosts).unwrap().leaf()).unwrap();
        assert!(sha512.sha512_signed() && sha512.crl_urls.is_empty());
        let own = facts(factory.mint(Profile::SelfSigned, &hosts).unwrap().leaf()).unwrap();
        assert!(own.self_issued);
        let ca = facts(factory.authority(CaRole::Intermediate).cert_der()).unwrap();
        assert!(!ca.has_eku_extension && ca.allows(EKU_CLIENT_AUTH));
        let ike = facts(factory.mint(Profile::IkeMachine, &hosts).unwrap().leaf()).unwrap();
        assert!(
            ike.has_eku_extension && ike.allows(EKU_CLIENT_AUTH) && !ike.allows(EKU_SERVER_AUTH)
        );
        assert!(facts(b"not a certificate").is_none());
    }
}
