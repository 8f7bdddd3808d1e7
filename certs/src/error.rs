//! The one error type of the certificate factory.

use std::path::PathBuf;

/// Everything that can go wrong while minting, loading, exporting or inspecting certificates.
#[non_exhaustive]
#[derive(thiserror::Error, Debug)]
pub enum CertError {
    /// rcgen refused to build or sign a certificate, key, CSR or CRL.
    #[error("certificate generation failed while {context}")]
    Rcgen {
        /// What the factory was doing.
        context: &'static str,
        /// The rcgen error.
        #[source]
        source: rcgen::Error,
    },
    /// A file or directory could not be read, written or created.
    #[error("cannot access {path}")]
    Unreadable {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A persisted CA file exists but its content is not what the factory wrote.
    #[error("corrupt certificate authority file {path}: {reason}")]
    CorruptFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
        /// The parser error, when there is one.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// The CA directory holds some of the expected files but not all; the factory refuses to
    /// regenerate because that would invalidate certificates a user already trusts.
    #[error("certificate authority directory is incomplete: {missing} is missing (remove the directory to start over)")]
    IncompleteStore {
        /// The missing file.
        missing: PathBuf,
    },
    /// A profile name did not match any profile.
    #[error("unknown certificate profile {name:?}; expected one of: {expected}")]
    UnknownProfile {
        /// The name given.
        name: String,
        /// The accepted names.
        expected: &'static str,
    },
    /// A CA role name did not match any role.
    #[error("unknown certificate authority role {name:?}; expected one of: {expected}")]
    UnknownRole {
        /// The name given.
        name: String,
        /// The accepted names.
        expected: &'static str,
    },
    /// Minting needs at least one host name.
    #[error("no host name given; a certificate needs at least one")]
    NoHost,
    /// A host name or IP address cannot be put in a certificate.
    #[error("invalid host name {host:?}")]
    InvalidHost {
        /// The offending name.
        host: String,
        /// The rcgen error.
        #[source]
        source: rcgen::Error,
    },
    /// Bytes that should be a certificate could not be parsed.
    #[error("cannot parse certificate: {reason}")]
    Parse {
        /// What the parser said.
        reason: String,
    },
    /// A file held no certificate at all.
    #[error("no certificate found in {path}")]
    NoCertificate {
        /// The file.
        path: PathBuf,
    },
    /// A PKCS#12 file could not be written or opened (wrong password, bad MAC, unsupported cipher).
    #[error("PKCS#12 {operation} failed: {reason}")]
    Pkcs12 {
        /// "export" or "import".
        operation: &'static str,
        /// What the PKCS#12 library said.
        reason: String,
    },
    /// A PKCS#12 file whose integrity check (MAC) fails with every password tried: the password is
    /// wrong.
    #[error("{path}: wrong PKCS#12 password (the MAC does not match with {tried})")]
    Pkcs12Password {
        /// The file.
        path: PathBuf,
        /// Which passwords were tried, in words.
        tried: &'static str,
    },
    /// A file read as PEM (text, or named `.pem`) that holds no readable PEM block.
    #[error("{path} is not a PEM certificate file: {reason}")]
    NotPem {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// An extended key usage was not a dotted object identifier.
    #[error(
        "invalid object identifier {oid:?}; expected dotted decimal such as 1.3.6.1.5.5.7.3.1"
    )]
    InvalidOid {
        /// The text given.
        oid: String,
    },
    /// An OCSP request could not be decoded.
    #[error("malformed OCSP request: {reason}")]
    OcspRequest {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A key type cannot sign the structure the factory needs (for example an OCSP response).
    #[error("unsupported signing key for {what}")]
    UnsupportedKey {
        /// The structure.
        what: &'static str,
    },
}

impl CertError {
    pub(crate) fn rcgen(context: &'static str) -> impl FnOnce(rcgen::Error) -> CertError {
        move |source| CertError::Rcgen { context, source }
    }

    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> CertError {
        let path = path.into();
        move |source| CertError::Unreadable { path, source }
    }
}
