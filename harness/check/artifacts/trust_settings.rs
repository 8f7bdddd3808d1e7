//! `TrustSettings.xml` of the connector: the client certificate's thumbprint and which store holds it.

use std::path::Path;

use super::error::{malformed, ArtifactError};
use super::{store, xml};
use crate::check::codes;
use crate::check::finding::Finding;
use crate::check::verify::certinfo;

/// The issuer of genuine connector certificates.
pub const CONNECTOR_REGISTRATION_CA: &str = "connectorregistrationca.msappproxy.net";

/// What the file says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustSettings {
    /// SHA-1 thumbprint, uppercase hex without spaces.
    pub thumbprint: String,
    /// true: Network Service's user store (auto-renewed); false: local machine store.
    pub is_in_user_store: bool,
}

impl TrustSettings {
    /// The store to look in, in words.
    pub fn store_name(&self) -> &'static str {
        if self.is_in_user_store {
            "the personal store of the Network Service user (IsInUserStore=true)"
        } else {
            "the local machine's personal store (IsInUserStore=false)"
        }
    }
}

/// Parse the file.
pub fn parse(text: &str) -> Result<TrustSettings, ArtifactError> {
    let root = xml::parse(text)?;
    if root.name != "ConnectorTrustSettingsFile" {
        return Err(malformed(
            text,
            root.offset,
            format!(
                "expected <ConnectorTrustSettingsFile>, found <{}>",
                root.name
            ),
        ));
    }
    let trust = root
        .child("CloudProxyTrust")
        .ok_or_else(|| malformed(text, root.offset, "missing <CloudProxyTrust>"))?;
    let tp = trust
        .child("Thumbprint")
        .ok_or_else(|| malformed(text, trust.offset, "missing <Thumbprint>"))?;
    let thumbprint: String = tp
        .text
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_uppercase();
    if thumbprint.len() != 40 || !thumbprint.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(malformed(
            text,
            tp.offset,
            format!("<Thumbprint> must be 40 hex digits, found {:?}", tp.text),
        ));
    }
    let us = trust
        .child("IsInUserStore")
        .ok_or_else(|| malformed(text, trust.offset, "missing <IsInUserStore>"))?;
    let is_in_user_store = match us.text.trim().to_ascii_lowercase().as_str() {
        "true" => true,
        "false" => false,
        other => {
            return Err(malformed(
                text,
                us.offset,
                format!("<IsInUserStore> must be true or false, found {other:?}"),
            ))
        }
    };
    Ok(TrustSettings {
        thumbprint,
        is_in_user_store,
    })
}

/// Hold the settings against a certificate folder standing in for the named store.
pub fn findings(target: &str, t: &TrustSettings, store_dir: Option<&Path>) -> Vec<Finding> {
    let Some(dir) = store_dir else {
        return vec![Finding::new(
            codes::CONFIG_TRUST_OK,
            target,
            format!(
                "thumbprint {} expected in {}; no certificate folder given to check it",
                t.thumbprint,
                t.store_name()
            ),
        )
        .with_severity(crate::check::finding::Severity::Info)];
    };
    let certs = match store::load_dir(dir, None) {
        Ok(c) => c,
        Err(e) => {
            return vec![Finding::new(
                codes::CONFIG_CONFIG_INVALID,
                dir.display().to_string(),
                format!("cannot read the certificate folder: {e}"),
            )]
        }
    };
    let Some(cert) = certs
        .iter()
        .find(|c| c.facts.thumbprint_sha1 == t.thumbprint)
    else {
        return vec![Finding::new(
            codes::CONFIG_TRUST_THUMBPRINT_MISSING,
            target,
            format!(
                "no certificate with thumbprint {} among {} in {}; look in {}",
                t.thumbprint,
                certs.len(),
                dir.display(),
                t.store_name()
            ),
        )];
    };
    let mut out = Vec::new();
    let now = certinfo::now_secs();
    if now > cert.facts.not_after {
        out.push(Finding::new(
            codes::CONFIG_TRUST_CERT_EXPIRED,
            target,
            format!(
                "the connector certificate {} expired on {} (event 1000 case)",
                t.thumbprint,
                certinfo::rfc3339(cert.facts.not_after)
            ),
        ));
    }
    let issuer = cert
        .facts
        .issuer_cn
        .clone()
        .unwrap_or_else(|| cert.facts.issuer.clone());
    if !issuer.eq_ignore_ascii_case(CONNECTOR_REGISTRATION_CA) {
        out.push(Finding::new(
            codes::CONFIG_TRUST_WRONG_ISSUER,
            target,
            format!(
                "the certificate {} was issued by {issuer}, not by {CONNECTOR_REGISTRATION_CA}",
                t.thumbprint
            ),
        ));
    }
    if out.is_empty() {
        out.push(Finding::new(
            codes::CONFIG_TRUST_OK,
            target,
            format!(
                "certificate {} found ({}), valid until {}, issued by {issuer}",
                t.thumbprint,
                cert.path.display(),
                certinfo::rfc3339(cert.facts.not_after)
            ),
        ));
    }
    out
}
