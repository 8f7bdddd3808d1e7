//! OCSP (RFC 6960) as a client does it: a request for one certificate (SHA-1 CertID), and the status
//! read from the responder's answer after checking that the issuer signed it. Plain DER, no extra
//! dependency: the messages are small and fixed in shape.

use egresslab_certs::der::{children, expect as want, read_tlv as read, DerError};
use sha1::Digest as _;
use x509_parser::prelude::{FromDer, X509Certificate};

/// What the responder says about one certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OcspStatus {
    /// Not revoked.
    Good,
    /// Revoked.
    Revoked,
    /// The responder does not know the certificate.
    Unknown,
}

/// Why an OCSP answer could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OcspError {
    /// A certificate does not parse.
    #[error("certificate does not parse")]
    Certificate,
    /// The answer is not the DER it should be.
    #[error("malformed OCSP answer: {0}")]
    Malformed(&'static str),
    /// The responder answered with an error status (RFC 6960 responseStatus).
    #[error("responder status {0}")]
    Status(u8),
    /// The answer is not signed by the certificate's issuer.
    #[error("answer not signed by the issuer")]
    Signature,
    /// The answer is about other certificates.
    #[error("answer does not cover the certificate")]
    NotCovered,
}

const SHA1_ALG: &[u8] = &[
    0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00,
];
const BASIC_OID: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x01];

fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
}

impl From<DerError> for OcspError {
    fn from(error: DerError) -> Self {
        OcspError::Malformed(error.0)
    }
}

/// The DER OCSPRequest for `leaf` issued by `issuer`.
pub fn request(leaf: &[u8], issuer: &[u8]) -> Result<Vec<u8>, OcspError> {
    let (_, leaf) = X509Certificate::from_der(leaf).map_err(|_| OcspError::Certificate)?;
    let (_, issuer) = X509Certificate::from_der(issuer).map_err(|_| OcspError::Certificate)?;
    let name_hash = sha1::Sha1::digest(issuer.subject().as_raw());
    let key_hash = sha1::Sha1::digest(&issuer.public_key().subject_public_key.data);
    let mut cert_id = SHA1_ALG.to_vec();
    cert_id.extend(tlv(0x04, &name_hash));
    cert_id.extend(tlv(0x04, &key_hash));
    cert_id.extend(tlv(0x02, leaf.raw_serial()));
    let request = tlv(0x30, &tlv(0x30, &cert_id));
    let list = tlv(0x30, &request);
    Ok(tlv(0x30, &tlv(0x30, &list)))
}

/// The request as an OCSP GET URL below `responder` (base64, with `+ / =` escaped).
pub fn get_url(responder: &str, request: &[u8]) -> String {
    use base64::Engine as _;
    let encoded = base64::engine::general_purpose::STANDARD.encode(request);
    let escaped = encoded
        .replace('+', "%2B")
        .replace('/', "%2F")
        .replace('=', "%3D");
    format!("{}/{escaped}", responder.trim_end_matches('/'))
}

fn strip(serial: &[u8]) -> &[u8] {
    let start = serial
        .iter()
        .position(|b| *b != 0)
        .unwrap_or(serial.len().saturating_sub(1));
    &serial[start..]
}

