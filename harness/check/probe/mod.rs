//! The probes: each check a careful engineer runs (a URL over HTTPS or HTTP, a TLS-version block, the
//! connector's endpoint matrix, IKE and the VPN server, PAC evaluation). They build on verification and
//! transport and produce findings; they never import the dispatch above them.

pub(crate) mod connector;
pub(crate) mod https;
pub(crate) mod pac;
pub(crate) mod rate;
pub(crate) mod repeat;
pub(crate) mod tls_block;
pub(crate) mod vpn;
