//! The name constraints a CA certificate carries (RFC 5280 §4.2.1.10), read back from the
//! certificate itself: a persisted root keeps the constraints it was created with, whatever the
//! defaults are now, so a question about it has to be answered from its DER.

use std::net::IpAddr;

use x509_parser::extensions::{GeneralName, GeneralSubtree};
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::CertError;

/// A host name or address a CA's name constraints do not allow, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutsideConstraints {
    /// The host as given (a name, a `*.` wildcard or an IP address).
    pub host: String,
    /// The subtree that excludes it, or `None` when no permitted subtree includes it.
    pub excluded_by: Option<String>,
    /// The permitted subtrees of its kind (DNS or IP), for the message.
    pub permitted: Vec<String>,
}

/// The hosts of `hosts` that a client enforcing `ca`'s name constraints would refuse in a
/// certificate chaining to `ca`. Empty when `ca` carries no constraints. A wildcard `*.d` is
/// judged by `d`'s subtree, as webpki and OpenSSL do.
pub fn outside_name_constraints(
    ca: &[u8],
    hosts: &[String],
) -> Result<Vec<OutsideConstraints>, CertError> {
    let (_, cert) = X509Certificate::from_der(ca).map_err(|e| CertError::Parse {
        reason: e.to_string(),
    })?;
    let constraints = cert.name_constraints().map_err(|e| CertError::Parse {
        reason: e.to_string(),
    })?;
    let Some(constraints) = constraints else {
        return Ok(Vec::new());
    };
    let permitted = constraints.value.permitted_subtrees.as_deref();
    let excluded = constraints
        .value
        .excluded_subtrees
        .as_deref()
        .unwrap_or(&[]);
    let mut outside = Vec::new();
    for host in hosts {
        let name = host.strip_prefix("*.").unwrap_or(host);
        let ip = name.parse::<IpAddr>().ok();
        let matches = |subtree: &GeneralSubtree<'_>| match (&subtree.base, ip) {
            (GeneralName::DNSName(base), None) => dns_within(name, base),
            (GeneralName::IPAddress(range), Some(ip)) => ip_within(ip, range),
            _ => false,
        };
        let same_kind = |subtree: &&GeneralSubtree<'_>| {
            matches!(
                (&subtree.base, ip),
                (GeneralName::DNSName(_), None) | (GeneralName::IPAddress(_), Some(_))
            )
        };
        let excluded_by = excluded.iter().find(|s| matches(s)).map(describe);
        // A constraint of another kind says nothing about this one; without a permitted subtree of
        // its kind a name is allowed (RFC 5280).
        let of_kind: Vec<&GeneralSubtree<'_>> =
            permitted.unwrap_or(&[]).iter().filter(same_kind).collect();
        let not_permitted = !of_kind.is_empty() && !of_kind.iter().any(|s| matches(s));
        if excluded_by.is_some() || not_permitted {
            outside.push(OutsideConstraints {
                host: host.clone(),
                excluded_by,
                permitted: of_kind.into_iter().map(describe).collect(),
            });
        }
    }
    Ok(outside)
}

/// `name` equals `base` or ends in `.base` (a leading dot in `base` permits subdomains only).
fn dns_within(name: &str, base: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    let base = base.trim_end_matches('.').to_ascii_lowercase();
    if base.is_empty() {
        return true;
    }
    if let Some(sub) = base.strip_prefix('.') {
        return name.ends_with(&format!(".{sub}"));
    }
    name == base || name.ends_with(&format!(".{base}"))
}

/// `ip` is in the range encoded as address followed by mask, 8 or 32 bytes.
fn ip_within(ip: IpAddr, range: &[u8]) -> bool {
    let octets: Vec<u8> = match ip {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => v6.octets().to_vec(),
    };
    if range.len() != octets.len() * 2 {
        return false;
    }
    let (base, mask) = range.split_at(octets.len());
    octets
        .iter()
        .zip(base.iter().zip(mask))
        .all(|(o, (b, m))| o & m == b & m)
}

fn describe(subtree: &GeneralSubtree<'_>) -> String {
    match &subtree.base {
        GeneralName::DNSName(name) => (*name).to_owned(),
        GeneralName::IPAddress(range) if range.len() == 8 || range.len() == 32 => {
            let half = range.len() / 2;
            let ip = if half == 4 {
                <[u8; 4]>::try_from(&range[..4]).map(IpAddr::from).ok()
            } else {
                <[u8; 16]>::try_from(&range[..16]).map(IpAddr::from).ok()
            };
            let prefix: u32 = range[half..].iter().map(|b| b.count_ones()).sum();
            ip.map_or_else(|| format!("{range:?}"), |ip| format!("{ip}/{prefix}"))
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CaRole, Factory, FactoryOptions};

    fn hosts(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_lab_root_refuses_names_outside_its_domains() {
        let factory = Factory::ephemeral().unwrap();
        let root = factory.authority(CaRole::Lab).cert_der();
        let inside = hosts(&[
            "login.microsoftonline.com",
            "*.msappproxy.net",
            "microsoftonline.com",
            "127.0.0.1",
            "a.egresslab.test",
        ]);
        assert_eq!(outside_name_constraints(root, &inside).unwrap(), vec![]);
        let out = outside_name_constraints(
            root,
            &hosts(&["example.org", "10.0.0.1", "notmicrosoftonline.com"]),
        )
        .unwrap();
        let names: Vec<&str> = out.iter().map(|o| o.host.as_str()).collect();
        assert_eq!(names, ["example.org", "10.0.0.1", "notmicrosoftonline.com"]);
        assert!(out[0].permitted.iter().any(|p| p == "msappproxy.net"));
        assert!(
            out[1].permitted.iter().any(|p| p == "127.0.0.0/8"),
            "{:?}",
            out[1]
        );
    }

    #[test]
    fn an_unconstrained_root_refuses_nothing() {
        let factory = Factory::ephemeral_with(&FactoryOptions::unconstrained()).unwrap();
        let root = factory.authority(CaRole::Lab).cert_der();
        assert!(outside_name_constraints(root, &hosts(&["example.org"]))
            .unwrap()
            .is_empty());
        let inspection = factory.authority(CaRole::Inspection).cert_der();
        assert!(
            outside_name_constraints(inspection, &hosts(&["example.org"]))
                .unwrap()
                .is_empty()
        );
    }
}