/// Read the status of `leaf` from a DER OCSPResponse, checking the issuer's signature over it.
pub fn status(answer: &[u8], leaf: &[u8], issuer: &[u8]) -> Result<OcspStatus, OcspError> {
    let (_, leaf) = X509Certificate::from_der(leaf).map_err(|_| OcspError::Certificate)?;
    let (_, issuer) = X509Certificate::from_der(issuer).map_err(|_| OcspError::Certificate)?;
    let (outer, _) = read(answer)?;
    let outer = children(want(Some(&outer), 0x30, "OCSPResponse")?)?;
    let code = want(outer.first(), 0x0a, "responseStatus")?;
    if code != [0] {
        return Err(OcspError::Status(code.first().copied().unwrap_or(0xff)));
    }
    let bytes = children(want(outer.get(1), 0xa0, "responseBytes")?)?;
    let bytes = children(want(bytes.first(), 0x30, "ResponseBytes")?)?;
    if want(bytes.first(), 0x06, "responseType")? != BASIC_OID {
        return Err(OcspError::Malformed("not a basic OCSP response"));
    }
    let (basic, _) = read(want(bytes.get(1), 0x04, "response")?)?;
    let basic = children(want(Some(&basic), 0x30, "BasicOCSPResponse")?)?;
    let tbs = basic
        .first()
        .filter(|t| t.tag == 0x30)
        .ok_or(OcspError::Malformed("tbsResponseData"))?;
    let sig_alg = want(basic.get(1), 0x30, "signatureAlgorithm")?;
    let signature = want(basic.get(2), 0x03, "signature")?;
    let signature = signature
        .get(1..)
        .ok_or(OcspError::Malformed("signature"))?;
    let (spki, _) = read(issuer.public_key().raw)?;
    let spki = children(want(Some(&spki), 0x30, "issuer key")?)?;
    let key_alg = want(spki.first(), 0x30, "issuer key algorithm")?;
    let key = &issuer.public_key().subject_public_key.data;
    let provider = crate::check::transport::tls::provider();
    let signed = provider
        .signature_verification_algorithms
        .all
        .iter()
        .any(|a| {
            a.public_key_alg_id().as_ref() == key_alg
                && a.signature_alg_id().as_ref() == sig_alg
                && a.verify_signature(key, tbs.whole, signature).is_ok()
        });
    if !signed {
        return Err(OcspError::Signature);
    }
    let data = children(tbs.content)?;
    let responses = data
        .iter()
        .find(|t| t.tag == 0x30)
        .ok_or(OcspError::Malformed("responses"))?;
    let ours = strip(leaf.raw_serial());
    for single in children(responses.content)? {
        let parts = children(want(Some(&single), 0x30, "SingleResponse")?)?;
        let cert_id = children(want(parts.first(), 0x30, "CertID")?)?;
        let serial = want(cert_id.get(3), 0x02, "serialNumber")?;
        if strip(serial) != ours {
            continue;
        }
        return match parts.get(1).map(|t| t.tag) {
            Some(0x80) => Ok(OcspStatus::Good),
            Some(0xa1) => Ok(OcspStatus::Revoked),
            Some(0x82) => Ok(OcspStatus::Unknown),
            _ => Err(OcspError::Malformed("certStatus")),
        };
    }
    Err(OcspError::NotCovered)
}

#[cfg(test)]
mod tests {
    use super::*;
    use egresslab_certs::{CaRole, Factory, Profile};

    #[test]
    fn the_factory_responder_is_read_and_its_signature_checked() {
        let factory = Factory::ephemeral().unwrap();
        let issuer = factory.authority(CaRole::Intermediate).cert_der().clone();
        let hosts = vec!["ocsp-test.egresslab.test".to_string()];
        let good = factory.mint(Profile::Valid, &hosts).unwrap();
        let revoked = factory.mint(Profile::Revoked, &hosts).unwrap();
        for (minted, expected) in [(&good, OcspStatus::Good), (&revoked, OcspStatus::Revoked)] {
            let req = request(minted.leaf(), &issuer).unwrap();
            let answer = factory.ocsp_response(&req).unwrap();
            assert_eq!(status(&answer, minted.leaf(), &issuer).unwrap(), expected);
        }
        // Another issuer's key does not verify the answer.
        let req = request(good.leaf(), &issuer).unwrap();
        let answer = factory.ocsp_response(&req).unwrap();
        let other = factory.authority(CaRole::Untrusted).cert_der().clone();
        assert_eq!(
            status(&answer, good.leaf(), &other),
            Err(OcspError::Signature)
        );
        // An answer about another certificate does not cover this one.
        assert_eq!(
            status(&answer, revoked.leaf(), &issuer),
            Err(OcspError::NotCovered)
        );
        // Garbage is an error, never a panic.
        for junk in [
            &b""[..],
            &[0x30],
            &[0x30, 0x03, 0x0a, 0x01, 0x01],
            &answer[..20],
        ] {
            assert!(status(junk, good.leaf(), &issuer).is_err());
        }
        let url = get_url("http://ocsp.egresslab.test/", &req);
        let path = url.strip_prefix("http://ocsp.egresslab.test/").unwrap();
        assert!(
            path.starts_with('M') && !path.contains(['+', '/', '=']),
            "{url}"
        );
    }
}
