//! Named certificate profiles (each one documented defect, or none) and CA roles.

use std::fmt;
use std::str::FromStr;

use crate::CertError;

/// A named recipe for a lab certificate: what is wrong with it (if anything) and how it is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Profile {
    /// A correct server certificate: ECDSA P-256, SHA-256, server-auth EKU, served with its intermediate.
    Valid,
    /// Validity ended yesterday.
    Expired,
    /// Validity starts in thirty days.
    NotYetValid,
    /// Issued for `wrong-host.egresslab.test` instead of the requested names.
    WrongHost,
    /// A leaf that signs itself; no CA vouches for it.
    SelfSigned,
    /// Issued by the lab's "untrusted" root, which no client trusts.
    UntrustedRoot,
    /// Carries only the e-mail protection EKU, so TLS servers may not use it.
    NoServerAuth,
    /// A client certificate (client-auth EKU only).
    ClientAuth,
    /// A client certificate with the "AAD Conditional Access" EKU 1.3.6.1.4.1.311.87.
    ConditionalAccess,
    /// Explicit SHA-256 variant of `Valid` (ECDSA P-256 with SHA-256).
    Sha256,
    /// ECDSA P-384 key, signed with ecdsa-with-SHA384 by a P-384 intermediate.
    Sha384,
    /// RSA 2048 key, signed with sha512WithRSAEncryption by an RSA intermediate.
    Sha512Rsa,
    /// ECDSA P-521 key, signed with ecdsa-with-SHA512 by a P-521 intermediate.
    Sha512Ecdsa,
    /// The server withholds its intermediate: the served chain is the leaf alone.
    IncompleteChain,
    /// Four intermediates between the leaf and the root.
    LongChain,
    /// Listed on the lab CRL and answered "revoked" by the lab OCSP responder.
    Revoked,
    /// A 1024-bit RSA subject key.
    WeakKey,
    /// The host name only in the subject CN, no subjectAltName extension.
    NoSan,
    /// A machine certificate for IKEv2 VPNs: client-auth and "IP security IKE intermediate" EKUs.
    IkeMachine,
    /// A connector client certificate: RSA 2048, requested by a SHA-512 CSR, signed by the
    /// `connectorregistrationca.msappproxy.net` CA, client-auth EKU.
    ConnectorClient,
}

const PROFILE_NAMES: &str =
    "valid, expired, not-yet-valid, wrong-host, self-signed, untrusted-root, \
no-server-auth, client-auth, conditional-access, sha256, sha384, sha512-rsa, sha512-ecdsa, \
incomplete-chain, long-chain, revoked, weak-key, no-san, ike-machine, connector-client";

