//! NTLM (MS-NLMP) messages and NTLMv2 arithmetic, both sides: the server side (parse a NEGOTIATE,
//! build a CHALLENGE with a server challenge and target information, verify an AUTHENTICATE's NTLMv2
//! response) is what the lab's proxy performs; the client side ([`negotiate_message`],
//! [`authenticate_message`]) is what the checks send to any proxy. One module serves both so the
//! checks never look inside the lab and the lab never depends on the checks. [`spnego`] wraps the
//! messages for `Negotiate`.
//!
//! ```
//! use egresslab::ntlm;
//! let negotiate = ntlm::parse_negotiate(&ntlm::negotiate_message()).unwrap();
//! let challenge = ntlm::challenge_message(&negotiate, [1; 8], "CORP", ntlm::filetime_now());
//! let answer = ntlm::authenticate_message(&challenge, "alice", "CORP", "pw", [2; 8]).unwrap();
//! let auth = ntlm::parse_authenticate(&answer).unwrap();
//! assert_eq!(auth.user, "alice");
//! assert_eq!(ntlm::verify_v2(&auth, "pw", &[1; 8]), Ok(true));
//! assert_eq!(ntlm::verify_v2(&auth, "guess", &[1; 8]), Ok(false));
//! ```
//!
//! Policy: only NTLMv2 is accepted. An NTLMv1 or LM-only response (24 bytes) is refused, as a domain
//! at `LmCompatibilityLevel` 5 refuses it; docs/proxy-auth.md says so. The MIC of the AUTHENTICATE
//! message is not verified (it protects against tampering, not against a wrong password).

use hmac::{Hmac, Mac};
use md4::{Digest, Md4};
use md5::Md5;

pub mod spnego;

/// Equality whose time depends only on the lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for (i, x) in a.iter().enumerate() {
        let y = b.get(i).copied().unwrap_or(0);
        diff |= usize::from(x ^ y);
    }
    diff == 0
}

/// The signature every NTLM message starts with.
const SIGNATURE: &[u8; 8] = b"NTLMSSP\0";

/// `NTLMSSP_NEGOTIATE_UNICODE`.
const UNICODE: u32 = 0x0000_0001;
/// `NTLM_NEGOTIATE_OEM`.
const OEM: u32 = 0x0000_0002;
/// `NTLMSSP_REQUEST_TARGET`.
const REQUEST_TARGET: u32 = 0x0000_0004;
/// `NTLMSSP_NEGOTIATE_SIGN`.
const SIGN: u32 = 0x0000_0010;
/// `NTLMSSP_NEGOTIATE_SEAL`.
const SEAL: u32 = 0x0000_0020;
/// `NTLMSSP_NEGOTIATE_NTLM`.
const NTLM: u32 = 0x0000_0200;
/// `NTLMSSP_NEGOTIATE_ALWAYS_SIGN`.
const ALWAYS_SIGN: u32 = 0x0000_8000;
/// `NTLMSSP_TARGET_TYPE_DOMAIN`.
const TARGET_TYPE_DOMAIN: u32 = 0x0001_0000;
/// `NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY`.
const EXTENDED_SESSION_SECURITY: u32 = 0x0008_0000;
/// `NTLMSSP_NEGOTIATE_TARGET_INFO`.
const TARGET_INFO: u32 = 0x0080_0000;
/// `NTLMSSP_NEGOTIATE_VERSION`.
const VERSION: u32 = 0x0200_0000;
/// `NTLMSSP_NEGOTIATE_128`.
const NEGOTIATE_128: u32 = 0x2000_0000;
/// `NTLMSSP_NEGOTIATE_KEY_EXCH`.
const KEY_EXCH: u32 = 0x4000_0000;
/// `NTLMSSP_NEGOTIATE_56`.
const NEGOTIATE_56: u32 = 0x8000_0000;

/// Flags the lab's server echoes when the client asks for them.
const ECHOED: u32 =
    SIGN | SEAL | EXTENDED_SESSION_SECURITY | NEGOTIATE_128 | KEY_EXCH | NEGOTIATE_56;

/// The version field the lab sends (Windows 10, build 19041, NTLM revision 15).
const SERVER_VERSION: [u8; 8] = [10, 0, 0x61, 0x4a, 0, 0, 0, 15];

/// The computer name the lab's proxy gives in its target information.
const COMPUTER: &str = "EGRESSLAB-PROXY";

/// Seconds between 1601-01-01 and 1970-01-01, for FILETIME timestamps.
const FILETIME_UNIX_OFFSET: u64 = 11_644_473_600;

