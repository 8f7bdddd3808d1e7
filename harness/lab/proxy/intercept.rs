//! TLS for the proxy: the `https://` listener, and interception of CONNECT tunnels with leaf
//! certificates from the interception CA (see [`super::authority`]).
//!
//! The proxy opens its own TLS session to the origin without any client certificate, so an origin
//! that requires one refuses: the failure TLS inspection causes for certificate-authenticated clients.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use egresslab_certs::{CaRole, CertError, Factory, Profile};
use rustls::client::ResolvesClientCert;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::ServerName;
use rustls::server::Acceptor;
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, RootCertStore, ServerConfig, SignatureScheme};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::{LazyConfigAcceptor, TlsConnector};

use crate::lab::timeline::EventKind;

use super::answers::Failure;
use super::authority::CertificateAuthority;
use super::tunnel::{relay, Prefixed, Relayed};
use super::{tls_version, Proxy};

/// Why TLS could not be set up for a proxy: its `https://` listener, its interception CA, or one
/// interception leaf.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProxyTlsError {
    /// The certificate could not be minted.
    #[error("cannot mint a certificate for {host}")]
    Mint {
        /// The host the certificate was for.
        host: String,
        /// The cause.
        #[source]
        source: CertError,
    },
    /// rustls refused the configuration.
    #[error("cannot build a TLS configuration")]
    Rustls(#[source] rustls::Error),
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// A server configuration serving `chain` with `key` over TLS 1.2 and 1.3.
pub(crate) fn server_config(
    minted: egresslab_certs::Minted,
    alpn: &[&[u8]],
) -> Result<ServerConfig, ProxyTlsError> {
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(ProxyTlsError::Rustls)?
        .with_no_client_auth()
        .with_single_cert(minted.served_chain, minted.key)
        .map_err(ProxyTlsError::Rustls)?;
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(config)
}

/// The configuration of an `https://` proxy listener: a certificate of `profile` for the loopback
/// names a client uses to reach the proxy.
pub(crate) fn listener_config(
    certs: &Factory,
    profile: Profile,
) -> Result<Arc<ServerConfig>, ProxyTlsError> {
    let hosts = ["127.0.0.1", "::1", "localhost"].map(str::to_owned);
    let minted = certs
        .mint(profile, &hosts)
        .map_err(|source| ProxyTlsError::Mint {
            host: hosts.join(", "),
            source,
        })?;
    Ok(Arc::new(server_config(minted, &[b"http/1.1"])?))
}

/// Serves interception certificates from a [`CertificateAuthority`]; connects to origins as a TLS
/// client trusting every authority of the lab.
pub(crate) struct Interceptor {
    authority: Arc<dyn CertificateAuthority>,
    client: Arc<ClientConfig>,
}

impl Interceptor {
    /// An interceptor serving leaves from `authority` and trusting every authority of `certs` for
    /// its origin connections.
    pub(crate) fn new(
        certs: &Factory,
        authority: Arc<dyn CertificateAuthority>,
    ) -> Result<Self, ProxyTlsError> {
        let mut roots = RootCertStore::empty();
        for role in CaRole::ALL {
            let ca = certs.authority(*role);
            // A CA the store cannot parse is simply not trusted; the origin handshake then says why.
            let _ = roots.add(ca.root_der().clone());
            let _ = roots.add(ca.cert_der().clone());
        }
        let client = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(ProxyTlsError::Rustls)?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Interceptor {
            authority,
            client: Arc::new(client),
        })
    }

    /// The inspection CA's common name (recorded as the issuer of what the client is served).
    pub(crate) fn issuer(&self) -> &str {
        self.authority.issuer()
    }

    /// The server configuration for `host`, from the authority (and its cache).
    pub(crate) fn server_config(&self, host: &str) -> Result<Arc<ServerConfig>, ProxyTlsError> {
        self.authority.server_config(host)
    }

    /// A client configuration for one origin connection offering `alpn` (what the client
    /// offered), and a flag that turns true when the origin asks for a client certificate (which
    /// the proxy never has).
    pub(crate) fn client_config(&self, alpn: &[Vec<u8>]) -> (Arc<ClientConfig>, Arc<AtomicBool>) {
        let asked = Arc::new(AtomicBool::new(false));
        let mut config = (*self.client).clone();
        config.alpn_protocols = alpn.to_vec();
        config.client_auth_cert_resolver = Arc::new(NoClientCert {
            asked: Arc::clone(&asked),
        });
        (Arc::new(config), asked)
    }

    /// The SNI to send for `host`.
    pub(crate) fn server_name(host: &str) -> Option<ServerName<'static>> {
        ServerName::try_from(host.to_owned()).ok()
    }
}