impl Profile {
    /// Every profile, in catalog order.
    pub const ALL: &'static [Profile] = &[
        Profile::Valid,
        Profile::Expired,
        Profile::NotYetValid,
        Profile::WrongHost,
        Profile::SelfSigned,
        Profile::UntrustedRoot,
        Profile::NoServerAuth,
        Profile::ClientAuth,
        Profile::ConditionalAccess,
        Profile::Sha256,
        Profile::Sha384,
        Profile::Sha512Rsa,
        Profile::Sha512Ecdsa,
        Profile::IncompleteChain,
        Profile::LongChain,
        Profile::Revoked,
        Profile::WeakKey,
        Profile::NoSan,
        Profile::IkeMachine,
        Profile::ConnectorClient,
    ];

    /// The kebab-case name used on the command line and in scenario files.
    pub fn name(&self) -> &'static str {
        match self {
            Profile::Valid => "valid",
            Profile::Expired => "expired",
            Profile::NotYetValid => "not-yet-valid",
            Profile::WrongHost => "wrong-host",
            Profile::SelfSigned => "self-signed",
            Profile::UntrustedRoot => "untrusted-root",
            Profile::NoServerAuth => "no-server-auth",
            Profile::ClientAuth => "client-auth",
            Profile::ConditionalAccess => "conditional-access",
            Profile::Sha256 => "sha256",
            Profile::Sha384 => "sha384",
            Profile::Sha512Rsa => "sha512-rsa",
            Profile::Sha512Ecdsa => "sha512-ecdsa",
            Profile::IncompleteChain => "incomplete-chain",
            Profile::LongChain => "long-chain",
            Profile::Revoked => "revoked",
            Profile::WeakKey => "weak-key",
            Profile::NoSan => "no-san",
            Profile::IkeMachine => "ike-machine",
            Profile::ConnectorClient => "connector-client",
        }
    }

    /// The defect this profile carries, in one short phrase ("none" for the correct ones).
    pub fn defect(&self) -> &'static str {
        match self {
            Profile::Valid => "none",
            Profile::Expired => "validity ended yesterday",
            Profile::NotYetValid => "validity starts in 30 days",
            Profile::WrongHost => "names wrong-host.egresslab.test, not the requested host",
            Profile::SelfSigned => "leaf signed by its own key",
            Profile::UntrustedRoot => "chains to a root nobody trusts",
            Profile::NoServerAuth => "no Server Authentication EKU",
            Profile::ClientAuth => "none for a client (client-auth EKU only)",
            Profile::ConditionalAccess => {
                "none for a client (client-auth + AAD Conditional Access EKU)"
            }
            Profile::Sha256 => "none (ECDSA P-256, SHA-256)",
            Profile::Sha384 => "none (ECDSA P-384, SHA-384)",
            Profile::Sha512Rsa => "none (RSA 2048, SHA-512)",
            Profile::Sha512Ecdsa => "none (ECDSA P-521, SHA-512)",
            Profile::IncompleteChain => "intermediate withheld by the server",
            Profile::LongChain => "four intermediates",
            Profile::Revoked => "revoked on the lab CRL and OCSP responder",
            Profile::WeakKey => "1024-bit RSA key",
            Profile::NoSan => "host only in the subject CN, no SAN",
            Profile::IkeMachine => "none for IKE (client-auth + IKE intermediate EKU)",
            Profile::ConnectorClient => "none (connector registration client certificate)",
        }
    }

    /// What a typical TLS client reports when it meets this certificate.
    pub fn client_sees(&self) -> &'static str {
        match self {
            Profile::Valid | Profile::Sha256 | Profile::Sha384 | Profile::Sha512Ecdsa => {
                "handshake succeeds"
            }
            Profile::Sha512Rsa => "handshake succeeds",
            Profile::Expired => "certificate has expired",
            Profile::NotYetValid => "certificate is not yet valid",
            Profile::WrongHost => "certificate name mismatch",
            Profile::SelfSigned => "self-signed certificate",
            Profile::UntrustedRoot => "unable to get local issuer certificate (untrusted root)",
            Profile::NoServerAuth => "unsuitable certificate purpose",
            Profile::ClientAuth | Profile::ConditionalAccess | Profile::IkeMachine => {
                "accepted as a client certificate; rejected as a server certificate"
            }
            Profile::IncompleteChain => {
                "unable to get local issuer certificate (unless the client fetches the intermediate)"
            }
            Profile::LongChain => "handshake succeeds (deeper path)",
            Profile::Revoked => "certificate revoked (when the client checks CRL or OCSP)",
            Profile::WeakKey => "key too weak (OpenSSL security level 2); webpki accepts",
            Profile::NoSan => "name mismatch in browsers and webpki; OpenSSL falls back to the CN",
            Profile::ConnectorClient => "accepted by a server trusting the registration CA",
        }
    }

    /// True when the certificate is meant for the client side of TLS.
    pub fn is_client(&self) -> bool {
        matches!(
            self,
            Profile::ClientAuth
                | Profile::ConditionalAccess
                | Profile::IkeMachine
                | Profile::ConnectorClient
        )
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Profile {
    type Err = CertError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Profile::ALL
            .iter()
            .copied()
            .find(|p| p.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| CertError::UnknownProfile {
                name: s.to_string(),
                expected: PROFILE_NAMES,
            })
    }
}

/// The certificate authorities a factory holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CaRole {
    /// The lab root, name-constrained to the lab's domains.
    Lab,
    /// The lab intermediate that issues ordinary leaf certificates, the CRL and OCSP answers.
    Intermediate,
    /// The corporate TLS-inspection root (no name constraints), used by intercepting proxies.
    Inspection,
    /// A root that no client trusts.
    Untrusted,
    /// `connectorregistrationca.msappproxy.net`, which signs connector CSRs.
    ConnectorRegistration,
}

const ROLE_NAMES: &str = "lab, intermediate, inspection, untrusted, connector-registration";

impl CaRole {
    /// Every role.
    pub const ALL: &'static [CaRole] = &[
        CaRole::Lab,
        CaRole::Intermediate,
        CaRole::Inspection,
        CaRole::Untrusted,
        CaRole::ConnectorRegistration,
    ];

    /// The kebab-case name, also the file stem in a persisted CA directory.
    pub fn name(&self) -> &'static str {
        match self {
            CaRole::Lab => "lab",
            CaRole::Intermediate => "intermediate",
            CaRole::Inspection => "inspection",
            CaRole::Untrusted => "untrusted",
            CaRole::ConnectorRegistration => "connector-registration",
        }
    }
}

impl fmt::Display for CaRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for CaRole {
    type Err = CertError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CaRole::ALL
            .iter()
            .copied()
            .find(|r| r.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| CertError::UnknownRole {
                name: s.to_string(),
                expected: ROLE_NAMES,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for p in Profile::ALL {
            assert_eq!(p.to_string().parse::<Profile>().unwrap(), *p);
            assert!(
                PROFILE_NAMES.contains(p.name()),
                "{p} missing from PROFILE_NAMES"
            );
        }
        for r in CaRole::ALL {
            assert_eq!(r.to_string().parse::<CaRole>().unwrap(), *r);
        }
        assert!(matches!(
            "bogus".parse::<Profile>(),
            Err(CertError::UnknownProfile { .. })
        ));
    }
}
