//! TLS handshakes that record what the server presented: a verifier that keeps the chain (the chain is
//! judged afterwards by the verification layer (`check::verify::chain`), so one handshake yields the exact reason), and a client
//! certificate resolver that notes whether the server asked for one.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::ResolvesClientCert;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::sign::CertifiedKey;
use rustls::{AlertDescription, DigitallySignedStruct, ProtocolVersion, SignatureScheme};

use super::tcp::{BoxIo, Counting};
use crate::check::config::{ClientConfig, TlsVersions};

/// The aws-lc-rs provider every check uses.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

#[derive(Debug)]
struct Recorder {
    chain: Mutex<Vec<CertificateDer<'static>>>,
    provider: Arc<CryptoProvider>,
    /// Only these signature schemes are offered, when set (to learn how far a server gets).
    only: Option<Vec<SignatureScheme>>,
}

/// Signature schemes of one key family, for handshakes that offer only that family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyFamily {
    /// ECDSA and EdDSA.
    Ecdsa,
    /// RSA (PKCS#1 v1.5 and PSS).
    Rsa,
}

impl std::fmt::Display for KeyFamily {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            KeyFamily::Ecdsa => "ECDSA",
            KeyFamily::Rsa => "RSA",
        })
    }
}

impl KeyFamily {
    /// The schemes of the family.
    pub fn schemes(self) -> Vec<SignatureScheme> {
        match self {
            KeyFamily::Ecdsa => vec![
                SignatureScheme::ECDSA_NISTP256_SHA256,
                SignatureScheme::ECDSA_NISTP384_SHA384,
                SignatureScheme::ECDSA_NISTP521_SHA512,
                SignatureScheme::ED25519,
            ],
            KeyFamily::Rsa => vec![
                SignatureScheme::RSA_PSS_SHA256,
                SignatureScheme::RSA_PSS_SHA384,
                SignatureScheme::RSA_PSS_SHA512,
                SignatureScheme::RSA_PKCS1_SHA256,
                SignatureScheme::RSA_PKCS1_SHA384,
                SignatureScheme::RSA_PKCS1_SHA512,
            ],
        }
    }
}

impl ServerCertVerifier for Recorder {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let mut chain = vec![end_entity.clone().into_owned()];
        chain.extend(intermediates.iter().map(|c| c.clone().into_owned()));
        if let Ok(mut slot) = self.chain.lock() {
            *slot = chain;
        }
        // The chain is judged after the handshake, with the exact reason; here it is only recorded.
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        let all = self
            .provider
            .signature_verification_algorithms
            .supported_schemes();
        match &self.only {
            Some(only) => all.into_iter().filter(|s| only.contains(s)).collect(),
            None => all,
        }
    }
}

#[derive(Debug)]
struct ClientCertRecorder {
    key: Option<Arc<CertifiedKey>>,
    requested: AtomicBool,
}

impl ResolvesClientCert for ClientCertRecorder {
    fn resolve(&self, _hints: &[&[u8]], _schemes: &[SignatureScheme]) -> Option<Arc<CertifiedKey>> {
        self.requested.store(true, Ordering::Relaxed);
        self.key.clone()
    }
    fn has_certs(&self) -> bool {
        true
    }
}

/// How a handshake ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HsOutcome {
    /// Completed.
    Ok,
    /// The server sent this alert.
    Alert(AlertDescription),
    /// No version or cipher in common (detected locally).
    Incompatible(String),
    /// Reset or closed by the peer (or a middlebox).
    Cut(String),
    /// Timed out.
    Timeout,
    /// Anything else.
    Other(String),
}

/// Everything one handshake showed.
pub struct Handshake {
    /// How it ended.
    pub outcome: HsOutcome,
    /// Negotiated version, when completed.
    pub version: Option<ProtocolVersion>,
    /// The chain the server presented (empty if never seen).
    pub chain: Vec<CertificateDer<'static>>,
    /// Whether the server asked for a client certificate.
    pub client_cert_requested: bool,
    /// Whether the client had one to send.
    pub client_cert_offered: bool,
    /// Bytes received from the server during the handshake.
    pub server_bytes: u64,
    /// How long it took.
    pub elapsed: Duration,
    /// The open stream, when completed.
    pub stream: Option<tokio_rustls::client::TlsStream<Counting>>,
}

impl std::fmt::Debug for Handshake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handshake")
            .field("outcome", &self.outcome)
            .field("version", &self.version)
            .field("chain_len", &self.chain.len())
            .finish()
    }
}

impl Handshake {
    /// "TLS 1.2" / "TLS 1.3".
    pub fn version_name(&self) -> String {
        match self.version {
            Some(ProtocolVersion::TLSv1_2) => "TLS 1.2".into(),
            Some(ProtocolVersion::TLSv1_3) => "TLS 1.3".into(),
            Some(v) => format!("{v:?}"),
            None => "none".into(),
        }
    }
}

