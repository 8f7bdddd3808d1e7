//! One certificate authority: its certificate, its signing key and the chain above it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, CertificateSigningRequestParams, DistinguishedName,
    DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, NameConstraints,
    PublicKeyData, SerialNumber,
};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::minted::{IssuedCert, Minted};
use crate::CertError;

/// How far back `not_before` is set on fresh certificates, so clients with a slightly slow clock
/// still accept them.
pub(crate) const BACKDATE: time::Duration = time::Duration::days(1);
/// Lifetime of lab CAs.
const CA_LIFETIME: time::Duration = time::Duration::days(3650);
/// Lifetime of leaf certificates.
pub(crate) const LEAF_LIFETIME: time::Duration = time::Duration::days(365);

/// A certificate authority the factory can sign with: its certificate, its key, and the
/// certificates between it and its root.
pub struct Authority {
    common_name: String,
    issuer: Issuer<'static, KeyPair>,
    cert: CertificateDer<'static>,
    /// Intermediates above this authority, nearest first, without the root.
    parents: Vec<CertificateDer<'static>>,
    root: CertificateDer<'static>,
}

impl std::fmt::Debug for Authority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authority")
            .field("common_name", &self.common_name)
            .field("depth", &self.parents.len())
            .finish_non_exhaustive()
    }
}

/// A serial number that is positive, 16 bytes long and without a leading zero byte, so its hex
/// form is stable across parsers.
pub(crate) fn fresh_serial(key: &impl PublicKeyData) -> SerialNumber {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = Sha256::new();
    hasher.update(COUNTER.fetch_add(1, Ordering::Relaxed).to_be_bytes());
    hasher.update(std::process::id().to_be_bytes());
    hasher.update(
        OffsetDateTime::now_utc()
            .unix_timestamp_nanos()
            .to_be_bytes(),
    );
    hasher.update(key.subject_public_key_info());
    let digest = hasher.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    bytes[0] = (bytes[0] & 0x7f) | 0x40;
    SerialNumber::from_slice(&bytes)
}

fn ca_params(common_name: &str, key: &KeyPair) -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "egresslab");
    dn.push(DnType::CommonName, common_name);
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let now = OffsetDateTime::now_utc();
    params.not_before = now - BACKDATE;
    params.not_after = now + CA_LIFETIME;
    params.serial_number = Some(fresh_serial(key));
    params
}

pub(crate) fn generate_key(alg: &'static rcgen::SignatureAlgorithm) -> Result<KeyPair, CertError> {
    KeyPair::generate_for(alg).map_err(CertError::rcgen("generating a key pair"))
}

impl Authority {
    /// A fresh self-signed root.
    pub(crate) fn new_root(
        common_name: &str,
        alg: &'static rcgen::SignatureAlgorithm,
        constraints: Option<NameConstraints>,
    ) -> Result<Authority, CertError> {
        let key = generate_key(alg)?;
        let mut params = ca_params(common_name, &key);
        params.name_constraints = constraints;
        let cert = params
            .self_signed(&key)
            .map_err(CertError::rcgen("self-signing a root"))?;
        let cert = cert.der().clone();
        Ok(Authority {
            common_name: common_name.to_string(),
            issuer: Issuer::new(params, key),
            root: cert.clone(),
            cert,
            parents: Vec::new(),
        })
    }

    /// A fresh intermediate signed by `self`, with a key made for `alg`.
    pub(crate) fn new_intermediate(
        &self,
        common_name: &str,
        alg: &'static rcgen::SignatureAlgorithm,
    ) -> Result<Authority, CertError> {
        self.new_intermediate_with_key(common_name, generate_key(alg)?)
    }

    /// A fresh intermediate signed by `self` around an existing key.
    pub(crate) fn new_intermediate_with_key(
        &self,
        common_name: &str,
        key: KeyPair,
    ) -> Result<Authority, CertError> {
        let mut params = ca_params(common_name, &key);
        params.use_authority_key_identifier_extension = true;
        let cert = params
            .signed_by(&key, &self.issuer)
            .map_err(CertError::rcgen("signing an intermediate"))?;
        let cert = cert.der().clone();
        let mut parents = Vec::with_capacity(self.parents.len() + 1);
        if !self.is_root() {
            parents.push(self.cert.clone());
        }
        parents.extend(self.parents.iter().cloned());
        Ok(Authority {
            common_name: common_name.to_string(),
            issuer: Issuer::new(params, key),
            cert,
            parents,
            root: self.root.clone(),
        })
    }

