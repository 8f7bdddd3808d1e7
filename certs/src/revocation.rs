//! Revocation data for the lab intermediate: a signed CRL and RFC 6960 OCSP responses.

use rcgen::{
    CertificateRevocationListParams, KeyIdMethod, RevokedCertParams, SerialNumber, SigningKey,
};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use x509_parser::prelude::{FromDer, X509Certificate};
use yasna::models::{GeneralizedTime, ObjectIdentifier};
use yasna::Tag;

use crate::der::{children, expect, read_tlv, DerError};
use crate::factory::{lock, Factory, SerialStatus};
use crate::CertError;

const SHA1_OID: &[u8] = &[0x2b, 0x0e, 0x03, 0x02, 0x1a];
const SHA256_OID: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01];
/// How long CRLs and OCSP answers claim to be fresh.
const FRESHNESS: time::Duration = time::Duration::days(7);

impl Factory {
    /// A CRL signed by the lab intermediate listing every certificate minted with
    /// [`crate::Profile::Revoked`] by this factory (in this process).
    pub fn crl_der(&self) -> Result<Vec<u8>, CertError> {
        let now = OffsetDateTime::now_utc();
        let revoked_certs = lock(&self.serials)
            .iter()
            .filter_map(|(serial, status)| match status {
                SerialStatus::Revoked(at) => Some(RevokedCertParams {
                    serial_number: SerialNumber::from_slice(serial),
                    revocation_time: *at,
                    reason_code: Some(rcgen::RevocationReason::KeyCompromise),
                    invalidity_date: None,
                }),
                SerialStatus::Good => None,
            })
            .collect();
        let params = CertificateRevocationListParams {
            this_update: now - time::Duration::hours(1),
            next_update: now + FRESHNESS,
            crl_number: SerialNumber::from_slice(&now.unix_timestamp().to_be_bytes()[3..]),
            issuing_distribution_point: None,
            revoked_certs,
            key_identifier_method: KeyIdMethod::Sha256,
        };
        let crl = params
            .signed_by(self.intermediate.issuer())
            .map_err(CertError::rcgen("signing the CRL"))?;
        Ok(crl.der().to_vec())
    }

    /// Answers a DER `OCSPRequest` with a DER `OCSPResponse` (a BasicOCSPResponse signed by the
    /// lab intermediate): "good" or "revoked" for serials it issued, "unknown" otherwise.
    /// A request nonce is echoed.
    pub fn ocsp_response(&self, request_der: &[u8]) -> Result<Vec<u8>, CertError> {
        let request = parse_request(request_der)?;
        let issuer_der = self.intermediate.cert_der();
        let (_, issuer) = X509Certificate::from_der(issuer_der).map_err(|e| CertError::Parse {
            reason: e.to_string(),
        })?;
        let name = issuer.subject().as_raw();
        let key_bits = issuer.public_key().subject_public_key.data.as_ref();
        let now = OffsetDateTime::now_utc()
            .replace_nanosecond(0)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH);
        let serials = lock(&self.serials).clone();
        let answers: Vec<(Vec<u8>, Option<SerialStatus>)> = request
            .ids
            .iter()
            .map(|id| {
                let ours = match id.hash_oid.as_slice() {
                    SHA1_OID => {
                        id.name_hash == Sha1::digest(name).as_slice()
                            && id.key_hash == Sha1::digest(key_bits).as_slice()
                    }
                    SHA256_OID => {
                        id.name_hash == Sha256::digest(name).as_slice()
                            && id.key_hash == Sha256::digest(key_bits).as_slice()
                    }
                    _ => false,
                };
                let status = if ours {
                    serials.get(&id.serial).copied()
                } else {
                    None
                };
                (id.raw.clone(), status)
            })
            .collect();
        let key_hash = Sha1::digest(key_bits).to_vec();
        let tbs = yasna::construct_der(|w| {
            w.write_sequence(|w| {
                w.next()
                    .write_tagged(Tag::context(2), |w| w.write_bytes(&key_hash));
                w.next()
                    .write_generalized_time(&GeneralizedTime::from_datetime(now));
                w.next().write_sequence(|w| {
                    for (raw, status) in &answers {
                        w.next().write_sequence(|w| {
                            w.next().write_der(raw);
                            write_status(w.next(), *status);
                            w.next()
                                .write_generalized_time(&GeneralizedTime::from_datetime(now));
                            w.next().write_tagged(Tag::context(0), |w| {
                                w.write_generalized_time(&GeneralizedTime::from_datetime(
                                    now + FRESHNESS,
                                ))
                            });
                        });
                    }
                });
                if let Some(ext) = &request.extensions {
                    w.next().write_tagged(Tag::context(1), |w| w.write_der(ext));
                }
            })
        });
        let key = self.intermediate.key();
        let alg = alg_identifier(key.algorithm()).ok_or(CertError::UnsupportedKey {
            what: "OCSP response",
        })?;
        let signature = key
            .sign(&tbs)
            .map_err(CertError::rcgen("signing an OCSP response"))?;
        let basic = yasna::construct_der(|w| {
            w.write_sequence(|w| {
                w.next().write_der(&tbs);
                w.next().write_der(&alg);
                w.next().write_bitvec_bytes(&signature, signature.len() * 8);
            })
        });
        Ok(yasna::construct_der(|w| {
            w.write_sequence(|w| {
                w.next().write_enum(0);
                w.next().write_tagged(Tag::context(0), |w| {
                    w.write_sequence(|w| {
                        w.next().write_oid(&ObjectIdentifier::from_slice(&[
                            1, 3, 6, 1, 5, 5, 7, 48, 1, 1,
                        ]));
                        w.next().write_bytes(&basic);
                    })
                });
            })
        }))
    }
}

