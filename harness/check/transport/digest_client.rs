//! The checks' Digest client for a proxy's 407: the response (RFC 7616, `qop=auth`) to the first
//! Digest challenge whose algorithm it knows, computed with [`crate::digest`], the module the lab's
//! proxy verifies with.

use super::http::HttpHead;
use crate::digest::{self, Algorithm, Response};

/// The client nonce; fixed, since the proxy's nonce already makes every response fresh.
const CNONCE: &str = "6567726573736c6162";

/// The `Proxy-Authorization` value answering the first Digest challenge of a 407 for CONNECT
/// `target` as `user` with `password`; `None` if `head` carries no Digest challenge it can answer.
pub(crate) fn answer(head: &HttpHead, user: &str, password: &str, target: &str) -> Option<String> {
    if head.status != 407 {
        return None;
    }
    head.all("Proxy-Authenticate")
        .into_iter()
        .find_map(|value| {
            let params = digest::params(value.trim().strip_prefix("Digest ")?);
            let algorithm = Algorithm::parse(params.get("algorithm").map(String::as_str))?;
            let (realm, nonce) = (params.get("realm")?, params.get("nonce")?);
            let response = Response {
                algorithm,
                user,
                realm,
                password,
                method: "CONNECT",
                uri: target,
                nonce,
                nc: "00000001",
                cnonce: CNONCE,
            }
            .compute();
            let quote = |text: &str| text.replace('\\', "\\\\").replace('"', "\\\"");
            Some(format!(
                "Digest username=\"{}\", realm=\"{}\", nonce=\"{}\", uri=\"{target}\", \
             algorithm={}, response=\"{response}\", qop=auth, nc=00000001, cnonce=\"{CNONCE}\"",
                quote(user),
                quote(realm),
                quote(nonce),
                algorithm.name()
            ))
        })
}
