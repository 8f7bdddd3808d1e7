//! The factory: the lab's CAs and minting of leaf certificates from profiles.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use rcgen::{
    CertificateParams, CrlDistributionPoint, CustomExtension, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, KeyPair, RsaKeySize, SubjectPublicKeyInfo,
};
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use time::OffsetDateTime;

use crate::authority::{generate_key, pkcs8, Authority};
use crate::leaf::{aia_ocsp, server_params};
use crate::minted::{IssuedCert, Minted};
use crate::{CaRole, CertError, FactoryOptions, Profile};

/// Common names of the five persistent authorities.
pub(crate) const LAB_ROOT_CN: &str = "egresslab Lab Root CA";
pub(crate) const INTERMEDIATE_CN: &str = "egresslab Lab Issuing CA";
pub(crate) const INSPECTION_CN: &str = "egresslab TLS Inspection CA";
pub(crate) const UNTRUSTED_CN: &str = "egresslab Untrusted Root CA";
/// The untrusted root's issuing intermediate (served by `untrusted-root` servers).
pub(crate) const UNTRUSTED_ISSUING_CN: &str = "egresslab Untrusted Issuing CA";
/// The RSA intermediate of the connector registration CA that signs connector certificates with SHA-512.
pub(crate) const CONNECTOR_ISSUING_CN: &str =
    "connectorregistrationca.msappproxy.net SHA-512 Issuing";
/// The CN of the connector registration CA, exactly as the real service names it.
pub const CONNECTOR_CA_CN: &str = "connectorregistrationca.msappproxy.net";

const WEAK_KEY_PEM: &str = include_str!("data/weak-rsa-1024.key.pem");
const WEAK_PUB_PEM: &str = include_str!("data/weak-rsa-1024.pub.pem");

/// Intermediates created on first use, below the lab root.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Special {
    P384,
    P521,
    RsaSha512,
    Long,
    /// Below the untrusted root, so an untrusted-root server sends a chain as real servers do.
    Untrusted,
    /// RSA, signing with SHA-512, below the connector registration CA.
    ConnectorSha512,
}

/// Status of a serial the lab intermediate issued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SerialStatus {
    Good,
    Revoked(OffsetDateTime),
}

/// The lab's certificate authorities and the minting of profile certificates. Cheap to share
/// (`Send + Sync`); minting takes `&self`.
pub struct Factory {
    pub(crate) lab: Authority,
    pub(crate) intermediate: Authority,
    pub(crate) inspection: Authority,
    pub(crate) untrusted: Authority,
    pub(crate) connector: Authority,
    specials: Mutex<HashMap<Special, Arc<Authority>>>,
    pub(crate) serials: Mutex<HashMap<Vec<u8>, SerialStatus>>,
}

/// What an RSA-2048 key is for: each use has its own key, so no certificate shares its key with its
/// issuer.
#[derive(Debug, Clone, Copy)]
enum RsaUse {
    LabIssuing = 0,
    ConnectorIssuing = 1,
    ServerLeaf = 2,
    ConnectorClient = 3,
}

/// The RSA-2048 (SHA-512) key for `role`, generated once per process and reused by every factory.
///
/// Generating one costs tens of milliseconds: `egresslab score` measured three quarters of a generated
/// scenario's CPU time in RSA key generation (perf: `bn_mod_u16_consttime`, Miller-Rabin) when every
/// lab made its own. Lab certificates are throwaway test material; they need keys distinct per role
/// (a leaf must not carry its issuer's key), not per certificate. ECDSA keys, which cost microseconds,
/// stay fresh per certificate.
fn rsa_2048(role: RsaUse) -> Result<KeyPair, CertError> {
    static KEYS: [OnceLock<Vec<u8>>; 4] = [const { OnceLock::new() }; 4];
    let cell = &KEYS[role as usize];
    let der = match cell.get() {
        Some(der) => der,
        None => {
            let key = KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA512, RsaKeySize::_2048)
                .map_err(CertError::rcgen("generating an RSA key"))?;
            // Two threads may race here; the first stored key wins and both use it.
            cell.get_or_init(|| key.serialize_der())
        }
    };
    KeyPair::from_pkcs8_der_and_sign_algo(
        &PrivatePkcs8KeyDer::from(der.as_slice()),
        &rcgen::PKCS_RSA_SHA512,
    )
    .map_err(CertError::rcgen("reading the cached RSA key"))
}

