//! HTTP Digest (RFC 7616, `qop=auth`) arithmetic shared by both sides: the lab's proxy verifies a
//! response with it and the checks compute one with it, so neither looks inside the other.
//!
//! ```
//! use egresslab::digest::{params, Algorithm, Response};
//! let challenge = params(r#"realm="corp", nonce="abc", qop="auth", algorithm=SHA-256"#);
//! let algorithm = Algorithm::parse(challenge.get("algorithm").map(String::as_str)).unwrap();
//! let response = Response {
//!     algorithm,
//!     user: "alice",
//!     realm: &challenge["realm"],
//!     password: "pw",
//!     method: "CONNECT",
//!     uri: "a.test:443",
//!     nonce: &challenge["nonce"],
//!     nc: "00000001",
//!     cnonce: "c0ffee",
//! };
//! assert_eq!(response.compute().len(), 64);
//! ```

use std::collections::BTreeMap;

use sha2::{Digest as _, Sha256};

/// A Digest hash algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// `MD5`, the only one Squid 5.7 offers.
    Md5,
    /// `SHA-256` (RFC 7616).
    Sha256,
}

impl Algorithm {
    /// The algorithm an `algorithm=` parameter names; none means MD5 (RFC 7616); `None` for any
    /// other name.
    pub fn parse(name: Option<&str>) -> Option<Algorithm> {
        match name.unwrap_or("MD5") {
            a if a.eq_ignore_ascii_case("MD5") => Some(Algorithm::Md5),
            a if a.eq_ignore_ascii_case("SHA-256") => Some(Algorithm::Sha256),
            _ => None,
        }
    }

    /// The name RFC 7616 gives it (`MD5`, `SHA-256`).
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Sha256 => "SHA-256",
        }
    }

    /// The lower-case hex digest of `text`.
    pub fn hash(self, text: &str) -> String {
        match self {
            Algorithm::Md5 => hex::encode(md5::Md5::digest(text.as_bytes())),
            Algorithm::Sha256 => hex::encode(Sha256::digest(text.as_bytes())),
        }
    }
}

/// The inputs of one `qop=auth` response.
#[derive(Debug, Clone, Copy)]
pub struct Response<'a> {
    /// The hash.
    pub algorithm: Algorithm,
    /// The user name as sent.
    pub user: &'a str,
    /// The challenge's realm.
    pub realm: &'a str,
    /// The password (never logged).
    pub password: &'a str,
    /// The request method (`CONNECT`, `GET`).
    pub method: &'a str,
    /// The `uri` parameter (the request target).
    pub uri: &'a str,
    /// The server's nonce.
    pub nonce: &'a str,
    /// The nonce count, eight hex digits.
    pub nc: &'a str,
    /// The client's nonce.
    pub cnonce: &'a str,
}

impl Response<'_> {
    /// The `response` value: H(H(user:realm:password):nonce:nc:cnonce:auth:H(method:uri)).
    pub fn compute(&self) -> String {
        let h = |text: String| self.algorithm.hash(&text);
        let ha1 = h(format!("{}:{}:{}", self.user, self.realm, self.password));
        let ha2 = h(format!("{}:{}", self.method, self.uri));
        h(format!(
            "{ha1}:{}:{}:{}:auth:{ha2}",
            self.nonce, self.nc, self.cnonce
        ))
    }
}

/// `key=value, key="quoted value"` pairs, keys lower-cased; at most 32 pairs.
pub fn params(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut rest = text.trim_start();
    while !rest.is_empty() && out.len() < 32 {
        let Some(eq) = rest.find('=') else { break };
        let key = rest[..eq]
            .trim()
            .trim_start_matches(',')
            .trim()
            .to_ascii_lowercase();
        rest = rest[eq + 1..].trim_start();
        let value = if let Some(quoted) = rest.strip_prefix('"') {
            let mut value = String::new();
            let mut chars = quoted.char_indices();
            let mut end = quoted.len();
            while let Some((at, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, next)) = chars.next() {
                            value.push(next);
                        }
                    }
                    '"' => {
                        end = at + 1;
                        break;
                    }
                    c => value.push(c),
                }
            }
            rest = &quoted[end.min(quoted.len())..];
            value
        } else {
            let end = rest.find(',').unwrap_or(rest.len());
            let value = rest[..end].trim().to_owned();
            rest = &rest[end..];
            value
        };
        rest = rest.trim_start().trim_start_matches(',').trim_start();
        out.insert(key, value);
    }
    out
}