/// Why an NTLM message was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NtlmError {
    /// The message is shorter than its fixed header or a field points outside it.
    #[error("NTLM message truncated or a field points outside it ({0})")]
    Truncated(&'static str),
    /// The message does not start with `NTLMSSP\0`.
    #[error("not an NTLM message (no NTLMSSP signature)")]
    Signature,
    /// A message of another type than the step expects.
    #[error("NTLM message of type {found}, expected type {expected}")]
    UnexpectedType {
        /// The type read.
        found: u32,
        /// The type this step needs.
        expected: u32,
    },
    /// An NTLMv1 or LM response, refused by the lab's NTLMv2-only policy.
    #[error("NTLMv1/LM response refused (the lab accepts NTLMv2 only)")]
    NtlmV1,
    /// Anonymous authentication (empty user name).
    #[error("anonymous NTLM authentication refused")]
    Anonymous,
}

/// A NEGOTIATE (type 1) message's parts the server uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Negotiate {
    /// The client's negotiate flags.
    pub flags: u32,
}

/// The fields of an AUTHENTICATE (type 3) message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticate {
    /// The LM (or LMv2) challenge response.
    pub lm_response: Vec<u8>,
    /// The NT (NTLMv1 or NTLMv2) challenge response.
    pub nt_response: Vec<u8>,
    /// The domain the client named.
    pub domain: String,
    /// The user name.
    pub user: String,
    /// The client's workstation name.
    pub workstation: String,
    /// The negotiated flags.
    pub flags: u32,
}

/// The message type of an NTLM message (1, 2 or 3), after checking its signature.
pub fn message_type(message: &[u8]) -> Result<u32, NtlmError> {
    if message.len() < 12 {
        return Err(NtlmError::Truncated("header"));
    }
    if &message[..8] != SIGNATURE {
        return Err(NtlmError::Signature);
    }
    Ok(read_u32(message, 8))
}

/// Parse a NEGOTIATE (type 1) message.
pub fn parse_negotiate(message: &[u8]) -> Result<Negotiate, NtlmError> {
    expect_type(message, 1)?;
    if message.len() < 16 {
        return Err(NtlmError::Truncated("negotiate flags"));
    }
    Ok(Negotiate {
        flags: read_u32(message, 12),
    })
}

/// Build the CHALLENGE (type 2) message answering `negotiate`: the server challenge, the domain as
/// target name and target information (NetBIOS and DNS names and a timestamp, `filetime`).
pub fn challenge_message(
    negotiate: &Negotiate,
    server_challenge: [u8; 8],
    domain: &str,
    filetime: u64,
) -> Vec<u8> {
    let unicode = negotiate.flags & UNICODE != 0 || negotiate.flags & OEM == 0;
    let mut flags = REQUEST_TARGET
        | NTLM
        | ALWAYS_SIGN
        | TARGET_TYPE_DOMAIN
        | TARGET_INFO
        | VERSION
        | (negotiate.flags & ECHOED);
    flags |= if unicode { UNICODE } else { OEM };
    let target_name = if unicode {
        utf16(domain)
    } else {
        domain.as_bytes().to_vec()
    };
    let info = target_info(domain, filetime);
    let header = 56u32;
    let mut out = Vec::with_capacity(header as usize + target_name.len() + info.len());
    out.extend_from_slice(SIGNATURE);
    out.extend_from_slice(&2u32.to_le_bytes());
    push_field(&mut out, target_name.len(), header);
    out.extend_from_slice(&flags.to_le_bytes());
    out.extend_from_slice(&server_challenge);
    out.extend_from_slice(&[0; 8]);
    push_field(&mut out, info.len(), header + target_name.len() as u32);
    out.extend_from_slice(&SERVER_VERSION);
    out.extend_from_slice(&target_name);
    out.extend_from_slice(&info);
    out
}

/// The target information (AV pairs) of a CHALLENGE message.
fn target_info(domain: &str, filetime: u64) -> Vec<u8> {
    let dns_domain = format!("{}.lab", domain.to_ascii_lowercase());
    let dns_computer = format!("{}.{dns_domain}", COMPUTER.to_ascii_lowercase());
    let mut info = Vec::new();
    for (id, value) in [
        (2u16, utf16(domain)),
        (1, utf16(COMPUTER)),
        (4, utf16(&dns_domain)),
        (3, utf16(&dns_computer)),
        (7, filetime.to_le_bytes().to_vec()),
    ] {
        push_av(&mut info, id, &value);
    }
    push_av(&mut info, 0, &[]);
    info
}