impl std::fmt::Debug for Factory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Factory")
            .field("lab", &self.lab)
            .finish_non_exhaustive()
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Factory {
    /// A factory with fresh in-memory ECDSA P-256 CAs and the default name constraints.
    pub fn ephemeral() -> Result<Factory, CertError> {
        Self::ephemeral_with(&FactoryOptions::default())
    }

    /// A factory with fresh in-memory CAs built from `options`.
    pub fn ephemeral_with(options: &FactoryOptions) -> Result<Factory, CertError> {
        let p256 = &rcgen::PKCS_ECDSA_P256_SHA256;
        let lab = Authority::new_root(LAB_ROOT_CN, p256, options.name_constraints())?;
        let intermediate = lab.new_intermediate(INTERMEDIATE_CN, p256)?;
        Ok(Self::from_authorities([
            lab,
            intermediate,
            Authority::new_root(INSPECTION_CN, p256, None)?,
            Authority::new_root(UNTRUSTED_CN, p256, None)?,
            Authority::new_root(CONNECTOR_CA_CN, p256, None)?,
        ]))
    }

    /// A factory whose five CAs live under `dir`: created (keys 0600) when the directory holds
    /// none of them, loaded when it holds all of them, and an error otherwise. A corrupt or
    /// unreadable file is reported with its path, never silently replaced.
    pub fn open(dir: &Path) -> Result<Factory, CertError> {
        Self::open_with(dir, &FactoryOptions::default())
    }

    /// Like [`Factory::open`], with `options` used only if the CAs have to be created.
    pub fn open_with(dir: &Path, options: &FactoryOptions) -> Result<Factory, CertError> {
        crate::store::open(dir, options)
    }

    pub(crate) fn from_authorities(a: [Authority; 5]) -> Factory {
        let [lab, intermediate, inspection, untrusted, connector] = a;
        Factory {
            lab,
            intermediate,
            inspection,
            untrusted,
            connector,
            specials: Mutex::new(HashMap::new()),
            serials: Mutex::new(HashMap::new()),
        }
    }

    /// One of the factory's authorities.
    pub fn authority(&self, role: CaRole) -> &Authority {
        match role {
            CaRole::Lab => &self.lab,
            CaRole::Intermediate => &self.intermediate,
            CaRole::Inspection => &self.inspection,
            CaRole::Untrusted => &self.untrusted,
            CaRole::ConnectorRegistration => &self.connector,
        }
    }

    fn special(&self, which: Special) -> Result<Arc<Authority>, CertError> {
        let mut specials = lock(&self.specials);
        if let Some(a) = specials.get(&which) {
            return Ok(a.clone());
        }
        let made = match which {
            Special::P384 => self.lab.new_intermediate(
                "egresslab Lab Issuing CA P-384",
                &rcgen::PKCS_ECDSA_P384_SHA384,
            )?,
            Special::P521 => self.lab.new_intermediate(
                "egresslab Lab Issuing CA P-521",
                &rcgen::PKCS_ECDSA_P521_SHA512,
            )?,
            Special::RsaSha512 => {
                let key = rsa_2048(RsaUse::LabIssuing)?;
                self.lab
                    .new_intermediate_with_key("egresslab Lab Issuing CA RSA SHA-512", key)?
            }
            Special::Untrusted => self
                .untrusted
                .new_intermediate(UNTRUSTED_ISSUING_CN, &rcgen::PKCS_ECDSA_P256_SHA256)?,
            Special::ConnectorSha512 => {
                let key = rsa_2048(RsaUse::ConnectorIssuing)?;
                self.connector
                    .new_intermediate_with_key(CONNECTOR_ISSUING_CN, key)?
            }
            Special::Long => {
                let two = self
                    .intermediate
                    .new_intermediate("egresslab Lab Chain CA 2", &rcgen::PKCS_ECDSA_P256_SHA256)?;
                let three = two
                    .new_intermediate("egresslab Lab Chain CA 3", &rcgen::PKCS_ECDSA_P256_SHA256)?;
                three
                    .new_intermediate("egresslab Lab Chain CA 4", &rcgen::PKCS_ECDSA_P256_SHA256)?
            }
        };
        let made = Arc::new(made);
        specials.insert(which, made.clone());
        Ok(made)
    }

    /// Mints a certificate of `profile` for `hosts` (DNS names, wildcards such as
    /// `*.msappproxy.net`, or IP addresses; the first is the subject CN).
    pub fn mint(&self, profile: Profile, hosts: &[String]) -> Result<Minted, CertError> {
        if hosts.is_empty() {
            return Err(CertError::NoHost);
        }
        match profile {
            Profile::SelfSigned => return self_signed(hosts),
            Profile::ConnectorClient => return self.connector_client(hosts),
            Profile::WeakKey => return self.weak_key(hosts),
            _ => {}
        }
        let key = match profile {
            Profile::Sha384 => generate_key(&rcgen::PKCS_ECDSA_P384_SHA384)?,
            Profile::Sha512Ecdsa => generate_key(&rcgen::PKCS_ECDSA_P521_SHA512)?,
            Profile::Sha512Rsa => rsa_2048(RsaUse::ServerLeaf)?,
            _ => generate_key(&rcgen::PKCS_ECDSA_P256_SHA256)?,
        };
        let wrong;
        let names = if profile == Profile::WrongHost {
            wrong = vec![format!("wrong-host.{}", crate::LAB_SUFFIX)];
            &wrong[..]
        } else {
            hosts
        };
        let mut params = server_params(names, &key)?;
        shape(profile, &mut params);
        let issued = match profile {
            Profile::Sha384 => self.special(Special::P384)?.sign(&params, &key)?,
            Profile::Sha512Ecdsa => self.special(Special::P521)?.sign(&params, &key)?,
            Profile::Sha512Rsa => self.special(Special::RsaSha512)?.sign(&params, &key)?,
            Profile::LongChain => self.special(Special::Long)?.sign(&params, &key)?,
            Profile::UntrustedRoot => self.special(Special::Untrusted)?.sign(&params, &key)?,
            _ => self.sign_recorded(&params, &key, profile == Profile::Revoked)?,
        };
        Ok(Minted::new(
            issued,
            pkcs8(&key),
            profile != Profile::IncompleteChain,
        ))
    }

    /// Signs with the lab intermediate and records the serial for the CRL and OCSP answers.
    pub(crate) fn sign_recorded(
        &self,
        params: &CertificateParams,
        key: &impl rcgen::PublicKeyData,
        revoked: bool,
    ) -> Result<IssuedCert, CertError> {
        let issued = self.intermediate.sign(params, key)?;
        if let Some(serial) = &params.serial_number {
            let status = if revoked {
                SerialStatus::Revoked(OffsetDateTime::now_utc())
            } else {
                SerialStatus::Good
            };
            lock(&self.serials).insert(serial.to_bytes(), status);
        }
        Ok(issued)
    }

    fn weak_key(&self, hosts: &[String]) -> Result<Minted, CertError> {
        let spki = pem::parse(WEAK_PUB_PEM).map_err(|e| CertError::Parse {
            reason: e.to_string(),
        })?;
        let public = SubjectPublicKeyInfo::from_der(spki.contents())
            .map_err(CertError::rcgen("reading the weak RSA key"))?;
        let private = pem::parse(WEAK_KEY_PEM).map_err(|e| CertError::Parse {
            reason: e.to_string(),
        })?;
        let params = server_params(hosts, &public)?;
        let issued = self.sign_recorded(&params, &public, false)?;
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(private.into_contents()));
        Ok(Minted::new(issued, key, true))
    }

    fn connector_client(&self, hosts: &[String]) -> Result<Minted, CertError> {
        let key = rsa_2048(RsaUse::ConnectorClient)?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, hosts[0].as_str());
        params.distinguished_name = dn;
        let csr = params
            .serialize_request(&key)
            .map_err(CertError::rcgen("building a certificate signing request"))?;
        let csr_pem = csr
            .pem()
            .map_err(CertError::rcgen("encoding a certificate signing request"))?;
        let issued = self
            .special(Special::ConnectorSha512)?
            .sign_csr(&csr_pem, Duration::from_secs(365 * 24 * 3600))?;
        Ok(Minted::new(issued, pkcs8(&key), true))
    }
}

