//! Digest (RFC 7616) with MD5 and SHA-256, `qop=auth`: random nonces that expire (an expired one is
//! answered with `stale=true`, so the client retries with the new nonce and no new password prompt),
//! nonce counts that must grow on a connection, responses verified against the user table.
//!
//! Nonces are stateless: the issue time, random bytes and an HMAC-SHA-256 over both under a key drawn
//! once per process, so any connection of the lab can verify a nonce another one issued. Nonce counts
//! are remembered per client connection only (docs/proxy-auth.md).

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::{constant_time_eq, random_bytes, AuthOutcome};
use crate::digest::{self, Algorithm};
use crate::lab::plan::ProxyAuthPlan;

/// Nonces whose counts a connection remembers (the oldest is forgotten beyond this).
const REMEMBERED_NONCES: usize = 16;

/// The nonce counts one connection has seen, per nonce, and how long a nonce stays good.
#[derive(Debug)]
pub(crate) struct Counts {
    seen: BTreeMap<String, (u64, u32)>,
    lifetime_secs: u64,
}

impl Counts {
    /// No nonce seen yet; nonces are good for `lifetime` (whole seconds, at least one).
    pub(crate) fn new(lifetime: std::time::Duration) -> Counts {
        Counts {
            seen: BTreeMap::new(),
            lifetime_secs: lifetime.as_secs().max(1),
        }
    }
}

/// The `Proxy-Authenticate` value offering `algorithm` with a fresh nonce.
pub(crate) fn challenge(realm: &str, algorithm: Algorithm, stale: bool) -> String {
    challenge_at(realm, algorithm, stale, unix_now())
}

fn challenge_at(realm: &str, algorithm: Algorithm, stale: bool, now: u64) -> String {
    let realm = realm.replace(['"', '\\'], "'");
    let nonce = new_nonce(now);
    let algorithm = match algorithm {
        // Squid names no algorithm for MD5 (the RFC default); curl and Python read it so.
        Algorithm::Md5 => String::new(),
        other => format!(", algorithm={}", other.name()),
    };
    format!("Digest realm=\"{realm}\", nonce=\"{nonce}\", qop=\"auth\"{algorithm}, stale={stale}")
}

/// Check a Digest `Proxy-Authorization` (its part after the scheme word) for `method` and the
/// request target `target`, offering `offered` algorithms.
pub(crate) fn check(
    plan: &ProxyAuthPlan,
    offered: &[Algorithm],
    credentials: &str,
    request: (&str, &str),
    counts: &mut Counts,
) -> AuthOutcome {
    check_at(plan, offered, credentials, request, counts, unix_now())
}

fn check_at(
    plan: &ProxyAuthPlan,
    offered: &[Algorithm],
    credentials: &str,
    (method, target): (&str, &str),
    counts: &mut Counts,
    now: u64,
) -> AuthOutcome {
    let params = digest::params(credentials);
    let get = |key: &str| params.get(key).map(String::as_str);
    let user = get("username").map(str::to_owned);
    let rejected = |why: &str| AuthOutcome::Rejected {
        user: user.clone(),
        why: format!("Digest: {why}"),
        digest_only: true,
    };
    let Some(algorithm) = Algorithm::parse(get("algorithm")) else {
        return rejected("unknown algorithm");
    };
    if !offered.contains(&algorithm) {
        return rejected("an algorithm the proxy did not offer");
    }
    let (Some(name), Some(nonce), Some(uri), Some(response)) =
        (user.as_deref(), get("nonce"), get("uri"), get("response"))
    else {
        return rejected("username, nonce, uri or response missing");
    };
    if get("realm") != Some(plan.realm.replace(['"', '\\'], "'").as_str()) {
        return rejected("another realm");
    }
    if !uri_matches(uri, target) {
        return rejected("the uri is not the request's target");
    }
    let Some(issued) = verify_nonce(nonce) else {
        return rejected("a nonce the proxy never issued");
    };
    let (Some("auth"), Some(nc), Some(cnonce)) = (get("qop"), get("nc"), get("cnonce")) else {
        return rejected("qop=auth with nc and cnonce required");
    };
    let Ok(count) = u32::from_str_radix(nc, 16) else {
        return rejected("nc is not hexadecimal");
    };
    let Some(password) = plan
        .users
        .iter()
        .find(|(known, _)| known == name)
        .map(|(_, p)| p)
    else {
        return rejected("unknown user");
    };
    let expected = digest::Response {
        algorithm,
        user: name,
        realm: &plan.realm,
        password,
        method,
        uri,
        nonce,
        nc,
        cnonce,
    }
    .compute();
    if !constant_time_eq(
        expected.as_bytes(),
        response.to_ascii_lowercase().as_bytes(),
    ) {
        return rejected("wrong response (wrong password)");
    }
    if now.saturating_sub(issued) >= counts.lifetime_secs {
        return AuthOutcome::Stale {
            user: name.to_owned(),
        };
    }
    if !counts.advance(nonce, count, now) {
        return rejected("a nonce count that did not grow (replay)");
    }
    AuthOutcome::Accepted {
        user: name.to_owned(),
    }
}