/// A client-certificate resolver that has nothing to offer but notes that it was asked.
#[derive(Debug)]
struct NoClientCert {
    asked: Arc<AtomicBool>,
}

impl ResolvesClientCert for NoClientCert {
    fn resolve(&self, _hints: &[&[u8]], _schemes: &[SignatureScheme]) -> Option<Arc<CertifiedKey>> {
        self.asked.store(true, Ordering::Relaxed);
        None
    }

    fn has_certs(&self) -> bool {
        false
    }
}

/// The ALPN name of HTTP/1.1.
const HTTP11: &[u8] = b"http/1.1";

/// `config` offering exactly `alpn` (empty: no ALPN, the client speaks HTTP/1.1).
fn with_alpn(config: &Arc<ServerConfig>, alpn: Vec<Vec<u8>>) -> Arc<ServerConfig> {
    if config.alpn_protocols == alpn {
        return Arc::clone(config);
    }
    let mut config = (**config).clone();
    config.alpn_protocols = alpn;
    Arc::new(config)
}

/// The first byte of a TLS handshake record.
const TLS_HANDSHAKE: u8 = 0x16;

fn ended(reason: impl Into<String>) -> Relayed {
    Relayed {
        up: 0,
        down: 0,
        reason: reason.into(),
    }
}

