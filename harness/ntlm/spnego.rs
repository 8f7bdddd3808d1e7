//! Negotiate (RFC 4559) carrying SPNEGO (RFC 4178) around NTLM: the client's NegTokenInit names the
//! NTLM mechanism and carries the NEGOTIATE message; the lab answers NegTokenResp tokens. Kerberos is
//! not offered: no KDC runs in the lab (docs/proxy-auth.md).
//!
//! The DER is read and written by hand: SPNEGO needs five tag kinds and definite lengths only, and a
//! bounded reader of tag-length-value over a byte slice is shorter than modelling the ASN.1 module in
//! a DER crate. Every length is checked against the input, so a hostile token cannot make it read
//! outside its bytes.

/// DER of the NTLMSSP mechanism OID 1.3.6.1.4.1.311.2.2.10.
pub const NTLM_OID: &[u8] = &[0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x02, 0x02, 0x0a];
/// DER of the SPNEGO OID 1.3.6.1.5.5.2.
const SPNEGO_OID: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x02];

/// Why a SPNEGO token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpnegoError {
    /// The DER is truncated, has a length that runs past its end, or an unexpected tag.
    #[error("malformed SPNEGO token ({0})")]
    Malformed(&'static str),
    /// The client did not offer NTLM (Kerberos only, for instance).
    #[error(
        "the SPNEGO token offers no mechanism the lab speaks (NTLM only; no Kerberos KDC here)"
    )]
    NoNtlm,
    /// The token carries no mechanism token.
    #[error("the SPNEGO token carries no mechanism token")]
    NoMechToken,
}

/// The states of NegTokenResp's `negState` the lab sends (it answers a completed handshake with the
/// relayed answer itself, not with an `accept-completed` token).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NegState {
    /// `accept-incomplete` (1).
    AcceptIncomplete = 1,
}

/// The NTLM message inside a client's SPNEGO token: a NegTokenInit (first leg, which must list the
/// NTLM mechanism) or a NegTokenResp (later legs).
pub fn client_mech_token(token: &[u8]) -> Result<Vec<u8>, SpnegoError> {
    let (tag, body, _) = tlv(token)?;
    match tag {
        // [APPLICATION 0] { OID spnego, [0] NegTokenInit }
        0x60 => {
            let (oid_tag, oid, rest) = tlv(body)?;
            if oid_tag != 0x06 || oid != SPNEGO_OID {
                return Err(SpnegoError::Malformed("not the SPNEGO mechanism"));
            }
            let init = inner(rest, 0xa0, "NegTokenInit")?;
            let fields = inner(init, 0x30, "NegTokenInit sequence")?;
            let mut offers_ntlm = false;
            let mut mech_token = None;
            for (tag, value) in elements(fields)? {
                match tag {
                    0xa0 => {
                        let list = inner(value, 0x30, "mechTypes")?;
                        for (tag, oid) in elements(list)? {
                            offers_ntlm |= tag == 0x06 && oid == NTLM_OID;
                        }
                    }
                    0xa2 => mech_token = Some(inner(value, 0x04, "mechToken")?.to_vec()),
                    _ => {}
                }
            }
            if !offers_ntlm {
                return Err(SpnegoError::NoNtlm);
            }
            mech_token.ok_or(SpnegoError::NoMechToken)
        }
        // [1] NegTokenResp
        0xa1 => {
            let fields = inner(body, 0x30, "NegTokenResp sequence")?;
            elements(fields)?
                .into_iter()
                .find(|(tag, _)| *tag == 0xa2)
                .ok_or(SpnegoError::NoMechToken)
                .and_then(|(_, value)| Ok(inner(value, 0x04, "responseToken")?.to_vec()))
        }
        _ => Err(SpnegoError::Malformed(
            "neither NegTokenInit nor NegTokenResp",
        )),
    }
}

/// A server's NegTokenResp: the state, NTLM as the supported mechanism on the first answer, and the
/// NTLM message to send, if any.
pub fn server_token(state: NegState, first: bool, response: Option<&[u8]>) -> Vec<u8> {
    let mut fields = der(0xa0, &der(0x0a, &[state as u8]));
    if first {
        fields.extend(der(0xa1, &der(0x06, NTLM_OID)));
    }
    if let Some(response) = response {
        fields.extend(der(0xa2, &der(0x04, response)));
    }
    der(0xa1, &der(0x30, &fields))
}

