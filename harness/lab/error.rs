//! Why a lab could not start.

use std::net::SocketAddr;
use std::path::PathBuf;

/// A lab failed to start: a listener could not be bound, or the plan names something that does not exist.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LabError {
    /// A listener or socket could not be bound.
    #[error("cannot bind {what} on {address}")]
    Bind {
        /// What was being bound (`endpoint login`, `proxy corp`, `dns`, ...).
        what: String,
        /// The address asked for.
        address: SocketAddr,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The certificate factory could not be opened or created.
    #[error("cannot open the certificate factory")]
    Certs(#[source] egresslab_certs::CertError),
    /// A certificate could not be minted for an endpoint.
    #[error("cannot mint a {profile} certificate for endpoint {endpoint}")]
    Mint {
        /// The endpoint.
        endpoint: String,
        /// The profile.
        profile: egresslab_certs::Profile,
        /// The factory's error.
        #[source]
        source: egresslab_certs::CertError,
    },
    /// rustls refused the endpoint's TLS configuration.
    #[error("invalid TLS configuration for endpoint {endpoint}")]
    Tls {
        /// The endpoint.
        endpoint: String,
        /// The rustls error.
        #[source]
        source: rustls::Error,
    },
    /// The client-certificate verifier could not be built.
    #[error("cannot build the client-certificate verifier of endpoint {endpoint}")]
    ClientVerifier {
        /// The endpoint.
        endpoint: String,
        /// The rustls error.
        #[source]
        source: rustls::server::VerifierBuilderError,
    },
    /// A proxy's TLS could not be set up: the certificate of its `https://` listener or its
    /// interception CA. The lab does not start rather than leave the proxy's port bound but dead.
    #[error("cannot set up the {part} of proxy {proxy}")]
    ProxyTls {
        /// The proxy.
        proxy: String,
        /// `TLS listener` or `interception CA`.
        part: &'static str,
        /// What went wrong (boxed: a certificate error is large, the other variants are not).
        #[source]
        source: Box<crate::lab::proxy::ProxyTlsError>,
    },
    /// A proxy names an upstream proxy the plan does not define.
    #[error("unknown proxy {name:?}")]
    UnknownProxy {
        /// The name as written.
        name: String,
    },
    /// Proxies name each other as upstream in a loop (`a -> b -> a`).
    #[error("proxy upstreams loop: {}", .cycle.join(" -> "))]
    UpstreamCycle {
        /// The proxy names along the loop, the first repeated at the end.
        cycle: Vec<String>,
    },
    /// Two parts of the plan share a name that must be unique.
    #[error("duplicate {kind} name {name:?}")]
    DuplicateName {
        /// `endpoint`, `proxy` or `udp`.
        kind: &'static str,
        /// The repeated name.
        name: String,
    },
    /// A toxic of the plan names a listener the lab does not have.
    #[error("toxic {toxic} is on {on:?}, which is not a listener of this lab (it has: {})", .known.join(", "))]
    UnknownToxicTarget {
        /// The toxic's name.
        toxic: String,
        /// The listener named.
        on: String,
        /// The listeners there are.
        known: Vec<String>,
    },
    /// A toxic of the plan cannot act on the listener it names.
    #[error("toxic {toxic} cannot act on {on}")]
    ToxicMisfit {
        /// The toxic's name.
        toxic: String,
        /// The listener.
        on: String,
        /// Why not.
        #[source]
        source: crate::lab::ToxicMisfit,
    },
    /// The lab's own files (CA bundle) could not be written.
    #[error("cannot write {path}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A socket option or an early connection of the lab itself failed.
    #[error("cannot prepare {what}")]
    Setup {
        /// What was being prepared (`black hole`, ...).
        what: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The capture file or key log asked for could not be opened.
    #[error("cannot start the capture")]
    Capture(#[source] crate::lab::capture::CaptureError),
    /// The lab's network placement (`--bind`, `--ports`) cannot be laid out.
    #[error("cannot place the lab on the network: {problem}")]
    Network {
        /// What is wrong and what was expected.
        problem: String,
    },
}