fn write_status(w: yasna::DERWriter<'_>, status: Option<SerialStatus>) {
    match status {
        Some(SerialStatus::Good) => w.write_tagged_implicit(Tag::context(0), |w| w.write_null()),
        Some(SerialStatus::Revoked(at)) => w.write_tagged_implicit(Tag::context(1), |w| {
            w.write_sequence(|w| {
                let at = at.replace_nanosecond(0).unwrap_or(at);
                w.next()
                    .write_generalized_time(&GeneralizedTime::from_datetime(at));
                // keyCompromise
                w.next().write_tagged(Tag::context(0), |w| w.write_enum(1));
            })
        }),
        None => w.write_tagged_implicit(Tag::context(2), |w| w.write_null()),
    }
}

fn alg_identifier(alg: &'static rcgen::SignatureAlgorithm) -> Option<Vec<u8>> {
    let (oid, null): (&[u64], bool) = if alg == &rcgen::PKCS_ECDSA_P256_SHA256 {
        (&[1, 2, 840, 10045, 4, 3, 2], false)
    } else if alg == &rcgen::PKCS_ECDSA_P384_SHA384 {
        (&[1, 2, 840, 10045, 4, 3, 3], false)
    } else if alg == &rcgen::PKCS_RSA_SHA256 {
        (&[1, 2, 840, 113549, 1, 1, 11], true)
    } else if alg == &rcgen::PKCS_RSA_SHA512 {
        (&[1, 2, 840, 113549, 1, 1, 13], true)
    } else {
        return None;
    };
    Some(yasna::construct_der(|w| {
        w.write_sequence(|w| {
            w.next().write_oid(&ObjectIdentifier::from_slice(oid));
            if null {
                w.next().write_null();
            }
        })
    }))
}

/// One CertID of a request, with its exact encoding for echoing back.
struct CertId {
    raw: Vec<u8>,
    hash_oid: Vec<u8>,
    name_hash: Vec<u8>,
    key_hash: Vec<u8>,
    serial: Vec<u8>,
}

struct Request {
    ids: Vec<CertId>,
    /// The content of `requestExtensions [2]`: an `Extensions` SEQUENCE.
    extensions: Option<Vec<u8>>,
}

impl From<DerError> for CertError {
    fn from(error: DerError) -> Self {
        bad(error.0)
    }
}

fn bad(reason: &'static str) -> CertError {
    CertError::OcspRequest { reason }
}

fn parse_request(der: &[u8]) -> Result<Request, CertError> {
    let (outer, _) = read_tlv(der)?;
    let outer = children(expect(Some(&outer), 0x30, "OCSPRequest is not a SEQUENCE")?)?;
    let tbs = children(expect(outer.first(), 0x30, "tbsRequest is not a SEQUENCE")?)?;
    let list = tbs
        .iter()
        .find(|t| t.tag == 0x30)
        .ok_or(bad("no requestList"))?;
    let extensions = tbs
        .iter()
        .find(|t| t.tag == 0xa2)
        .map(|t| t.content.to_vec());
    let mut ids = Vec::new();
    for req in children(list.content)? {
        let parts = children(expect(Some(&req), 0x30, "Request is not a SEQUENCE")?)?;
        let cert_id = parts.first().ok_or(bad("Request without CertID"))?;
        let fields = children(expect(Some(cert_id), 0x30, "CertID is not a SEQUENCE")?)?;
        let alg = children(expect(
            fields.first(),
            0x30,
            "CertID without hashAlgorithm",
        )?)?;
        let serial = expect(fields.get(3), 0x02, "CertID without serialNumber")?;
        let start = serial
            .iter()
            .position(|b| *b != 0)
            .unwrap_or(serial.len().saturating_sub(1));
        ids.push(CertId {
            raw: cert_id.whole.to_vec(),
            hash_oid: expect(alg.first(), 0x06, "hashAlgorithm without OID")?.to_vec(),
            name_hash: expect(fields.get(1), 0x04, "CertID without issuerNameHash")?.to_vec(),
            key_hash: expect(fields.get(2), 0x04, "CertID without issuerKeyHash")?.to_vec(),
            serial: serial[start..].to_vec(),
        });
    }
    if ids.is_empty() {
        return Err(bad("empty requestList"));
    }
    Ok(Request { ids, extensions })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_requests_are_errors_not_panics() {
        for input in [
            &b""[..],
            &[0x30],
            &[0x30, 0x85, 1, 2, 3, 4, 5],
            &[0x30, 0x02, 0x30, 0x00],
            &[0x04, 0x01, 0x00],
        ] {
            assert!(parse_request(input).is_err(), "{input:?}");
        }
    }
}