impl Counts {
    /// Record `count` for `nonce`; false if it does not exceed the last one seen.
    fn advance(&mut self, nonce: &str, count: u32, now: u64) -> bool {
        if let Some((_, last)) = self.seen.get(nonce) {
            if count <= *last {
                return false;
            }
        }
        if self.seen.len() >= REMEMBERED_NONCES && !self.seen.contains_key(nonce) {
            let oldest = self
                .seen
                .iter()
                .min_by_key(|(_, (seen, _))| *seen)
                .map(|(n, _)| n.clone());
            if let Some(oldest) = oldest {
                self.seen.remove(&oldest);
            }
        }
        self.seen.insert(nonce.to_owned(), (now, count));
        true
    }
}

/// Whether the digest's `uri` names the request target: the same text, or the path of an absolute
/// URI (some clients send only the path).
fn uri_matches(uri: &str, target: &str) -> bool {
    if uri == target {
        return true;
    }
    let path = target
        .split_once("://")
        .and_then(|(_, rest)| rest.find('/').map(|at| &rest[at..]))
        .unwrap_or("/");
    uri == path
}

/// The process's nonce key, drawn once.
fn nonce_key() -> &'static [u8; 32] {
    static KEY: OnceLock<[u8; 32]> = OnceLock::new();
    KEY.get_or_init(random_bytes)
}

fn nonce_mac(issued: u64, salt: &[u8]) -> Vec<u8> {
    let mut mac = match <Hmac<Sha256> as Mac>::new_from_slice(nonce_key()) {
        Ok(mac) => mac,
        Err(_) => return Vec::new(),
    };
    mac.update(&issued.to_be_bytes());
    mac.update(salt);
    mac.finalize().into_bytes()[..16].to_vec()
}

fn new_nonce(now: u64) -> String {
    let salt: [u8; 8] = random_bytes();
    let mut raw = now.to_be_bytes().to_vec();
    raw.extend_from_slice(&salt);
    raw.extend(nonce_mac(now, &salt));
    hex::encode(raw)
}

