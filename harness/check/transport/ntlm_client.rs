//! The checks' NTLM client for a proxy's 407: the NEGOTIATE sent first, the AUTHENTICATE (NTLMv2)
//! answering the proxy's CHALLENGE. The arithmetic is [`crate::ntlm`]'s, the same module the lab's
//! proxy verifies with; tests/real_proxy_auth.rs runs it against the lab and tests/real_squid_auth.rs
//! against a real Squid.

use base64::Engine as _;

use super::http::HttpHead;

/// How an error starts when the proxy closed (or stopped answering) after its challenge.
pub(crate) const CHALLENGE_LOST: &str = "closed after the NTLM challenge";

/// The first `Proxy-Authorization` value: `NTLM` and a NEGOTIATE message.
pub(crate) fn first_token() -> String {
    format!("NTLM {}", encode(&crate::ntlm::negotiate_message()))
}

/// The `Proxy-Authorization` value answering the NTLM CHALLENGE of a 407 as `user` (`DOMAIN\user`
/// names a domain) with `password`; `None` if `head` is not a 407 carrying an NTLM challenge.
pub(crate) fn answer(
    head: &HttpHead,
    user: &str,
    password: &str,
) -> Result<Option<String>, String> {
    if head.status != 407 {
        return Ok(None);
    }
    let Some(token) = head
        .all("Proxy-Authenticate")
        .into_iter()
        .find_map(|value| value.trim().strip_prefix("NTLM "))
    else {
        return Ok(None);
    };
    let challenge = base64::engine::general_purpose::STANDARD
        .decode(token.trim())
        .map_err(|e| format!("the proxy's NTLM challenge is not base64: {e}"))?;
    let (domain, user) = user.split_once('\\').unwrap_or(("", user));
    let mut client_challenge = [0u8; 8];
    getrandom::getrandom(&mut client_challenge)
        .map_err(|e| format!("no random client challenge: {e}"))?;
    let message =
        crate::ntlm::authenticate_message(&challenge, user, domain, password, client_challenge)
            .map_err(|e| format!("the proxy's NTLM challenge cannot be answered: {e}"))?;
    Ok(Some(format!("NTLM {}", encode(&message))))
}

fn encode(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