/// A client's first token: NegTokenInit listing NTLM and carrying `mech_token` (its NEGOTIATE).
pub fn client_init(mech_token: &[u8]) -> Vec<u8> {
    let mechs = der(0xa0, &der(0x30, &der(0x06, NTLM_OID)));
    let mut fields = mechs;
    fields.extend(der(0xa2, &der(0x04, mech_token)));
    let mut body = der(0x06, SPNEGO_OID);
    body.extend(der(0xa0, &der(0x30, &fields)));
    der(0x60, &body)
}

/// A client's later token: NegTokenResp carrying `mech_token` (its AUTHENTICATE).
pub fn client_response(mech_token: &[u8]) -> Vec<u8> {
    der(0xa1, &der(0x30, &der(0xa2, &der(0x04, mech_token))))
}

/// The NTLM message inside a server's NegTokenResp, for a client.
pub fn server_mech_token(token: &[u8]) -> Result<Vec<u8>, SpnegoError> {
    client_mech_token(token)
}

/// One DER element: tag, contents and the bytes after it.
fn tlv(input: &[u8]) -> Result<(u8, &[u8], &[u8]), SpnegoError> {
    let (&tag, rest) = input.split_first().ok_or(SpnegoError::Malformed("empty"))?;
    let (&first, rest) = rest
        .split_first()
        .ok_or(SpnegoError::Malformed("no length"))?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return Err(SpnegoError::Malformed("length"));
        }
        let len = rest[..count]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, &rest[count..])
    };
    if rest.len() < len {
        return Err(SpnegoError::Malformed("length past the end"));
    }
    Ok((tag, &rest[..len], &rest[len..]))
}

/// The contents of the one element of `input`, which must have tag `tag`.
fn inner<'a>(input: &'a [u8], tag: u8, what: &'static str) -> Result<&'a [u8], SpnegoError> {
    match tlv(input)? {
        (found, body, _) if found == tag => Ok(body),
        _ => Err(SpnegoError::Malformed(what)),
    }
}

/// The elements of a constructed value's contents (at most 16, which SPNEGO never exceeds).
fn elements(mut input: &[u8]) -> Result<Vec<(u8, &[u8])>, SpnegoError> {
    let mut out = Vec::new();
    while !input.is_empty() {
        if out.len() == 16 {
            return Err(SpnegoError::Malformed("too many elements"));
        }
        let (tag, body, rest) = tlv(input)?;
        out.push((tag, body));
        input = rest;
    }
    Ok(out)
}

/// A DER element with a definite length.
fn der(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = body.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_and_response_round_trip() {
        let ntlm = b"NTLMSSP\0\x01\0\0\0".repeat(20);
        assert_eq!(client_mech_token(&client_init(&ntlm)).unwrap(), ntlm);
        assert_eq!(client_mech_token(&client_response(&ntlm)).unwrap(), ntlm);
        let answer = server_token(NegState::AcceptIncomplete, true, Some(&ntlm));
        assert_eq!(server_mech_token(&answer).unwrap(), ntlm);
    }

    /// A NegTokenInit as Windows and pyspnego send it, listing NTLM after Kerberos.
    #[test]
    fn reads_a_multi_mechanism_init() {
        let kerberos = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02];
        let mut list = der(0x06, &kerberos);
        list.extend(der(0x06, NTLM_OID));
        let mut fields = der(0xa0, &der(0x30, &list));
        fields.extend(der(0xa2, &der(0x04, b"NTLMSSP\0")));
        let mut body = der(0x06, SPNEGO_OID);
        body.extend(der(0xa0, &der(0x30, &fields)));
        assert_eq!(client_mech_token(&der(0x60, &body)).unwrap(), b"NTLMSSP\0");
        let kerberos_only = {
            let fields = der(0xa0, &der(0x30, &der(0x06, &kerberos)));
            let mut body = der(0x06, SPNEGO_OID);
            body.extend(der(0xa0, &der(0x30, &fields)));
            der(0x60, &body)
        };
        assert_eq!(client_mech_token(&kerberos_only), Err(SpnegoError::NoNtlm));
    }

    #[test]
    fn truncated_tokens_are_refused() {
        let token = client_init(b"NTLMSSP\0");
        for cut in 0..token.len() {
            assert!(client_mech_token(&token[..cut]).is_err());
        }
        assert!(client_mech_token(&[0x60, 0x84, 0xff, 0xff, 0xff, 0xff]).is_err());
    }

    proptest::proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..120)) {
            let _ = client_mech_token(&bytes);
        }
    }
}