fn push_av(info: &mut Vec<u8>, id: u16, value: &[u8]) {
    info.extend_from_slice(&id.to_le_bytes());
    info.extend_from_slice(&(value.len() as u16).to_le_bytes());
    info.extend_from_slice(value);
}

/// The server challenge and target information of a CHALLENGE (type 2) message, for a client.
pub fn parse_challenge(message: &[u8]) -> Result<([u8; 8], u32, Vec<u8>), NtlmError> {
    expect_type(message, 2)?;
    if message.len() < 32 {
        return Err(NtlmError::Truncated("challenge header"));
    }
    let flags = read_u32(message, 20);
    let mut challenge = [0; 8];
    challenge.copy_from_slice(&message[24..32]);
    // Older servers (Squid's ntlm_fake_auth among them) send the 32-byte form without target info.
    let info = if flags & TARGET_INFO != 0 && message.len() >= 48 {
        field(message, 40, "target info")?.to_vec()
    } else {
        Vec::new()
    };
    Ok((challenge, flags, info))
}

/// Parse an AUTHENTICATE (type 3) message.
pub fn parse_authenticate(message: &[u8]) -> Result<Authenticate, NtlmError> {
    expect_type(message, 3)?;
    if message.len() < 64 {
        return Err(NtlmError::Truncated("authenticate header"));
    }
    let flags = read_u32(message, 60);
    let text = |offset, name| -> Result<String, NtlmError> {
        let bytes = field(message, offset, name)?;
        Ok(if flags & UNICODE != 0 {
            from_utf16(bytes)
        } else {
            String::from_utf8_lossy(bytes).into_owned()
        })
    };
    Ok(Authenticate {
        lm_response: field(message, 12, "LM response")?.to_vec(),
        nt_response: field(message, 20, "NT response")?.to_vec(),
        domain: text(28, "domain")?,
        user: text(36, "user")?,
        workstation: text(44, "workstation")?,
        flags,
    })
}

/// NTOWFv2: HMAC-MD5 keyed with MD4 of the UTF-16LE password over the upper-cased user and the
/// domain, both UTF-16LE (MS-NLMP 3.3.2).
pub fn ntowf_v2(password: &str, user: &str, domain: &str) -> [u8; 16] {
    let nt_hash: [u8; 16] = Md4::digest(utf16(password)).into();
    let mut identity = utf16(&user.to_uppercase());
    identity.extend_from_slice(&utf16(domain));
    hmac_md5(&nt_hash, &[&identity])
}

/// NTProofStr: HMAC-MD5 keyed with the NTOWFv2 over the server challenge and the client's blob.
pub fn nt_proof(response_key: &[u8; 16], server_challenge: &[u8; 8], blob: &[u8]) -> [u8; 16] {
    hmac_md5(response_key, &[server_challenge, blob])
}

/// The session base key of NTLMv2: HMAC-MD5 keyed with the NTOWFv2 over the NTProofStr.
pub fn session_base_key(response_key: &[u8; 16], proof: &[u8; 16]) -> [u8; 16] {
    hmac_md5(response_key, &[proof])
}

/// Whether `auth`'s NTLMv2 response proves knowledge of `password` for the challenge issued.
/// The user and domain hashed are those the client sent (as a domain controller does).
pub fn verify_v2(
    auth: &Authenticate,
    password: &str,
    server_challenge: &[u8; 8],
) -> Result<bool, NtlmError> {
    if auth.user.is_empty() {
        return Err(NtlmError::Anonymous);
    }
    if auth.nt_response.len() <= 24 {
        return Err(NtlmError::NtlmV1);
    }
    let (proof, blob) = auth.nt_response.split_at(16);
    let key = ntowf_v2(password, &auth.user, &auth.domain);
    let expected = nt_proof(&key, server_challenge, blob);
    Ok(constant_time_eq(&expected, proof))
}

/// A client's NEGOTIATE (type 1) message: Unicode, NTLM, extended session security, 128-bit.
pub fn negotiate_message() -> Vec<u8> {
    let flags = UNICODE
        | REQUEST_TARGET
        | NTLM
        | ALWAYS_SIGN
        | EXTENDED_SESSION_SECURITY
        | NEGOTIATE_128
        | NEGOTIATE_56;
    let mut out = Vec::with_capacity(32);
    out.extend_from_slice(SIGNATURE);
    out.extend_from_slice(&1u32.to_le_bytes());
    out.extend_from_slice(&flags.to_le_bytes());
    push_field(&mut out, 0, 32);
    push_field(&mut out, 0, 32);
    out
}