/// The issue time of a nonce this process issued; `None` for any other text.
fn verify_nonce(nonce: &str) -> Option<u64> {
    let raw = hex::decode(nonce).ok()?;
    if raw.len() != 32 {
        return None;
    }
    let issued = u64::from_be_bytes(raw[..8].try_into().ok()?);
    constant_time_eq(&nonce_mac(issued, &raw[8..16]), &raw[16..]).then_some(issued)
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::plan::AuthScheme;

    const LIFETIME: std::time::Duration = crate::lab::plan::DEFAULT_DIGEST_NONCE_LIFETIME;

    fn plan() -> ProxyAuthPlan {
        ProxyAuthPlan {
            schemes: vec![AuthScheme::DigestSha256, AuthScheme::Digest],
            realm: "corp proxy".into(),
            users: vec![("alice".into(), "s3cret".into())],
        }
    }

    /// The `Proxy-Authorization` a client computes for `challenge`.
    fn answer(challenge: &str, algorithm: Algorithm, password: &str, nc: &str) -> String {
        let params = digest::params(challenge.trim_start_matches("Digest "));
        let nonce = &params["nonce"];
        let ha1 = algorithm.hash(&format!("alice:corp proxy:{password}"));
        let ha2 = algorithm.hash("CONNECT:a.test:443");
        let response = algorithm.hash(&format!("{ha1}:{nonce}:{nc}:c0ffee:auth:{ha2}"));
        format!(
            "username=\"alice\", realm=\"corp proxy\", nonce=\"{nonce}\", uri=\"a.test:443\", \
             algorithm={}, response=\"{response}\", qop=auth, nc={nc}, cnonce=\"c0ffee\"",
            algorithm.name()
        )
    }

    fn run(credentials: &str, counts: &mut Counts, now: u64) -> AuthOutcome {
        let offered = [Algorithm::Sha256, Algorithm::Md5];
        check_at(
            &plan(),
            &offered,
            credentials,
            ("CONNECT", "a.test:443"),
            counts,
            now,
        )
    }

    #[test]
    fn md5_and_sha256_are_verified_and_counts_must_grow() {
        for algorithm in [Algorithm::Md5, Algorithm::Sha256] {
            let challenge = challenge_at("corp proxy", algorithm, false, 1_000);
            let mut counts = Counts::new(LIFETIME);
            let first = answer(&challenge, algorithm, "s3cret", "00000001");
            assert!(matches!(
                run(&first, &mut counts, 1_001),
                AuthOutcome::Accepted { .. }
            ));
            assert!(matches!(
                run(&first, &mut counts, 1_002),
                AuthOutcome::Rejected { .. }
            ));
            let second = answer(&challenge, algorithm, "s3cret", "00000002");
            assert!(matches!(
                run(&second, &mut counts, 1_003),
                AuthOutcome::Accepted { .. }
            ));
            let wrong = answer(&challenge, algorithm, "guess", "00000003");
            assert!(matches!(
                run(&wrong, &mut counts, 1_004),
                AuthOutcome::Rejected { .. }
            ));
        }
    }

    #[test]
    fn an_expired_nonce_is_stale_and_a_forged_one_rejected() {
        let challenge = challenge_at("corp proxy", Algorithm::Md5, false, 1_000);
        let late = 1_000 + LIFETIME.as_secs();
        let credentials = answer(&challenge, Algorithm::Md5, "s3cret", "00000001");
        assert_eq!(
            run(&credentials, &mut Counts::new(LIFETIME), late),
            AuthOutcome::Stale {
                user: "alice".into()
            }
        );
        let forged = credentials.replace("nonce=\"", "nonce=\"00");
        assert!(matches!(
            run(&forged, &mut Counts::new(LIFETIME), 1_001),
            AuthOutcome::Rejected { .. }
        ));
        assert!(challenge_at("r", Algorithm::Md5, true, 5).ends_with("stale=true"));
    }

    #[test]
    fn params_are_read_with_quotes_and_escapes() {
        let params = digest::params(r#"username="CORP\\alice", nc=00000001 , qop="auth""#);
        assert_eq!(params["username"], r"CORP\alice");
        assert_eq!(params["nc"], "00000001");
        assert_eq!(params["qop"], "auth");
        assert!(uri_matches("/x?y", "http://a.test/x?y"));
        assert!(!uri_matches("/other", "http://a.test/x"));
    }

    proptest::proptest! {
        #[test]
        fn check_never_panics(value in ".{0,200}") {
            let _ = run(&value, &mut Counts::new(LIFETIME), 1);
        }
    }
}