/// Adjusts server parameters to carry `profile`'s defect.
fn shape(profile: Profile, params: &mut CertificateParams) {
    let now = OffsetDateTime::now_utc();
    let oid = |o: &[u64]| ExtendedKeyUsagePurpose::Other(o.to_vec());
    match profile {
        Profile::Expired => {
            params.not_before = now - time::Duration::days(366);
            params.not_after = now - time::Duration::days(1);
        }
        Profile::NotYetValid => {
            params.not_before = now + time::Duration::days(30);
            params.not_after = now + time::Duration::days(395);
        }
        Profile::NoServerAuth => {
            params.extended_key_usages = vec![ExtendedKeyUsagePurpose::EmailProtection];
        }
        Profile::ClientAuth => {
            params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        }
        Profile::ConditionalAccess => {
            params.extended_key_usages = vec![
                ExtendedKeyUsagePurpose::ClientAuth,
                oid(&[1, 3, 6, 1, 4, 1, 311, 87]),
            ];
        }
        Profile::IkeMachine => {
            params.extended_key_usages = vec![
                ExtendedKeyUsagePurpose::ClientAuth,
                oid(&[1, 3, 6, 1, 5, 5, 8, 2, 2]),
            ];
        }
        Profile::NoSan => params.subject_alt_names.clear(),
        Profile::Revoked => {
            params.crl_distribution_points = vec![CrlDistributionPoint {
                uris: vec![crate::CRL_URL.to_string()],
            }];
            params
                .custom_extensions
                .push(CustomExtension::from_oid_content(
                    &[1, 3, 6, 1, 5, 5, 7, 1, 1],
                    aia_ocsp(crate::OCSP_URL),
                ));
        }
        _ => {}
    }
}

