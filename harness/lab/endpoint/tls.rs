//! TLS for endpoints: a rustls server configuration from a certificate profile, versions and an
//! optional client-certificate requirement, and the timeline's words for how a handshake ended.

use std::sync::Arc;

use egresslab_certs::Factory;
use rustls::server::{ServerConnection, WebPkiClientVerifier};
use rustls::{CertificateError, RootCertStore, ServerConfig};

use crate::lab::error::LabError;
use crate::lab::plan::{EndpointPlan, TlsPlan, TlsVersions};

/// A ready server configuration and the subject of the certificate it serves.
#[derive(Debug, Clone)]
pub(crate) struct TlsSetup {
    pub(crate) config: Arc<ServerConfig>,
    pub(crate) served: String,
    /// The leaf certificate served (read back through [`super::EndpointHandle::certificate`]).
    pub(crate) leaf: Option<rustls_pki_types::CertificateDer<'static>>,
}

/// Build the endpoint's TLS configuration with a freshly minted certificate.
pub(crate) fn setup(
    plan: &EndpointPlan,
    tls: &TlsPlan,
    factory: &Factory,
) -> Result<TlsSetup, LabError> {
    let minted = factory
        .mint(tls.profile, &plan.hosts)
        .map_err(|source| LabError::Mint {
            endpoint: plan.name.clone(),
            profile: tls.profile,
            source,
        })?;
    let served = minted
        .served_chain
        .first()
        .map(|leaf| format!("{} (profile {})", subject(leaf), tls.profile.name()))
        .unwrap_or_default();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let versions: &[&rustls::SupportedProtocolVersion] = match tls.versions {
        TlsVersions::Both => &[&rustls::version::TLS13, &rustls::version::TLS12],
        TlsVersions::Tls12Only => &[&rustls::version::TLS12],
        TlsVersions::Tls13Only => &[&rustls::version::TLS13],
    };
    let tls_error = |source| LabError::Tls {
        endpoint: plan.name.clone(),
        source,
    };
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)
        .map_err(tls_error)?;
    let builder = match &tls.client_auth {
        None => builder.with_no_client_auth(),
        Some(client_auth) => {
            let mut roots = RootCertStore::empty();
            roots
                .add(factory.authority(client_auth.ca).cert_der().clone())
                .map_err(tls_error)?;
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|source| LabError::ClientVerifier {
                    endpoint: plan.name.clone(),
                    source,
                })?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let leaf = minted.served_chain.first().cloned();
    let mut config = builder
        .with_single_cert(minted.served_chain, minted.key)
        .map_err(tls_error)?;
    // h2 first: a client that offers it gets HTTP/2 (hyper's auto server speaks both). Not where
    // a client certificate is required: TLS 1.3 refuses a missing one after the handshake, and
    // curl 7.88 speaking h2 then reports exit 55 "getpeername() failed" instead of the alert
    // (exit 56) that names the cause; those endpoints stay HTTP/1.1 (docs/http.md).
    config.alpn_protocols = match tls.client_auth {
        None => vec![b"h2".to_vec(), b"http/1.1".to_vec()],
        Some(_) => vec![b"http/1.1".to_vec()],
    };
    Ok(TlsSetup {
        config: Arc::new(config),
        served,
        leaf,
    })
}

/// The subject of a DER certificate in RFC 4514 words, or an empty string.
pub(crate) fn subject(der: &[u8]) -> String {
    x509_parser::parse_x509_certificate(der)
        .map(|(_, cert)| cert.subject().to_string())
        .unwrap_or_default()
}

/// `TLSv1.2` / `TLSv1.3` for the negotiated version.
pub(crate) fn version_name(connection: &ServerConnection) -> String {
    match connection.protocol_version() {
        Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3".to_owned(),
        Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2".to_owned(),
        Some(other) => format!("{other:?}"),
        None => "unknown".to_owned(),
    }
}

/// Why a handshake failed, in the words a reader of the timeline needs (client certificate missing,
/// expired, from another CA, or the TLS error itself).
pub(crate) fn failure(error: &std::io::Error) -> String {
    let tls = error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>());
    match tls {
        Some(rustls::Error::NoCertificatesPresented) => "client certificate missing".to_owned(),
        Some(rustls::Error::InvalidCertificate(reason)) => match reason {
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                "client certificate expired".to_owned()
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                "client certificate not yet valid".to_owned()
            }
            CertificateError::UnknownIssuer => {
                "client certificate issued by a CA the endpoint does not trust".to_owned()
            }
            other => format!("client certificate rejected: {other:?}"),
        },
        Some(other) => other.to_string(),
        None => error.to_string(),
    }
}
