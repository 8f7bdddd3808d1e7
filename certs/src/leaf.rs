//! Leaf certificate parameters shared by the profiles and the interception fast path.

use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, KeyUsagePurpose,
    PublicKeyData,
};
use time::OffsetDateTime;

use crate::authority::{fresh_serial, BACKDATE, LEAF_LIFETIME};
use crate::CertError;

/// Parameters of an ordinary server certificate for `hosts` (first host is the CN): server-auth
/// EKU, valid from a day ago for a year, authority key identifier, fresh serial.
pub(crate) fn server_params(
    hosts: &[String],
    key: &impl PublicKeyData,
) -> Result<CertificateParams, CertError> {
    let first = hosts.first().ok_or(CertError::NoHost)?;
    let mut params = CertificateParams::default();
    for host in hosts {
        let one = CertificateParams::new(vec![host.clone()]).map_err(|source| {
            CertError::InvalidHost {
                host: host.clone(),
                source,
            }
        })?;
        params.subject_alt_names.extend(one.subject_alt_names);
    }
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, first.as_str());
    params.distinguished_name = dn;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    if is_rsa(key) {
        params.key_usages.push(KeyUsagePurpose::KeyEncipherment);
    }
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let now = OffsetDateTime::now_utc();
    params.not_before = now - BACKDATE;
    params.not_after = now + LEAF_LIFETIME;
    params.serial_number = Some(fresh_serial(key));
    params.use_authority_key_identifier_extension = true;
    Ok(params)
}

fn is_rsa(key: &impl PublicKeyData) -> bool {
    let alg = key.algorithm();
    alg == &rcgen::PKCS_RSA_SHA256
        || alg == &rcgen::PKCS_RSA_SHA384
        || alg == &rcgen::PKCS_RSA_SHA512
}

/// DER of an AuthorityInfoAccess extension value naming one OCSP responder URL.
pub(crate) fn aia_ocsp(url: &str) -> Vec<u8> {
    yasna::construct_der(|w| {
        w.write_sequence(|w| {
            w.next().write_sequence(|w| {
                w.next()
                    .write_oid(&yasna::models::ObjectIdentifier::from_slice(&[
                        1, 3, 6, 1, 5, 5, 7, 48, 1,
                    ]));
                w.next()
                    .write_tagged_implicit(yasna::Tag::context(6), |w| w.write_ia5_string(url));
            });
        });
    })
}
