//! The egresslab certificate factory: lab CAs and leaf certificates minted from named profiles,
//! exports (PEM, DER, PKCS#12), revocation data (CRL, OCSP) and inspection of any certificate.
//! No networking.

#![warn(missing_docs)]

mod authority;
mod constraints;
pub mod der;
mod error;
mod factory;
pub mod fs;
mod inspect;
mod leaf;
mod minted;
mod options;
mod profile;
mod revocation;
mod spec;
mod store;

pub use authority::Authority;
pub use constraints::{outside_name_constraints, OutsideConstraints};
pub use error::CertError;
pub use factory::{Factory, CONNECTOR_CA_CN};
pub use inspect::{inspect, inspect_file, CertInfo, DEFAULT_PFX_PASSWORD};
pub use minted::{write_file, IssuedCert, Minted, WrittenFiles};
pub use options::{FactoryOptions, DEFAULT_PERMITTED_DNS};
pub use profile::{CaRole, Profile};
pub use rustls_pki_types::{CertificateDer, PrivateKeyDer};
pub use spec::LeafSpec;

/// Extended key usage id-kp-serverAuth.
pub const EKU_SERVER_AUTH: &str = "1.3.6.1.5.5.7.3.1";
/// Extended key usage id-kp-clientAuth.
pub const EKU_CLIENT_AUTH: &str = "1.3.6.1.5.5.7.3.2";
/// Microsoft's "AAD Conditional Access" EKU, carried by conditional-access client certificates.
pub const EKU_AAD_CONDITIONAL_ACCESS: &str = "1.3.6.1.4.1.311.87";
/// "IP security IKE intermediate" EKU, expected on IKEv2 machine certificates.
pub const EKU_IKE_INTERMEDIATE: &str = "1.3.6.1.5.5.8.2.2";
/// The lab-reserved DNS suffix (`.test` is reserved by RFC 2606, so it never leaks).
pub const LAB_SUFFIX: &str = "egresslab.test";
/// CRL distribution point embedded in `Revoked` certificates.
pub const CRL_URL: &str = "http://crl.egresslab.test/lab.crl";
/// OCSP responder URL embedded (authority information access) in `Revoked` certificates.
pub const OCSP_URL: &str = "http://ocsp.egresslab.test/";

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn factory_is_send_and_sync() {
        assert_send_sync::<Factory>();
        assert_send_sync::<Minted>();
    }
}
