//! The verification layer of the checks: certificate facts, chain judgement with the exact reason,
//! revocation (CRL and OCSP) fetched along the client's route, and the judgement of an `https://`
//! proxy's refused certificate. Imports the transport and the model, never a probe.

pub(crate) mod certinfo;
pub(crate) mod chain;
pub(crate) mod connect;
pub(crate) mod ocsp;
pub(crate) mod revocation;