/// A client's AUTHENTICATE (type 3) message answering `challenge` with an NTLMv2 response for
/// `user`/`domain`/`password`, with this client challenge and timestamp.
pub fn authenticate_message(
    challenge: &[u8],
    user: &str,
    domain: &str,
    password: &str,
    client_challenge: [u8; 8],
) -> Result<Vec<u8>, NtlmError> {
    let (server_challenge, flags, info) = parse_challenge(challenge)?;
    let timestamp = av_timestamp(&info).unwrap_or_else(filetime_now);
    let blob = client_blob(timestamp, client_challenge, &info);
    let key = ntowf_v2(password, user, domain);
    let proof = nt_proof(&key, &server_challenge, &blob);
    let mut nt = proof.to_vec();
    nt.extend_from_slice(&blob);
    let lm = [0u8; 24];
    let (domain, user, workstation) = (utf16(domain), utf16(user), utf16("EGRESSLAB-CLIENT"));
    let flags = (flags & !OEM) | UNICODE;
    let header = 64u32;
    let mut offset = header;
    let mut out = Vec::new();
    out.extend_from_slice(SIGNATURE);
    out.extend_from_slice(&3u32.to_le_bytes());
    let parts: [&[u8]; 6] = [&lm, &nt, &domain, &user, &workstation, &[]];
    for part in parts {
        push_field(&mut out, part.len(), offset);
        offset += part.len() as u32;
    }
    out.extend_from_slice(&flags.to_le_bytes());
    for part in parts {
        out.extend_from_slice(part);
    }
    Ok(out)
}

/// The NTLMv2 client blob (`temp` of MS-NLMP 3.3.2).
fn client_blob(timestamp: u64, client_challenge: [u8; 8], info: &[u8]) -> Vec<u8> {
    let mut blob = vec![1, 1, 0, 0, 0, 0, 0, 0];
    blob.extend_from_slice(&timestamp.to_le_bytes());
    blob.extend_from_slice(&client_challenge);
    blob.extend_from_slice(&[0; 4]);
    blob.extend_from_slice(info);
    blob.extend_from_slice(&[0; 4]);
    blob
}

/// The `MsvAvTimestamp` of target information, if present.
fn av_timestamp(info: &[u8]) -> Option<u64> {
    let mut at = 0;
    while at + 4 <= info.len() {
        let id = u16::from_le_bytes([info[at], info[at + 1]]);
        let len = usize::from(u16::from_le_bytes([info[at + 2], info[at + 3]]));
        let value = info.get(at + 4..at + 4 + len)?;
        match id {
            0 => return None,
            7 if len == 8 => return value.try_into().ok().map(u64::from_le_bytes),
            _ => at += 4 + len,
        }
    }
    None
}

/// Now as a Windows FILETIME (100 ns ticks since 1601).
pub fn filetime_now() -> u64 {
    let since_unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    (since_unix.as_secs() + FILETIME_UNIX_OFFSET) * 10_000_000
        + u64::from(since_unix.subsec_nanos() / 100)
}

fn hmac_md5(key: &[u8], parts: &[&[u8]]) -> [u8; 16] {
    // HMAC accepts keys of any length, so `new_from_slice` cannot fail here.
    let mut mac = match <Hmac<Md5> as Mac>::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => return [0; 16],
    };
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

fn expect_type(message: &[u8], expected: u32) -> Result<(), NtlmError> {
    match message_type(message)? {
        found if found == expected => Ok(()),
        found => Err(NtlmError::UnexpectedType { found, expected }),
    }
}

fn read_u32(bytes: &[u8], at: usize) -> u32 {
    let mut word = [0; 4];
    word.copy_from_slice(&bytes[at..at + 4]);
    u32::from_le_bytes(word)
}

/// The payload a security buffer (length, max length, offset) at `at` points to.
fn field<'a>(message: &'a [u8], at: usize, name: &'static str) -> Result<&'a [u8], NtlmError> {
    let header = message.get(at..at + 8).ok_or(NtlmError::Truncated(name))?;
    let len = usize::from(u16::from_le_bytes([header[0], header[1]]));
    let offset = u32::from_le_bytes([header[4], header[5], header[6], header[7]]) as usize;
    message
        .get(offset..offset.saturating_add(len))
        .ok_or(NtlmError::Truncated(name))
}

fn push_field(out: &mut Vec<u8>, len: usize, offset: u32) {
    let len = len as u16;
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&offset.to_le_bytes());
}

