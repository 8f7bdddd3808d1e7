//! Just enough TLS parsing for the middleboxes: the versions a ClientHello offers, and the signature
//! algorithm of the first certificate in a plaintext (TLS 1.2) Certificate message.

/// Largest handshake prefix a middlebox buffers before giving up and letting the traffic through.
const MAX_BUFFER: usize = 64 * 1024;

const CONTENT_CHANGE_CIPHER_SPEC: u8 = 20;
const CONTENT_HANDSHAKE: u8 = 22;
const HANDSHAKE_CLIENT_HELLO: u8 = 1;
const HANDSHAKE_CERTIFICATE: u8 = 11;
const EXTENSION_SUPPORTED_VERSIONS: u16 = 43;
const TLS12: u16 = 0x0303;
const TLS13: u16 = 0x0304;

/// sha512WithRSAEncryption and ecdsa-with-SHA512.
const SHA512_SIGNATURES: [&str; 2] = ["1.2.840.113549.1.1.13", "1.2.840.10045.4.3.4"];

/// What the first bytes of a connection say about the TLS versions the client offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hello {
    /// A ClientHello offering TLS 1.2 or 1.3.
    OffersTls12OrLater,
    /// A ClientHello offering only versions older than TLS 1.2.
    OnlyOlder,
    /// Not a TLS ClientHello (or too large to judge).
    NotTls,
}

/// Judge the bytes read so far; `None` means more bytes are needed.
pub(crate) fn judge_client_hello(bytes: &[u8]) -> Option<Hello> {
    if bytes.len() > MAX_BUFFER {
        return Some(Hello::NotTls);
    }
    let mut handshake = Vec::new();
    let mut rest = bytes;
    loop {
        if rest.len() < 5 {
            break;
        }
        if rest[0] != CONTENT_HANDSHAKE {
            return Some(Hello::NotTls);
        }
        let len = usize::from(u16::from_be_bytes([rest[3], rest[4]]));
        if rest.len() < 5 + len {
            break;
        }
        handshake.extend_from_slice(&rest[5..5 + len]);
        rest = &rest[5 + len..];
        if let Some(verdict) = judge_handshake(&handshake) {
            return Some(verdict);
        }
    }
    if !bytes.is_empty() && bytes[0] != CONTENT_HANDSHAKE {
        return Some(Hello::NotTls);
    }
    None
}

fn judge_handshake(handshake: &[u8]) -> Option<Hello> {
    if handshake.len() < 4 {
        return None;
    }
    if handshake[0] != HANDSHAKE_CLIENT_HELLO {
        return Some(Hello::NotTls);
    }
    let len = u24(&handshake[1..4]);
    let body = handshake.get(4..4 + len)?;
    Some(client_hello_versions(body).unwrap_or(Hello::NotTls))
}

fn client_hello_versions(body: &[u8]) -> Option<Hello> {
    let mut reader = Reader(body);
    let legacy = reader.u16()?;
    reader.take(32)?;
    let session = usize::from(reader.u8()?);
    reader.take(session)?;
    let suites = usize::from(reader.u16()?);
    reader.take(suites)?;
    let compression = usize::from(reader.u8()?);
    reader.take(compression)?;
    let mut offers_new = legacy >= TLS12;
    if let Some(ext_len) = reader.u16() {
        let mut extensions = Reader(reader.take(usize::from(ext_len))?);
        while let Some(kind) = extensions.u16() {
            let len = usize::from(extensions.u16()?);
            let data = Reader(extensions.take(len)?);
            if kind == EXTENSION_SUPPORTED_VERSIONS {
                let mut data = data;
                let count = usize::from(data.u8()?);
                let mut list = Reader(data.take(count)?);
                while let Some(version) = list.u16() {
                    offers_new |= version == TLS12 || version == TLS13;
                }
            }
        }
    }
    Some(if offers_new {
        Hello::OffersTls12OrLater
    } else {
        Hello::OnlyOlder
    })
}

/// Follows one direction of a TLS connection and reports a SHA-512-signed certificate in a plaintext
/// Certificate message. It stops looking at ChangeCipherSpec (everything after is encrypted) or at bytes
/// that are not TLS.
#[derive(Debug, Default)]
pub(crate) struct CertificateSniffer {
    records: Vec<u8>,
    handshake: Vec<u8>,
    done: bool,
}

impl CertificateSniffer {
    /// Feed the next bytes of the direction; true once a SHA-512-signed first certificate was seen.
    pub(crate) fn feed(&mut self, bytes: &[u8]) -> bool {
        if self.done {
            return false;
        }
        self.records.extend_from_slice(bytes);
        while self.records.len() >= 5 {
            let kind = self.records[0];
            let len = usize::from(u16::from_be_bytes([self.records[3], self.records[4]]));
            if !(20..=23).contains(&kind) || self.records.len() > MAX_BUFFER + 5 {
                self.stop();
                return false;
            }
            if self.records.len() < 5 + len {
                break;
            }
            let record: Vec<u8> = self.records.drain(..5 + len).skip(5).collect();
            match kind {
                CONTENT_HANDSHAKE => {
                    self.handshake.extend_from_slice(&record);
                    if self.scan_handshake() {
                        self.stop();
                        return true;
                    }
                }
                CONTENT_CHANGE_CIPHER_SPEC => {
                    self.stop();
                    return false;
                }
                _ => {}
            }
        }
        false
    }

