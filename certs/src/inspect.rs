//! Reading certificates back: thumbprint, names, validity, EKUs, key and signature types.

use std::path::Path;

use ::time::OffsetDateTime;
use sha1::{Digest, Sha1};
use x509_parser::prelude::*;
use x509_parser::public_key::PublicKey;

use crate::CertError;

/// What a certificate says about itself, in the forms Windows and OpenSSL print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    /// SHA-1 of the DER, uppercase hex without separators (the TrustSettings.xml form).
    pub thumbprint_sha1: String,
    /// Subject distinguished name, RFC 4514 style.
    pub subject: String,
    /// Issuer distinguished name, RFC 4514 style.
    pub issuer: String,
    /// The issuer's common name, if it has one.
    pub issuer_common_name: Option<String>,
    /// The subject's common name, if it has one.
    pub subject_common_name: Option<String>,
    /// Serial number, uppercase hex without separators or leading zero bytes.
    pub serial: String,
    /// Start of validity.
    pub not_before: OffsetDateTime,
    /// End of validity.
    pub not_after: OffsetDateTime,
    /// DNS names and IP addresses from the subjectAltName extension.
    pub sans: Vec<String>,
    /// Extended key usages as dotted OIDs.
    pub ekus: Vec<String>,
    /// "ECDSA P-256", "RSA 2048", ...
    pub key_type: String,
    /// "sha256WithRSAEncryption", "ecdsa-with-SHA384", ... (the dotted OID when unknown).
    pub signature_algorithm: String,
    /// True for a CA certificate (basicConstraints cA).
    pub is_ca: bool,
}

fn parse_err(e: impl std::fmt::Display) -> CertError {
    CertError::Parse {
        reason: e.to_string(),
    }
}

/// Reads one DER certificate.
pub fn inspect(der: &[u8]) -> Result<CertInfo, CertError> {
    let (_, cert) = X509Certificate::from_der(der).map_err(parse_err)?;
    let thumbprint_sha1 = hex::encode_upper(Sha1::digest(der));
    let serial_bytes = cert.raw_serial();
    let first_nonzero = serial_bytes
        .iter()
        .position(|b| *b != 0)
        .unwrap_or(serial_bytes.len().saturating_sub(1));
    let mut sans = Vec::new();
    if let Ok(Some(ext)) = cert.subject_alternative_name() {
        for name in &ext.value.general_names {
            match name {
                GeneralName::DNSName(d) => sans.push((*d).to_string()),
                GeneralName::IPAddress(bytes) => {
                    if let Some(ip) = ip_from_bytes(bytes) {
                        sans.push(ip.to_string());
                    }
                }
                _ => {}
            }
        }
    }
    Ok(CertInfo {
        thumbprint_sha1,
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        issuer_common_name: first_cn(cert.issuer()),
        subject_common_name: first_cn(cert.subject()),
        serial: hex::encode_upper(&serial_bytes[first_nonzero..]),
        not_before: cert.validity().not_before.to_datetime(),
        not_after: cert.validity().not_after.to_datetime(),
        sans,
        ekus: ekus(&cert)?,
        key_type: key_type(&cert),
        signature_algorithm: signature_name(&cert.signature_algorithm.algorithm.to_id_string()),
        is_ca: cert.is_ca(),
    })
}

/// Reads every certificate in a PEM file (many blocks), a DER file or a PKCS#12 file. A PKCS#12
/// file is opened with `pfx_password`; with none, the empty password and then
/// [`DEFAULT_PFX_PASSWORD`] (what `egresslab certs mint` protects `leaf.pfx` with) are tried. A
/// text file, or a `.pem` file, that holds no PEM block is a PEM problem, never a PKCS#12 one.
pub fn inspect_file(path: &Path, pfx_password: Option<&str>) -> Result<Vec<CertInfo>, CertError> {
    let bytes = crate::fs::read_regular_file(path, crate::fs::MAX_INPUT_FILE)
        .map_err(CertError::io(path))?;
    let ders = match kind_of(path, &bytes) {
        Kind::Pem => pem_certificates(&bytes).map_err(|reason| CertError::NotPem {
            path: path.to_path_buf(),
            reason,
        })?,
        Kind::Der => vec![bytes],
        Kind::Pkcs12 => pkcs12_certificates(path, &bytes, pfx_password)?,
    };
    if ders.is_empty() {
        return Err(CertError::NoCertificate {
            path: path.to_path_buf(),
        });
    }
    ders.iter().map(|d| inspect(d)).collect()
}

/// The password `egresslab certs mint` protects `leaf.pfx` with unless told otherwise.
pub const DEFAULT_PFX_PASSWORD: &str = "egresslab";

/// What a certificate file holds, told from its first bytes and its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Pem,
    Der,
    Pkcs12,
}

fn kind_of(path: &Path, bytes: &[u8]) -> Kind {
    let first = bytes.iter().position(|b| !b.is_ascii_whitespace());
    let named_pem = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("pem"));
    // DER and PKCS#12 both start with a SEQUENCE (0x30); anything else can only be text.
    match first.map(|i| bytes[i]) {
        Some(0x30) if !named_pem => {
            if X509Certificate::from_der(bytes).is_ok() {
                Kind::Der
            } else {
                Kind::Pkcs12
            }
        }
        Some(0x30) if X509Certificate::from_der(bytes).is_ok() => Kind::Der,
        _ => Kind::Pem,
    }
}

