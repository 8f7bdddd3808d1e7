//! The transport layer of the checks: name resolution, TCP, the proxy tunnel (CONNECT or SOCKS5),
//! the TLS handshake and the GET spoken by hyper over any of them. It records what the network did;
//! judging chains is the verification layer's job. Imports only the model (config, finding, codes).

pub(crate) mod digest_client;
pub(crate) mod dns;
pub(crate) mod exchange;
pub(crate) mod http;
pub(crate) mod ntlm_client;
pub(crate) mod proxy;
pub(crate) mod route;
pub(crate) mod socks;
pub(crate) mod tcp;
pub(crate) mod tls;
pub(crate) mod url;