fn utf16(text: &str) -> Vec<u8> {
    text.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

fn from_utf16(bytes: &[u8]) -> String {
    let units: Vec<u16> = bytes
        .chunks_exact(2)
        .map(|pair| u16::from_le_bytes([pair[0], pair[1]]))
        .collect();
    String::from_utf16_lossy(&units)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// MS-NLMP 4.2.1: user "User", domain "Domain", password "Password", server challenge
    /// 0123456789abcdef, client challenge aa…aa, time 0, target info of 4.2.4.
    const SERVER_CHALLENGE: [u8; 8] = [0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef];
    const CLIENT_CHALLENGE: [u8; 8] = [0xaa; 8];

    fn spec_target_info() -> Vec<u8> {
        let mut info = Vec::new();
        push_av(&mut info, 2, &utf16("Domain"));
        push_av(&mut info, 1, &utf16("Server"));
        push_av(&mut info, 0, &[]);
        info
    }

    #[test]
    fn ntowf_v2_matches_ms_nlmp_4_2_4_1_1() {
        assert_eq!(
            hex::encode(ntowf_v2("Password", "User", "Domain")),
            "0c868a403bfd7a93a3001ef22ef02e3f"
        );
    }

    #[test]
    fn nt_proof_and_session_key_match_ms_nlmp_4_2_4() {
        let key = ntowf_v2("Password", "User", "Domain");
        let blob = client_blob(0, CLIENT_CHALLENGE, &spec_target_info());
        let proof = nt_proof(&key, &SERVER_CHALLENGE, &blob);
        assert_eq!(hex::encode(proof), "68cd0ab851e51c96aabc927bebef6a1c");
        assert_eq!(
            hex::encode(session_base_key(&key, &proof)),
            "8de40ccadbc14a82f15cb0ad0de95ca3"
        );
    }

    #[test]
    fn a_client_message_verifies_with_the_right_password_only() {
        let negotiate = parse_negotiate(&negotiate_message()).unwrap();
        let challenge = challenge_message(&negotiate, SERVER_CHALLENGE, "CORP", filetime_now());
        let message =
            authenticate_message(&challenge, "alice", "CORP", "s3cret", CLIENT_CHALLENGE).unwrap();
        let auth = parse_authenticate(&message).unwrap();
        assert_eq!(
            (auth.user.as_str(), auth.domain.as_str()),
            ("alice", "CORP")
        );
        assert_eq!(verify_v2(&auth, "s3cret", &SERVER_CHALLENGE), Ok(true));
        assert_eq!(verify_v2(&auth, "wrong", &SERVER_CHALLENGE), Ok(false));
        let other_challenge = [9; 8];
        assert_eq!(verify_v2(&auth, "s3cret", &other_challenge), Ok(false));
    }

    #[test]
    fn the_challenge_carries_the_domain_and_a_timestamp() {
        let negotiate = Negotiate { flags: UNICODE };
        let message = challenge_message(&negotiate, SERVER_CHALLENGE, "CORP", 42);
        let (challenge, flags, info) = parse_challenge(&message).unwrap();
        assert_eq!(challenge, SERVER_CHALLENGE);
        assert_ne!(flags & TARGET_INFO, 0);
        assert_eq!(av_timestamp(&info), Some(42));
        assert_eq!(field(&message, 12, "target").unwrap(), utf16("CORP"));
    }

    #[test]
    fn ntlm_v1_and_garbage_are_refused() {
        let v1 = Authenticate {
            lm_response: vec![0; 24],
            nt_response: vec![0; 24],
            domain: String::new(),
            user: "alice".into(),
            workstation: String::new(),
            flags: 0,
        };
        assert_eq!(verify_v2(&v1, "x", &[0; 8]), Err(NtlmError::NtlmV1));
        assert_eq!(
            message_type(b"NTLMSSP"),
            Err(NtlmError::Truncated("header"))
        );
        assert_eq!(
            message_type(b"NOTNTLM\0\x01\0\0\0"),
            Err(NtlmError::Signature)
        );
        let mut bad = negotiate_message();
        bad[8] = 3;
        bad.extend_from_slice(&[0xff; 40]);
        assert!(parse_authenticate(&bad).is_err());
    }

    proptest::proptest! {
        #[test]
        fn parsers_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200)) {
            let mut message = SIGNATURE.to_vec();
            message.extend_from_slice(&bytes);
            let _ = parse_authenticate(&message);
            let _ = parse_challenge(&message);
            let _ = parse_negotiate(&message);
        }
    }
}