/// The certificates of a PEM text, or why it is not one.
fn pem_certificates(bytes: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    if !bytes.windows(10).any(|w| w == b"-----BEGIN") {
        return Err("no \"-----BEGIN\" line found".to_owned());
    }
    let blocks = ::pem::parse_many(bytes).map_err(|e| format!("a PEM block is damaged: {e}"))?;
    Ok(blocks
        .into_iter()
        .filter(|b| b.tag() == "CERTIFICATE" || b.tag() == "X509 CERTIFICATE")
        .map(|b| b.into_contents())
        .collect())
}

fn pkcs12_certificates(
    path: &Path,
    bytes: &[u8],
    password: Option<&str>,
) -> Result<Vec<Vec<u8>>, CertError> {
    let tried: Vec<&str> = match password {
        Some(password) => vec![password],
        None => vec!["", DEFAULT_PFX_PASSWORD],
    };
    let mut last = None;
    for candidate in tried {
        match p12_keystore::KeyStore::from_pkcs12(bytes, candidate) {
            Ok(store) => return Ok(pkcs12_entries(&store)),
            Err(p12_keystore::error::Error::MacError(_)) => {}
            Err(e) => last = Some(e),
        }
    }
    match last {
        // Every password failed the MAC: the file is PKCS#12, the password is wrong.
        None => Err(CertError::Pkcs12Password {
            path: path.to_path_buf(),
            tried: if password.is_some() {
                "the password given"
            } else {
                "no password and the mint default"
            },
        }),
        Some(e) => Err(CertError::Pkcs12 {
            operation: "import",
            reason: e.to_string(),
        }),
    }
}

fn pkcs12_entries(store: &p12_keystore::KeyStore) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for (_, entry) in store.entries() {
        match entry {
            p12_keystore::KeyStoreEntry::PrivateKeyChain(chain) => {
                out.extend(chain.chain().iter().map(|c| c.as_der().to_vec()))
            }
            p12_keystore::KeyStoreEntry::Certificate(c) => out.push(c.as_der().to_vec()),
            _ => {}
        }
    }
    out
}

pub(crate) fn common_name_of(der: &[u8]) -> Option<String> {
    let (_, cert) = X509Certificate::from_der(der).ok()?;
    first_cn(cert.subject())
}

fn first_cn(name: &X509Name<'_>) -> Option<String> {
    name.iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .map(str::to_string)
}

fn ip_from_bytes(bytes: &[u8]) -> Option<std::net::IpAddr> {
    match bytes.len() {
        4 => <[u8; 4]>::try_from(bytes).ok().map(std::net::IpAddr::from),
        16 => <[u8; 16]>::try_from(bytes).ok().map(std::net::IpAddr::from),
        _ => None,
    }
}

fn ekus(cert: &X509Certificate<'_>) -> Result<Vec<String>, CertError> {
    let Some(ext) = cert.extended_key_usage().map_err(parse_err)? else {
        return Ok(Vec::new());
    };
    let e = &ext.value;
    let mut out = Vec::new();
    let known = [
        (e.any, "2.5.29.37.0"),
        (e.server_auth, crate::EKU_SERVER_AUTH),
        (e.client_auth, crate::EKU_CLIENT_AUTH),
        (e.code_signing, "1.3.6.1.5.5.7.3.3"),
        (e.email_protection, "1.3.6.1.5.5.7.3.4"),
        (e.time_stamping, "1.3.6.1.5.5.7.3.8"),
        (e.ocsp_signing, "1.3.6.1.5.5.7.3.9"),
    ];
    out.extend(
        known
            .iter()
            .filter(|(on, _)| *on)
            .map(|(_, o)| o.to_string()),
    );
    out.extend(e.other.iter().map(|o| o.to_id_string()));
    Ok(out)
}

fn key_type(cert: &X509Certificate<'_>) -> String {
    let spki = cert.public_key();
    match spki.parsed() {
        Ok(PublicKey::RSA(rsa)) => format!("RSA {}", rsa.key_size()),
        Ok(PublicKey::EC(_)) => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())
                .map(|o| o.to_id_string());
            match curve.as_deref() {
                Some("1.2.840.10045.3.1.7") => "ECDSA P-256".into(),
                Some("1.3.132.0.34") => "ECDSA P-384".into(),
                Some("1.3.132.0.35") => "ECDSA P-521".into(),
                Some(other) => format!("ECDSA {other}"),
                None => "ECDSA".into(),
            }
        }
        _ => match spki.algorithm.algorithm.to_id_string().as_str() {
            "1.3.101.112" => "Ed25519".into(),
            other => other.to_string(),
        },
    }
}

fn signature_name(oid: &str) -> String {
    match oid {
        "1.2.840.113549.1.1.5" => "sha1WithRSAEncryption",
        "1.2.840.113549.1.1.11" => "sha256WithRSAEncryption",
        "1.2.840.113549.1.1.12" => "sha384WithRSAEncryption",
        "1.2.840.113549.1.1.13" => "sha512WithRSAEncryption",
        "1.2.840.113549.1.1.10" => "rsassaPss",
        "1.2.840.10045.4.3.2" => "ecdsa-with-SHA256",
        "1.2.840.10045.4.3.3" => "ecdsa-with-SHA384",
        "1.2.840.10045.4.3.4" => "ecdsa-with-SHA512",
        "1.3.101.112" => "ED25519",
        other => other,
    }
    .to_string()
}
