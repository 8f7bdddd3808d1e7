//! Revocation as a client checks it along its route: the leaf's CRLs fetched and parsed, its OCSP
//! responders asked; unreachable endpoints become `revocation.unreachable` findings.

use std::time::Instant;

use super::connect::fetch_body;
use super::ocsp;
use crate::check::codes;
use crate::check::config::ClientConfig;
use crate::check::finding::{Evidence, Finding};
use crate::check::transport::route::Route;

/// Fetch CRLs over HTTP along `route`; returns the parsed lists and revocation.unreachable findings.
pub async fn fetch_crls(
    config: &ClientConfig,
    route: &Route,
    urls: &[String],
) -> (Vec<webpki::OwnedCertRevocationList>, Vec<Finding>) {
    let mut crls = Vec::new();
    let mut bad = Vec::new();
    for url in urls.iter().take(4) {
        match fetch_body(config, route, url).await {
            Ok(body) => match webpki::OwnedCertRevocationList::from_der(&body) {
                Ok(c) => crls.push(c),
                Err(e) => tracing::debug!(%url, error = %e, "CRL does not parse"),
            },
            Err(f) => bad.push(
                Finding::new(
                    codes::REVOCATION_UNREACHABLE,
                    url,
                    format!("CRL {url} is unreachable ({})", f.code),
                )
                .with_all_evidence(f.evidence),
            ),
        }
    }
    (crls, bad)
}

/// Ask the leaf's OCSP responders (by GET, along `route`) about it: whether one says revoked, the
/// revocation.unreachable findings, and the evidence of each answer.
pub(crate) async fn ask_ocsp(
    config: &ClientConfig,
    route: &Route,
    leaf: &[u8],
    issuer: &[u8],
    urls: &[String],
) -> (bool, Vec<Finding>, Vec<Evidence>) {
    let Ok(request) = ocsp::request(leaf, issuer) else {
        return (false, Vec::new(), Vec::new());
    };
    let mut bad = Vec::new();
    let mut evidence = Vec::new();
    for url in urls.iter().take(2) {
        let start = Instant::now();
        let tried = format!("OCSP GET {url} ({route})");
        match fetch_body(config, route, &ocsp::get_url(url, &request)).await {
            Ok(body) => {
                let said = match ocsp::status(&body, leaf, issuer) {
                    Ok(status) => format!("{status:?}"),
                    Err(e) => e.to_string(),
                };
                evidence.push(Evidence::new(tried, said, start.elapsed()));
                if ocsp::status(&body, leaf, issuer) == Ok(ocsp::OcspStatus::Revoked) {
                    return (true, bad, evidence);
                }
            }
            Err(f) => bad.push(
                Finding::new(
                    codes::REVOCATION_UNREACHABLE,
                    url,
                    format!("OCSP responder {url} is unreachable ({})", f.code),
                )
                .with_all_evidence(f.evidence),
            ),
        }
    }
    (false, bad, evidence)
}