/// Classify an I/O error from a TLS stream.
pub fn classify_io(e: &std::io::Error) -> HsOutcome {
    if let Some(inner) = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
        return match inner {
            rustls::Error::AlertReceived(a) => HsOutcome::Alert(*a),
            rustls::Error::PeerIncompatible(p) => HsOutcome::Incompatible(format!("{p:?}")),
            other => HsOutcome::Other(other.to_string()),
        };
    }
    match e.kind() {
        std::io::ErrorKind::UnexpectedEof
        | std::io::ErrorKind::ConnectionReset
        | std::io::ErrorKind::BrokenPipe
        | std::io::ErrorKind::ConnectionAborted => HsOutcome::Cut(e.to_string()),
        _ => HsOutcome::Other(e.to_string()),
    }
}

/// Run one handshake over `io` to `host` offering `versions`; with the client's certificate when
/// `with_client_cert` and the client has one.
pub async fn handshake(
    config: &ClientConfig,
    io: BoxIo,
    host: &str,
    versions: TlsVersions,
    with_client_cert: bool,
) -> Handshake {
    handshake_offering(config, io, host, versions, with_client_cert, None).await
}

/// Like [`handshake`], offering only the signature schemes of `family` when given: a server whose key
/// is of another family must refuse right after the ClientHello, before sending its certificate.
pub async fn handshake_offering(
    config: &ClientConfig,
    io: BoxIo,
    host: &str,
    versions: TlsVersions,
    with_client_cert: bool,
    family: Option<KeyFamily>,
) -> Handshake {
    let start = Instant::now();
    let provider = provider();
    let recorder = Arc::new(Recorder {
        chain: Mutex::new(Vec::new()),
        provider: provider.clone(),
        only: family.map(KeyFamily::schemes),
    });
    let key = match (&config.client_cert, with_client_cert) {
        (Some(cc), true) => match provider.key_provider.load_private_key(cc.key.clone_key()) {
            Ok(signing) => Some(Arc::new(CertifiedKey::new(cc.chain.clone(), signing))),
            Err(e) => {
                tracing::warn!(error = %e, "client key unusable; going without");
                None
            }
        },
        _ => None,
    };
    let offered = key.is_some();
    let resolver = Arc::new(ClientCertRecorder {
        key,
        requested: AtomicBool::new(false),
    });
    let fail = |outcome: HsOutcome| Handshake {
        outcome,
        version: None,
        chain: Vec::new(),
        client_cert_requested: false,
        client_cert_offered: offered,
        server_bytes: 0,
        elapsed: start.elapsed(),
        stream: None,
    };
    let list: &[&'static rustls::SupportedProtocolVersion] = match versions {
        TlsVersions::Both => &[&rustls::version::TLS13, &rustls::version::TLS12],
        TlsVersions::Tls12Only => &[&rustls::version::TLS12],
        TlsVersions::Tls13Only => &[&rustls::version::TLS13],
    };
    let builder =
        match rustls::ClientConfig::builder_with_provider(provider).with_protocol_versions(list) {
            Ok(b) => b,
            Err(e) => return fail(HsOutcome::Other(e.to_string())),
        };
    let mut tls = builder
        .dangerous()
        .with_custom_certificate_verifier(recorder.clone())
        .with_client_cert_resolver(resolver.clone());
    // SSLKEYLOGFILE, when set, gets this handshake's secrets (a no-op otherwise).
    tls.key_log = Arc::new(rustls::KeyLogFile::new());
    let name = match ServerName::try_from(host.trim_matches(['[', ']']).to_string()) {
        Ok(n) => n,
        Err(e) => return fail(HsOutcome::Other(format!("bad server name {host}: {e}"))),
    };
    let counter = Arc::new(AtomicU64::new(0));
    let io = Counting::new(io, counter.clone());
    let connector = tokio_rustls::TlsConnector::from(Arc::new(tls));
    let result = tokio::time::timeout(config.io_timeout, connector.connect(name, io)).await;
    let chain = recorder.chain.lock().map(|c| c.clone()).unwrap_or_default();
    let mut hs = Handshake {
        outcome: HsOutcome::Ok,
        version: None,
        chain,
        client_cert_requested: resolver.requested.load(Ordering::Relaxed),
        client_cert_offered: offered,
        server_bytes: counter.load(Ordering::Relaxed),
        elapsed: start.elapsed(),
        stream: None,
    };
    match result {
        Err(_) => hs.outcome = HsOutcome::Timeout,
        Ok(Err(e)) => hs.outcome = classify_io(&e),
        Ok(Ok(s)) => {
            hs.version = s.get_ref().1.protocol_version();
            hs.stream = Some(s);
        }
    }
    hs
}

/// A one-line description of an outcome for evidence.
pub fn describe(outcome: &HsOutcome) -> String {
    match outcome {
        HsOutcome::Ok => "handshake completed".into(),
        HsOutcome::Alert(a) => format!("server sent alert {a:?}"),
        HsOutcome::Incompatible(p) => format!("no common parameters: {p}"),
        HsOutcome::Cut(e) => format!("connection cut: {e}"),
        HsOutcome::Timeout => "handshake timed out".into(),
        HsOutcome::Other(e) => e.clone(),
    }
}
