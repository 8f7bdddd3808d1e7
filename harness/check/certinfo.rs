//! The certificate fields the checks need, read with x509-parser (until the certs crate's `inspect` is
//! merged in; the fields are the same).

use sha1::Digest as _;
use x509_parser::extensions::{DistributionPointName, GeneralName, ParsedExtension};
use x509_parser::prelude::{FromDer, X509Certificate};

/// Server Authentication EKU.
pub const EKU_SERVER_AUTH: &str = "1.3.6.1.5.5.7.3.1";
/// Client Authentication EKU.
pub const EKU_CLIENT_AUTH: &str = "1.3.6.1.5.5.7.3.2";
/// id-ad-ocsp: the access method of an OCSP responder in authority information access.
const OID_OCSP: &str = "1.3.6.1.5.5.7.48.1";
/// The "AAD Conditional Access" EKU of Always On VPN.
pub const EKU_AAD_CONDITIONAL_ACCESS: &str = "1.3.6.1.4.1.311.87";

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

/// Read the facts of a DER certificate; `None` when it does not parse.
pub fn facts(der: &[u8]) -> Option<CertFacts> {
    let (_, cert) = X509Certificate::from_der(der).ok()?;
    let cn = |name: &x509_parser::x509::X509Name<'_>| {
        name.iter_common_name()
            .next()
            .and_then(|a| a.as_str().ok())
            .map(str::to_string)
    };
    let mut ekus = Vec::new();
    let mut has_eku_extension = false;
    let mut dns_names = Vec::new();
    let mut crl_urls = Vec::new();
    let mut ocsp_urls = Vec::new();
    for ext in cert.extensions() {
        match ext.parsed_extension() {
            ParsedExtension::ExtendedKeyUsage(eku) => {
                has_eku_extension = true;
                if eku.server_auth {
                    ekus.push(EKU_SERVER_AUTH.to_string());
                }
                if eku.client_auth {
                    ekus.push(EKU_CLIENT_AUTH.to_string());
                }
                if eku.any {
                    ekus.push("2.5.29.37.0".to_string());
                }
                if eku.code_signing {
                    ekus.push("1.3.6.1.5.5.7.3.3".to_string());
                }
                if eku.email_protection {
                    ekus.push("1.3.6.1.5.5.7.3.4".to_string());
                }
                if eku.time_stamping {
                    ekus.push("1.3.6.1.5.5.7.3.8".to_string());
                }
                if eku.ocsp_signing {
                    ekus.push("1.3.6.1.5.5.7.3.9".to_string());
                }
                ekus.extend(eku.other.iter().map(|o| o.to_id_string()));
            }
            ParsedExtension::SubjectAlternativeName(san) => {
                for n in &san.general_names {
                    if let GeneralName::DNSName(d) = n {
                        dns_names.push(d.to_string());
                    }
                }
            }
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
    Some(CertFacts {
        thumbprint_sha1: hex::encode_upper(sha1::Sha1::digest(der)),
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        issuer_cn: cn(cert.issuer()),
        subject_cn: cn(cert.subject()),
        not_before: cert.validity().not_before.timestamp(),
        not_after: cert.validity().not_after.timestamp(),
        ekus,
        has_eku_extension,
        dns_names,
        signature_oid: cert.signature_algorithm.algorithm.to_id_string(),
        crl_urls,
        ocsp_urls,
        self_issued: cert.subject().as_raw() == cert.issuer().as_raw(),
    })
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
