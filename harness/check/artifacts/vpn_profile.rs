//! The Always On VPN ProfileXML: the conditional-access EKU filter (TLSExtensions / EKUName / EKUOID).

use std::path::Path;

use super::error::ArtifactError;
use super::{store, xml};
use crate::check::codes;
use crate::check::finding::Finding;
use crate::check::verify::certinfo::{self, EKU_AAD_CONDITIONAL_ACCESS};

/// The EKU name conditional access expects.
pub const AAD_CONDITIONAL_ACCESS: &str = "AAD Conditional Access";

/// What the profile says about conditional access.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VpnProfile {
    /// Servers listed.
    pub servers: Vec<String>,
    /// Native protocol (Ikev2, Sstp, Automatic …), if given.
    pub protocol: Option<String>,
    /// Whether a TLSExtensions element exists.
    pub has_tls_extensions: bool,
    /// EKUName values under TLSExtensions.
    pub eku_names: Vec<String>,
    /// EKUOID values under TLSExtensions.
    pub eku_oids: Vec<String>,
    /// The EAP method types named (`<Type>`: 13 EAP-TLS, 25 PEAP, 26 EAP-MSCHAPv2).
    pub eap_types: Vec<u32>,
}

impl VpnProfile {
    /// Whether the profile authenticates with a certificate: EAP-TLS (type 13) is named, or no EAP type
    /// is named at all. A password profile (EAP-MSCHAPv2 only) picks no certificate, so the
    /// conditional-access EKU filter and certificate do not apply to it.
    pub fn certificate_auth(&self) -> bool {
        self.eap_types.is_empty() || self.eap_types.contains(&13)
    }

    /// Whether the filter is present and names the conditional-access EKU.
    pub fn filters_conditional_access(&self) -> bool {
        self.has_tls_extensions
            && self.eku_names.iter().any(|n| n == AAD_CONDITIONAL_ACCESS)
            && self
                .eku_oids
                .iter()
                .any(|o| o == EKU_AAD_CONDITIONAL_ACCESS)
    }
}

/// Parse a ProfileXML.
pub fn parse(text: &str) -> Result<VpnProfile, ArtifactError> {
    let root = xml::parse(text)?;
    if root.name != "VPNProfile" {
        return Err(super::malformed(
            text,
            root.offset,
            format!("expected <VPNProfile>, found <{}>", root.name),
        ));
    }
    let servers = root
        .find_all("Servers")
        .iter()
        .flat_map(|s| s.text.split([';', ',']))
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    let protocol = root
        .find_all("NativeProtocolType")
        .first()
        .map(|e| e.text.clone());
    let ext = root.find_all("TLSExtensions");
    let eku_names = ext
        .iter()
        .flat_map(|e| e.find_all("EKUName"))
        .map(|e| e.text.trim().to_string())
        .collect();
    let eku_oids = ext
        .iter()
        .flat_map(|e| e.find_all("EKUOID"))
        .map(|e| e.text.trim().to_string())
        .collect();
    let eap_types = root
        .find_all("Type")
        .iter()
        .filter_map(|e| e.text.trim().parse().ok())
        .collect();
    Ok(VpnProfile {
        servers,
        protocol,
        has_tls_extensions: !ext.is_empty(),
        eku_names,
        eku_oids,
        eap_types,
    })
}

/// Findings for the profile and, with a certificate folder, whether a conditional-access certificate
/// exists; none for a password profile ([`VpnProfile::certificate_auth`]).
pub fn findings(target: &str, p: &VpnProfile, store_dir: Option<&Path>) -> Vec<Finding> {
    let mut out = Vec::new();
    if !p.certificate_auth() {
        // Nothing to say about conditional access: found by `egresslab score`, which saw both
        // conditional-access errors on every NPS 812 (password profile) case.
        tracing::debug!(types = ?p.eap_types, "password VPN profile: no certificate filter applies");
        return out;
    }
    if !p.filters_conditional_access() {
        let why = if !p.has_tls_extensions {
            "has no <TLSExtensions> section".to_string()
        } else {
            format!("has TLSExtensions but EKUName {:?} / EKUOID {:?} instead of {AAD_CONDITIONAL_ACCESS:?} / {EKU_AAD_CONDITIONAL_ACCESS}", p.eku_names, p.eku_oids)
        };
        out.push(Finding::new(codes::VPN_CONDITIONAL_ACCESS_PROFILE_MISSING_EKU, target, format!("the VPN profile {why}: the client may pick any client-auth certificate (\"Oops\" loop)")));
    }
    if let Some(dir) = store_dir {
        match store::load_dir(dir, None) {
            Ok(certs) => {
                let now = certinfo::now_secs();
                if !certs.iter().any(|c| {
                    c.facts.ekus.iter().any(|e| e == EKU_AAD_CONDITIONAL_ACCESS)
                        && c.facts.valid_at(now)
                }) {
                    out.push(Finding::new(
                        codes::VPN_CONDITIONAL_ACCESS_NO_CA_CERT,
                        dir.display().to_string(),
                        format!("none of the {} certificates in {} carries EKU {EKU_AAD_CONDITIONAL_ACCESS} (\"Oops\" loop)", certs.len(), dir.display()),
                    ));
                }
            }
            Err(e) => out.push(Finding::new(
                codes::CONFIG_CONFIG_INVALID,
                dir.display().to_string(),
                format!("cannot read the certificate folder: {e}"),
            )),
        }
    }
    if out.is_empty() {
        out.push(Finding::new(
            codes::VPN_CONDITIONAL_ACCESS_OK,
            target,
            format!(
                "the profile filters on {AAD_CONDITIONAL_ACCESS} ({EKU_AAD_CONDITIONAL_ACCESS})"
            ),
        ));
    }
    out
}
