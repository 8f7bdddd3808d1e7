//! `--redact`: credential header values masked in clear-text payloads, byte for byte, so sequence
//! numbers and lengths stay those of the real exchange.

use std::borrow::Cow;

/// The headers whose values are credentials, or challenges that carry an NTLM/Negotiate message or
/// a Digest nonce (a challenge next to its answer is what an offline password guesser needs).
const CREDENTIAL_HEADERS: [&[u8]; 4] = [
    b"proxy-authorization:",
    b"authorization:",
    b"proxy-authenticate:",
    b"www-authenticate:",
];

/// `bytes` with the value of every credential header line masked with `*` (the scheme word, such as
/// `Basic`, is kept so the capture still shows which scheme was used). A header split across two
/// reads is not recognised in the second half: docs/capture.md says so.
pub(crate) fn redact(bytes: &[u8]) -> Cow<'_, [u8]> {
    let mut out: Option<Vec<u8>> = None;
    let mut line_start = 0;
    while line_start < bytes.len() {
        let line_end = bytes[line_start..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(bytes.len(), |i| line_start + i);
        let line = &bytes[line_start..line_end];
        if let Some(name) = CREDENTIAL_HEADERS
            .iter()
            .find(|name| line.len() >= name.len() && line[..name.len()].eq_ignore_ascii_case(name))
        {
            let value = skip_scheme(line, name.len());
            let masked = out.get_or_insert_with(|| bytes.to_vec());
            for byte in &mut masked[line_start + value..line_end] {
                if !matches!(*byte, b'\r' | b'\n') {
                    *byte = b'*';
                }
            }
        }
        line_start = line_end + 1;
    }
    match out {
        Some(masked) => Cow::Owned(masked),
        None => Cow::Borrowed(bytes),
    }
}

/// Where the credential starts in a header line: after the name, its spaces and the scheme word.
/// A bare scheme (`Proxy-Authenticate: NTLM`) has nothing after it to mask.
fn skip_scheme(line: &[u8], name: usize) -> usize {
    let mut at = name;
    while line.get(at) == Some(&b' ') {
        at += 1;
    }
    let scheme_end = line[at..]
        .iter()
        .position(|&b| b == b' ')
        .map_or(line.len(), |i| at + i + 1);
    scheme_end
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_the_credential_and_keeps_the_length_and_scheme() {
        let request =
            b"CONNECT a:443 HTTP/1.1\r\nProxy-Authorization: Basic dXNlcjpwYXNz\r\nHost: a\r\n\r\n";
        let masked = redact(request);
        assert_eq!(masked.len(), request.len());
        let text = String::from_utf8_lossy(&masked);
        assert!(
            text.contains("Proxy-Authorization: Basic ************\r\n"),
            "{text}"
        );
        assert!(text.contains("Host: a\r\n"));
    }

    #[test]
    fn masks_ntlm_and_digest_challenges_but_keeps_bare_offers() {
        let answer = b"HTTP/1.1 407 X\r\nProxy-Authenticate: NTLM TlRMTVNTUAACAAAA\r\n\
                       Proxy-Authenticate: NTLM\r\nProxy-Authenticate: Digest nonce=\"abc\"\r\n\r\n";
        let masked = redact(answer);
        assert_eq!(masked.len(), answer.len());
        let text = String::from_utf8_lossy(&masked);
        assert!(
            text.contains("Proxy-Authenticate: NTLM ****************\r\n"),
            "{text}"
        );
        assert!(text.contains("Proxy-Authenticate: NTLM\r\n"), "{text}");
        assert!(
            text.contains("Proxy-Authenticate: Digest ***********\r\n"),
            "{text}"
        );
    }

    #[test]
    fn leaves_other_bytes_borrowed() {
        assert!(matches!(
            redact(b"GET / HTTP/1.1\r\n\r\n"),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn never_panics_on_a_bare_header_name() {
        assert_eq!(redact(b"authorization:").len(), 14);
        assert_eq!(redact(b"\nAuthorization:   ").len(), 18);
    }
}