    fn stop(&mut self) {
        self.done = true;
        self.records = Vec::new();
        self.handshake = Vec::new();
    }

    fn scan_handshake(&mut self) -> bool {
        while self.handshake.len() >= 4 {
            let len = u24(&self.handshake[1..4]);
            if self.handshake.len() < 4 + len {
                return false;
            }
            let message: Vec<u8> = self.handshake.drain(..4 + len).collect();
            if message[0] == HANDSHAKE_CERTIFICATE && first_certificate_is_sha512(&message[4..]) {
                return true;
            }
        }
        false
    }
}

fn first_certificate_is_sha512(body: &[u8]) -> bool {
    let mut reader = Reader(body);
    let first = reader
        .take(3)
        .and_then(|_| reader.take(3))
        .map(u24)
        .and_then(|len| reader.take(len));
    let Some(der) = first else {
        return false;
    };
    match x509_parser::parse_x509_certificate(der) {
        Ok((_, cert)) => {
            let oid = cert.signature_algorithm.algorithm.to_id_string();
            SHA512_SIGNATURES.contains(&oid.as_str())
        }
        Err(_) => false,
    }
}

fn u24(bytes: &[u8]) -> usize {
    (usize::from(bytes[0]) << 16) | (usize::from(bytes[1]) << 8) | usize::from(bytes[2])
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Some(head)
    }

    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }

    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_be_bytes([b[0], b[1]]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A ClientHello record with the given legacy version and supported_versions list.
    pub(crate) fn client_hello(legacy: u16, supported: &[u16]) -> Vec<u8> {
        let mut body = legacy.to_be_bytes().to_vec();
        body.extend([7u8; 32]);
        body.push(0);
        body.extend([0, 2, 0x13, 0x01]);
        body.extend([1, 0]);
        let mut extensions = Vec::new();
        if !supported.is_empty() {
            extensions.extend(EXTENSION_SUPPORTED_VERSIONS.to_be_bytes());
            let list: Vec<u8> = supported.iter().flat_map(|v| v.to_be_bytes()).collect();
            extensions.extend(((list.len() + 1) as u16).to_be_bytes());
            extensions.push(list.len() as u8);
            extensions.extend(list);
        }
        body.extend((extensions.len() as u16).to_be_bytes());
        body.extend(extensions);
        let mut handshake = vec![HANDSHAKE_CLIENT_HELLO];
        handshake.extend(&(body.len() as u32).to_be_bytes()[1..]);
        handshake.extend(body);
        let mut record = vec![CONTENT_HANDSHAKE, 3, 1];
        record.extend((handshake.len() as u16).to_be_bytes());
        record.extend(handshake);
        record
    }

    #[test]
    fn judges_client_hello_versions() {
        let tls13 = client_hello(0x0303, &[0x0304]);
        assert_eq!(judge_client_hello(&tls13), Some(Hello::OffersTls12OrLater));
        let tls12 = client_hello(0x0303, &[]);
        assert_eq!(judge_client_hello(&tls12), Some(Hello::OffersTls12OrLater));
        let tls13_only_ext = client_hello(0x0301, &[0x0304]);
        assert_eq!(
            judge_client_hello(&tls13_only_ext),
            Some(Hello::OffersTls12OrLater)
        );
        let old = client_hello(0x0301, &[0x0302, 0x0301]);
        assert_eq!(judge_client_hello(&old), Some(Hello::OnlyOlder));
        assert_eq!(judge_client_hello(&tls13[..20]), None);
        assert_eq!(
            judge_client_hello(b"GET / HTTP/1.1\r\n"),
            Some(Hello::NotTls)
        );
    }

    #[test]
    fn hello_split_over_two_records_is_judged() {
        let record = client_hello(0x0303, &[]);
        let handshake = &record[5..];
        let (a, b) = handshake.split_at(10);
        let mut split = Vec::new();
        for part in [a, b] {
            split.extend([CONTENT_HANDSHAKE, 3, 3]);
            split.extend((part.len() as u16).to_be_bytes());
            split.extend(part);
        }
        assert_eq!(judge_client_hello(&split[..12]), None);
        assert_eq!(judge_client_hello(&split), Some(Hello::OffersTls12OrLater));
    }

    #[test]
    fn sniffer_stops_at_change_cipher_spec_and_non_tls() {
        let mut sniffer = CertificateSniffer::default();
        assert!(!sniffer.feed(&[CONTENT_CHANGE_CIPHER_SPEC, 3, 3, 0, 1, 1]));
        assert!(sniffer.done);
        let mut sniffer = CertificateSniffer::default();
        assert!(!sniffer.feed(b"HTTP/1.1 200 OK\r\n"));
        assert!(sniffer.done);
    }

    proptest! {
        #[test]
        fn parsers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = judge_client_hello(&bytes);
            let mut sniffer = CertificateSniffer::default();
            let _ = sniffer.feed(&bytes);
            let mut tls = vec![CONTENT_HANDSHAKE, 3, 3, 0, bytes.len().min(255) as u8];
            tls.extend(&bytes);
            let _ = judge_client_hello(&tls);
            let _ = CertificateSniffer::default().feed(&tls);
        }
    }
}