    /// An authority rebuilt from a persisted certificate and key.
    pub(crate) fn from_parts(
        cert: CertificateDer<'static>,
        key: KeyPair,
        parent: Option<&Authority>,
    ) -> Result<Authority, rcgen::Error> {
        let issuer = Issuer::from_ca_cert_der(&cert, key)?;
        let common_name = crate::inspect::common_name_of(&cert).unwrap_or_default();
        let (parents, root) = match parent {
            None => (Vec::new(), cert.clone()),
            Some(p) => {
                let mut parents = Vec::new();
                if !p.is_root() {
                    parents.push(p.cert.clone());
                }
                parents.extend(p.parents.iter().cloned());
                (parents, p.root.clone())
            }
        };
        Ok(Authority {
            common_name,
            issuer,
            cert,
            parents,
            root,
        })
    }

    fn is_root(&self) -> bool {
        self.cert == self.root
    }

    /// The authority's own certificate (DER).
    pub fn cert_der(&self) -> &CertificateDer<'static> {
        &self.cert
    }

    /// The authority's own certificate as PEM, ready for a trust store.
    pub fn cert_pem(&self) -> String {
        crate::minted::to_pem("CERTIFICATE", &self.cert)
    }

    /// The subject common name of the authority.
    pub fn common_name(&self) -> &str {
        &self.common_name
    }

    /// The root this authority chains to (itself for a root).
    pub fn root_der(&self) -> &CertificateDer<'static> {
        &self.root
    }

    pub(crate) fn issuer(&self) -> &Issuer<'static, KeyPair> {
        &self.issuer
    }

    pub(crate) fn key(&self) -> &KeyPair {
        self.issuer.key()
    }

    /// Persistable PKCS#8 PEM of the signing key.
    pub(crate) fn key_pem(&self) -> String {
        self.issuer.key().serialize_pem()
    }

    /// Signs `params` over `public_key` and wraps the result with this authority's chain.
    pub(crate) fn sign(
        &self,
        params: &CertificateParams,
        public_key: &impl PublicKeyData,
    ) -> Result<IssuedCert, CertError> {
        let cert = params
            .signed_by(public_key, &self.issuer)
            .map_err(CertError::rcgen("signing a certificate"))?;
        Ok(self.wrap(cert.der().clone()))
    }

    fn wrap(&self, leaf: CertificateDer<'static>) -> IssuedCert {
        let mut full_chain = Vec::with_capacity(self.parents.len() + 2);
        full_chain.push(leaf);
        if !self.is_root() {
            full_chain.push(self.cert.clone());
        }
        full_chain.extend(self.parents.iter().cloned());
        IssuedCert {
            full_chain,
            root: self.root.clone(),
        }
    }

    /// Fast path for TLS interception: an ECDSA P-256 server certificate for `host` (a DNS name,
    /// wildcard or IP address) with the server-auth EKU, valid from a day ago for a year.
    pub fn issue_server_leaf(&self, host: &str) -> Result<Minted, CertError> {
        let key = generate_key(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let params = crate::leaf::server_params(&[host.to_string()], &key)?;
        let issued = self.sign(&params, &key)?;
        Ok(Minted::new(issued, pkcs8(&key), true))
    }

    /// Connector registration: signs the PEM certificate signing request with this authority,
    /// producing a client-auth certificate valid for `validity` from a day ago. The subject
    /// and public key come from the CSR; everything else is decided here.
    pub fn sign_csr(&self, csr_pem: &str, validity: Duration) -> Result<IssuedCert, CertError> {
        let mut csr = CertificateSigningRequestParams::from_pem(csr_pem)
            .map_err(CertError::rcgen("parsing a certificate signing request"))?;
        let now = OffsetDateTime::now_utc();
        let lifetime = time::Duration::try_from(validity).unwrap_or(LEAF_LIFETIME);
        let params = &mut csr.params;
        params.is_ca = IsCa::NoCa;
        params.not_before = now - BACKDATE;
        params.not_after = now + lifetime;
        params.serial_number = Some(fresh_serial(&csr.public_key));
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.use_authority_key_identifier_extension = true;
        params.name_constraints = None;
        let cert = csr
            .signed_by(&self.issuer)
            .map_err(CertError::rcgen("signing a certificate signing request"))?;
        Ok(self.wrap(cert.der().clone()))
    }
}

pub(crate) fn pkcs8(key: &KeyPair) -> PrivateKeyDer<'static> {
    PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()))
}
