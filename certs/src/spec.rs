//! Free-form leaf certificates: chosen names, validity window and EKUs.

use rcgen::ExtendedKeyUsagePurpose;
use time::OffsetDateTime;

use crate::authority::{generate_key, pkcs8, BACKDATE, LEAF_LIFETIME};
use crate::{CertError, Factory, Minted};

/// A leaf certificate described field by field, for cases no profile covers (and for
/// round-trip tests). Issued by the lab intermediate with an ECDSA P-256 key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeafSpec {
    /// DNS names, wildcards or IP addresses; the first is the subject CN.
    pub hosts: Vec<String>,
    /// Start of validity (whole seconds are kept).
    pub not_before: OffsetDateTime,
    /// End of validity (whole seconds are kept).
    pub not_after: OffsetDateTime,
    /// Extended key usages as dotted OIDs; empty means no EKU extension.
    pub ekus: Vec<String>,
}

impl LeafSpec {
    /// A server certificate for `hosts`, valid from a day ago for a year.
    pub fn new(hosts: Vec<String>) -> LeafSpec {
        let now = OffsetDateTime::now_utc();
        LeafSpec {
            hosts,
            not_before: now - BACKDATE,
            not_after: now + LEAF_LIFETIME,
            ekus: vec![crate::EKU_SERVER_AUTH.to_string()],
        }
    }
}

fn eku_from_dotted(oid: &str) -> Result<ExtendedKeyUsagePurpose, CertError> {
    let arcs: Option<Vec<u64>> = oid.split('.').map(|a| a.parse().ok()).collect();
    let arcs = arcs
        .filter(|a| a.len() >= 2)
        .ok_or_else(|| CertError::InvalidOid {
            oid: oid.to_string(),
        })?;
    Ok(match oid {
        "2.5.29.37.0" => ExtendedKeyUsagePurpose::Any,
        crate::EKU_SERVER_AUTH => ExtendedKeyUsagePurpose::ServerAuth,
        crate::EKU_CLIENT_AUTH => ExtendedKeyUsagePurpose::ClientAuth,
        "1.3.6.1.5.5.7.3.3" => ExtendedKeyUsagePurpose::CodeSigning,
        "1.3.6.1.5.5.7.3.4" => ExtendedKeyUsagePurpose::EmailProtection,
        "1.3.6.1.5.5.7.3.8" => ExtendedKeyUsagePurpose::TimeStamping,
        "1.3.6.1.5.5.7.3.9" => ExtendedKeyUsagePurpose::OcspSigning,
        _ => ExtendedKeyUsagePurpose::Other(arcs),
    })
}

impl Factory {
    /// Mints the leaf `spec` describes, issued by the lab intermediate.
    pub fn mint_spec(&self, spec: &LeafSpec) -> Result<Minted, CertError> {
        let key = generate_key(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let mut params = crate::leaf::server_params(&spec.hosts, &key)?;
        params.not_before = spec.not_before;
        params.not_after = spec.not_after;
        params.extended_key_usages = spec
            .ekus
            .iter()
            .map(|o| eku_from_dotted(o))
            .collect::<Result<_, _>>()?;
        let issued = self.sign_recorded(&params, &key, false)?;
        Ok(Minted::new(issued, pkcs8(&key), true))
    }
}