fn self_signed(hosts: &[String]) -> Result<Minted, CertError> {
    let key = generate_key(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    let mut params = server_params(hosts, &key)?;
    params.use_authority_key_identifier_extension = false;
    let cert = params
        .self_signed(&key)
        .map_err(CertError::rcgen("self-signing a leaf"))?;
    let der = cert.der().clone();
    let issued = IssuedCert {
        full_chain: vec![der.clone()],
        root: der,
    };
    Ok(Minted::new(issued, pkcs8(&key), true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_profile_mints_and_reads_back() {
        let factory = Factory::ephemeral().unwrap();
        let hosts = vec!["app.msappproxy.net".to_string()];
        for profile in Profile::ALL {
            let minted = factory
                .mint(*profile, &hosts)
                .unwrap_or_else(|e| panic!("{profile}: {e}"));
            let info = minted.info().unwrap_or_else(|e| panic!("{profile}: {e}"));
            assert!(!info.is_ca, "{profile}");
            assert_eq!(info.thumbprint_sha1.len(), 40, "{profile}");
            println!(
                "{profile}: {} {} {:?} chain {}",
                info.key_type,
                info.signature_algorithm,
                info.ekus,
                minted.full_chain.len()
            );
        }
    }

    #[test]
    fn no_host_is_an_error() {
        let factory = Factory::ephemeral().unwrap();
        assert!(matches!(
            factory.mint(Profile::Valid, &[]),
            Err(CertError::NoHost)
        ));
    }
}