/// After `200 Connection established`: peek at the client's first bytes; a TLS ClientHello is
/// terminated with an inspection leaf for `host` and relayed over the proxy's own TLS session to the
/// origin, anything else is tunnelled blind.
pub(crate) async fn intercept<C>(
    proxy: &Proxy,
    interceptor: &Interceptor,
    mut client: C,
    origin: TcpStream,
    host: &str,
    target: &str,
) -> Relayed
where
    C: AsyncRead + AsyncWrite + Unpin + Send,
{
    let mut first = vec![0u8; 1024];
    let peeked = tokio::select! {
        () = proxy.shutdown.cancelled() => return ended("shutdown"),
        read = tokio::time::timeout(proxy.plan.header_timeout, client.read(&mut first)) => read,
    };
    let n = match peeked {
        Err(_) => return ended("client sent nothing in the tunnel"),
        Ok(Err(error)) => return ended(format!("client error: {error}")),
        Ok(Ok(0)) => return ended("client closed"),
        Ok(Ok(n)) => n,
    };
    first.truncate(n);
    if first[0] != TLS_HANDSHAKE {
        proxy.record(EventKind::Note {
            message: format!(
                "tunnel to {target} does not start with TLS: relayed without inspection"
            ),
        });
        return relay(Prefixed::new(first, client), origin, &proxy.shutdown).await;
    }
    // Read the ClientHello first: the origin is offered the protocols the client offers (h2,
    // http/1.1), and the client is then given what the origin chose, so the relay carries one
    // protocol end to end (as mitmproxy does). HTTP/2 passes through unchanged.
    let start = LazyConfigAcceptor::new(Acceptor::default(), Prefixed::new(first, client));
    let started = tokio::select! {
        () = proxy.shutdown.cancelled() => return ended("shutdown"),
        started = tokio::time::timeout(proxy.plan.header_timeout, start) => started,
    };
    let start = match started {
        Ok(Ok(start)) => start,
        Ok(Err(error)) => {
            proxy.record(EventKind::TlsFailed {
                sni: Some(host.to_owned()),
                error: error.to_string(),
                served: None,
            });
            return ended(client_handshake_end(&error));
        }
        Err(_) => return ended("client TLS handshake timed out"),
    };
    let offered: Vec<Vec<u8>> = start
        .client_hello()
        .alpn()
        .map(|protocols| protocols.map(<[u8]>::to_vec).collect())
        .unwrap_or_default();
    let Some(name) = Interceptor::server_name(host) else {
        return ended(format!("{host} is not a valid TLS server name"));
    };
    let (client_config, asked) = interceptor.client_config(&offered);
    let client_config = proxy.gate.capture().client_config(client_config);
    let connect = TlsConnector::from(client_config).connect(name, origin);
    let connected = tokio::select! {
        () = proxy.shutdown.cancelled() => return ended("shutdown"),
        connected = tokio::time::timeout(proxy.plan.connect_timeout, connect) => connected,
    };
    let (origin_tls, failed) = match connected {
        Ok(Ok(stream)) => (Some(stream), None),
        Ok(Err(error)) => (None, Some(error.to_string())),
        Err(_) => (None, Some("handshake timed out".to_owned())),
    };
    // What the client is given: the origin's choice; after a failed origin handshake HTTP/1.1
    // (if offered), for Squid's error page.
    let chosen: Vec<Vec<u8>> = match &origin_tls {
        Some(stream) => stream
            .get_ref()
            .1
            .alpn_protocol()
            .map(<[u8]>::to_vec)
            .into_iter()
            .collect(),
        None => offered
            .iter()
            .filter(|p| p.as_slice() == HTTP11)
            .cloned()
            .collect(),
    };
    let config = match interceptor.server_config(host) {
        Ok(config) => config,
        Err(error) => {
            proxy.record(EventKind::Note {
                message: format!("cannot mint an inspection certificate for {host}: {error}"),
            });
            return ended("inspection certificate unavailable");
        }
    };
    let config = with_alpn(&config, chosen);
    let config = proxy.gate.capture().server_config(config);
    let accepted = tokio::select! {
        () = proxy.shutdown.cancelled() => return ended("shutdown"),
        accepted = tokio::time::timeout(proxy.plan.header_timeout, start.into_stream(config)) => accepted,
    };
    let mut client_tls = match accepted {
        Ok(Ok(stream)) => stream,
        Ok(Err(error)) => {
            proxy.record(EventKind::TlsFailed {
                sni: Some(host.to_owned()),
                error: error.to_string(),
                served: Some(format!("CN={host}, issued by {}", interceptor.issuer())),
            });
            return ended(client_handshake_end(&error));
        }
        Err(_) => return ended("client TLS handshake timed out"),
    };
    let (_, session) = client_tls.get_ref();
    proxy.record(EventKind::TlsHandshake {
        version: tls_version(session.protocol_version()),
        sni: session.server_name().map(str::to_owned),
        served: format!("CN={host}, issued by {}", interceptor.issuer()),
        client_cert: None,
    });
    let lost_certificate = |proxy: &Proxy| {
        if asked.load(Ordering::Relaxed) {
            proxy.record(EventKind::Note {
                message: format!(
                    "{host} asked for a client certificate; the intercepting proxy has none, so the client's certificate is lost"
                ),
            });
        }
    };
    let (Some(origin_tls), None) = (origin_tls, failed.clone()) else {
        let text = failed.unwrap_or_default();
        proxy.record(EventKind::TlsFailed {
            sni: Some(host.to_owned()),
            error: text.clone(),
            served: None,
        });
        lost_certificate(proxy);
        let failure = Failure::SecureConnectFail { text };
        let rendered = failure.render(&proxy.voice(false), target);
        let _ = client_tls.write_all(&rendered.bytes).await;
        let _ = client_tls.shutdown().await;
        return ended(failure.describe(target));
    };
    let relayed = relay(client_tls, origin_tls, &proxy.shutdown).await;
    lost_certificate(proxy);
    relayed
}

/// How the client's side of an intercepted handshake ended, in the words of what was seen: a TLS
/// alert is a refusal of the inspection certificate, a reset or a close is only that.
fn client_handshake_end(error: &std::io::Error) -> String {
    let alert = error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        .and_then(|tls| match tls {
            rustls::Error::AlertReceived(alert) => Some(*alert),
            _ => None,
        });
    if let Some(alert) = alert {
        return format!("client refused the inspection certificate: alert {alert:?} received");
    }
    match error.kind() {
        std::io::ErrorKind::ConnectionReset => {
            "client reset the connection during the TLS handshake".to_owned()
        }
        std::io::ErrorKind::UnexpectedEof => {
            "client closed the connection during the TLS handshake".to_owned()
        }
        _ => format!("client TLS handshake failed: {error}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reset_is_not_called_a_refusal_and_an_alert_is() {
        let reset = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
        assert_eq!(
            client_handshake_end(&reset),
            "client reset the connection during the TLS handshake"
        );
        let alert = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::AlertReceived(rustls::AlertDescription::UnknownCA),
        );
        assert_eq!(
            client_handshake_end(&alert),
            "client refused the inspection certificate: alert UnknownCA received"
        );
    }
}
