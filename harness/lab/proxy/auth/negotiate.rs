//! Negotiate (RFC 4559) in the lab's proxy: the client's token is SPNEGO (RFC 4178) around an NTLM
//! message, or a bare NTLM message, which some clients send under `Negotiate` too; the proxy's
//! CHALLENGE goes back wrapped the way the client's message came. Kerberos is not offered: no KDC
//! runs in the lab, so a Kerberos-only token is refused with that reason (docs/proxy-auth.md).

use crate::ntlm::spnego::{self, NegState, SpnegoError};

/// The NTLM message in a client's `Negotiate` token, and whether it came wrapped in SPNEGO.
pub(super) fn unwrap(token: Vec<u8>) -> Result<(Vec<u8>, bool), SpnegoError> {
    if token.starts_with(b"NTLMSSP\0") {
        return Ok((token, false));
    }
    spnego::client_mech_token(&token).map(|message| (message, true))
}

/// The proxy's `Negotiate` token carrying `challenge`: a NegTokenResp (accept-incomplete, NTLM as the
/// chosen mechanism) when the client spoke SPNEGO, the bare message otherwise.
pub(super) fn wrap(challenge: Vec<u8>, wrapped: bool) -> Vec<u8> {
    if wrapped {
        spnego::server_token(NegState::AcceptIncomplete, true, Some(&challenge))
    } else {
        challenge
    }
}
