//! Proxy authentication as a Squid with helpers performs it: Basic, Digest (RFC 7616, MD5 and
//! SHA-256), NTLM (MS-NLMP, NTLMv2) and Negotiate (SPNEGO carrying NTLM). NTLM and Negotiate
//! authenticate a connection in several round trips, so each client connection owns an
//! [`AuthSession`] that remembers the challenge it was issued and the user it proved to be.

mod basic;
mod digest;
mod negotiate;
mod ntlm;

use crate::lab::plan::{AuthScheme, ProxyAuthPlan};

use crate::digest::Algorithm;

/// The NTLM domain when no user of the table names one (`DOMAIN\user`).
pub(crate) const DEFAULT_DOMAIN: &str = "EGRESSLAB";

/// The result of checking a request's `Proxy-Authorization`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AuthOutcome {
    /// The credentials (or the connection's earlier NTLM/Negotiate handshake) proved a user.
    Accepted {
        /// The user name (never the password).
        user: String,
    },
    /// No credentials: challenge.
    Missing,
    /// Credentials that do not match, or that cannot be decoded.
    Rejected {
        /// The user name sent, if one could be read.
        user: Option<String>,
        /// Why, in words that name no secret.
        why: String,
        /// A failed Digest response: Squid challenges again with its Digest offers only.
        digest_only: bool,
    },
    /// A scheme the proxy does not offer.
    Unsupported {
        /// The scheme the client tried.
        scheme: String,
    },
    /// The first leg of NTLM or Negotiate: answer 407 with this one challenge and keep the
    /// connection, on which the client's next message must come.
    Continue {
        /// The `Proxy-Authenticate` value carrying the CHALLENGE message.
        challenge: String,
    },
    /// A right Digest response on an expired nonce: challenge again with `stale=true`.
    Stale {
        /// The user name.
        user: String,
    },
}

impl AuthOutcome {
    /// The user name to record, if any.
    pub(crate) fn user(&self) -> Option<&str> {
        match self {
            AuthOutcome::Accepted { user } | AuthOutcome::Stale { user } => Some(user),
            AuthOutcome::Rejected { user, .. } => user.as_deref(),
            _ => None,
        }
    }

    /// What the timeline should say about this step, if anything (never a secret).
    pub(crate) fn note(&self) -> Option<String> {
        match self {
            AuthOutcome::Rejected { why, .. } => {
                Some(format!("proxy authentication failed: {why}"))
            }
            AuthOutcome::Continue { challenge } => Some(format!(
                "{} challenge (type 2) issued; the client's answer must come on this connection",
                challenge.split(' ').next().unwrap_or("NTLM")
            )),
            AuthOutcome::Stale { .. } => {
                Some("Digest nonce expired: challenged again with stale=true".to_owned())
            }
            _ => None,
        }
    }
}

/// A client connection's authentication state.
#[derive(Debug)]
pub(crate) struct AuthSession {
    /// The NTLM challenge this connection was issued and is waiting to see answered.
    pending: Option<Pending>,
    /// The user this connection proved to be by NTLM or Negotiate (Squid binds those to the
    /// connection: later requests on it need no header).
    bound: Option<String>,
    /// Digest nonce counts seen on this connection.
    counts: digest::Counts,
}

/// A CHALLENGE message issued, awaiting its AUTHENTICATE.
#[derive(Debug)]
struct Pending {
    server_challenge: [u8; 8],
    /// Whether it went out wrapped in SPNEGO (`Negotiate`), so the answer must come so too.
    negotiate: bool,
}

impl Default for AuthSession {
    fn default() -> Self {
        AuthSession::new(crate::lab::plan::DEFAULT_DIGEST_NONCE_LIFETIME)
    }
}

impl AuthSession {
    /// A fresh connection's state; Digest nonces are good for `nonce_lifetime`.
    pub(crate) fn new(nonce_lifetime: std::time::Duration) -> AuthSession {
        AuthSession {
            pending: None,
            bound: None,
            counts: digest::Counts::new(nonce_lifetime),
        }
    }

    /// Check a request's `Proxy-Authorization` (`header`) for `method` and its raw target, moving
    /// this connection's NTLM/Negotiate handshake on.
    pub(crate) fn check(
        &mut self,
        plan: &ProxyAuthPlan,
        header: Option<&str>,
        method: &str,
        target: &str,
    ) -> AuthOutcome {
        let Some(value) = header.map(str::trim).filter(|v| !v.is_empty()) else {
            return match &self.bound {
                Some(user) => AuthOutcome::Accepted { user: user.clone() },
                None => AuthOutcome::Missing,
            };
        };
        let (scheme, credentials) = value.split_once(' ').unwrap_or((value, ""));
        let credentials = credentials.trim();
        let offered = |wanted: AuthScheme| plan.schemes.contains(&wanted);
        let algorithms = digest_algorithms(plan);
        if scheme.eq_ignore_ascii_case("Basic") && offered(AuthScheme::Basic) {
            basic::check(plan, credentials)
        } else if scheme.eq_ignore_ascii_case("Digest") && !algorithms.is_empty() {
            digest::check(
                plan,
                &algorithms,
                credentials,
                (method, target),
                &mut self.counts,
            )
        } else if scheme.eq_ignore_ascii_case("NTLM") && offered(AuthScheme::Ntlm) {
            self.ntlm(plan, credentials, false)
        } else if scheme.eq_ignore_ascii_case("Negotiate") && offered(AuthScheme::Negotiate) {
            self.ntlm(plan, credentials, true)
        } else {
            AuthOutcome::Unsupported {
                scheme: scheme.chars().take(32).collect(),
            }
        }
    }
}

/// The Digest algorithms the plan offers, in its order.
fn digest_algorithms(plan: &ProxyAuthPlan) -> Vec<Algorithm> {
    plan.schemes
        .iter()
        .filter_map(|scheme| match scheme {
            AuthScheme::Digest => Some(Algorithm::Md5),
            AuthScheme::DigestSha256 => Some(Algorithm::Sha256),
            _ => None,
        })
        .collect()
}

/// The `Proxy-Authenticate` values of a 407 after `outcome`: the one NTLM/Negotiate challenge of a
/// handshake in progress, or one offer per scheme in the plan's order (Digest ones with fresh
/// nonces). A failed NTLM answer gets the plain offers again; a failed or stale Digest response
/// only the Digest offers (with `stale=true` after a stale nonce): what Squid 5.7 sends
/// (tests/real_squid_auth.rs).
pub(crate) fn challenges(plan: &ProxyAuthPlan, outcome: Option<&AuthOutcome>) -> Vec<String> {
    if let Some(AuthOutcome::Continue { challenge }) = outcome {
        return vec![challenge.clone()];
    }
    let stale = matches!(outcome, Some(AuthOutcome::Stale { .. }));
    let digest_only = stale
        || matches!(
            outcome,
            Some(AuthOutcome::Rejected {
                digest_only: true,
                ..
            })
        );
    plan.schemes
        .iter()
        .filter(|scheme| {
            !digest_only || matches!(scheme, AuthScheme::Digest | AuthScheme::DigestSha256)
        })
        .map(|scheme| match scheme {
            AuthScheme::Basic => basic::challenge(&plan.realm),
            AuthScheme::Ntlm => "NTLM".to_owned(),
            AuthScheme::Digest => digest::challenge(&plan.realm, Algorithm::Md5, stale),
            AuthScheme::DigestSha256 => digest::challenge(&plan.realm, Algorithm::Sha256, stale),
            AuthScheme::Negotiate => "Negotiate".to_owned(),
        })
        .collect()
}

/// Check one `Proxy-Authorization` value on a fresh connection (no handshake in progress), for a
/// `GET /`.
pub(crate) fn check(plan: &ProxyAuthPlan, header: Option<&str>) -> AuthOutcome {
    AuthSession::default().check(plan, header, "GET", "/")
}

/// `N` random bytes from the operating system. Should it fail (it does not on Linux), the bytes
/// come from a hash of the time and a counter, which is still unique per call.
pub(crate) fn random_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    if getrandom::getrandom(&mut out).is_err() {
        use sha2::Digest;
        use std::sync::atomic::{AtomicU64, Ordering};
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let seed = format!(
            "{:?}{}",
            std::time::SystemTime::now(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let digest = sha2::Sha256::digest(seed.as_bytes());
        for (byte, value) in out.iter_mut().zip(digest.iter().cycle()) {
            *byte = *value;
        }
    }
    out
}

pub(crate) use crate::ntlm::constant_time_eq;

/// Whether `name` with `password` is a user of the plan's table (Basic, and SOCKS5's RFC 1929),
/// names compared as written. Every entry is compared, so the time taken does not say which
/// names exist.
pub(crate) fn known_user(plan: &ProxyAuthPlan, name: &[u8], password: &[u8]) -> bool {
    let mut matched = false;
    for (known, secret) in &plan.users {
        let hit = constant_time_eq(known.as_bytes(), name)
            & constant_time_eq(secret.as_bytes(), password);
        matched |= hit;
    }
    matched
}
#[cfg(test)]
mod tests {
    use super::*;
    use crate::ntlm as msnlmp;
    use crate::ntlm::spnego;
    use base64::Engine;

    fn plan() -> ProxyAuthPlan {
        ProxyAuthPlan {
            schemes: vec![AuthScheme::Negotiate, AuthScheme::Ntlm, AuthScheme::Basic],
            realm: "corp proxy".into(),
            users: vec![
                ("alice".into(), "s3cret".into()),
                ("CORP\\bob".into(), "b0b".into()),
            ],
        }
    }

    fn basic(user_pass: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(user_pass)
        )
    }

    fn b64(bytes: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    fn unb64(text: &str) -> Vec<u8> {
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .unwrap()
    }

    /// Run the NTLM handshake on one session with the lab's own client side.
    fn ntlm_handshake(
        session: &mut AuthSession,
        user: &str,
        domain: &str,
        password: &str,
    ) -> AuthOutcome {
        let plan = plan();
        let first = format!("NTLM {}", b64(&msnlmp::negotiate_message()));
        let AuthOutcome::Continue { challenge } = session.check(&plan, Some(&first), "GET", "/")
        else {
            panic!("no challenge");
        };
        assert_eq!(
            challenges(
                &plan,
                Some(&AuthOutcome::Continue {
                    challenge: challenge.clone()
                })
            ),
            std::slice::from_ref(&challenge)
        );
        let type2 = unb64(challenge.strip_prefix("NTLM ").unwrap());
        let type3 = msnlmp::authenticate_message(&type2, user, domain, password, [7; 8]).unwrap();
        session.check(&plan, Some(&format!("NTLM {}", b64(&type3))), "GET", "/")
    }

    #[test]
    fn challenges_follow_the_plan_order() {
        assert_eq!(
            challenges(&plan(), None),
            ["Negotiate", "NTLM", "Basic realm=\"corp proxy\""]
        );
        let digest = ProxyAuthPlan {
            schemes: vec![AuthScheme::DigestSha256, AuthScheme::Digest],
            ..plan()
        };
        let offers = challenges(&digest, None);
        assert!(offers[0].contains("algorithm=SHA-256") && offers[0].ends_with("stale=false"));
        assert!(!offers[1].contains("algorithm") && offers[1].contains("qop=\"auth\""));
        assert_ne!(offers[0], challenges(&digest, None)[0], "nonces are fresh");
        let stale = AuthOutcome::Stale {
            user: "alice".into(),
        };
        assert!(challenges(&digest, Some(&stale))[1].ends_with("stale=true"));
    }

    #[test]
    fn basic_is_really_checked() {
        let plan = plan();
        assert_eq!(
            check(&plan, Some(&basic("alice:s3cret"))),
            AuthOutcome::Accepted {
                user: "alice".into()
            }
        );
        for wrong in ["alice:wrong", "alice:s3cretX", "bob:s3cret"] {
            assert!(matches!(
                check(&plan, Some(&basic(wrong))),
                AuthOutcome::Rejected { user: Some(_), .. }
            ));
        }
        assert!(matches!(
            check(&plan, Some("Basic !!!")),
            AuthOutcome::Rejected { user: None, .. }
        ));
        assert_eq!(check(&plan, None), AuthOutcome::Missing);
        assert_eq!(check(&plan, Some("  ")), AuthOutcome::Missing);
    }

    #[test]
    fn ntlm_binds_the_connection_to_the_user() {
        let mut session = AuthSession::default();
        assert_eq!(
            ntlm_handshake(&mut session, "alice", "", "s3cret"),
            AuthOutcome::Accepted {
                user: "CORP\\alice".into()
            }
        );
        assert_eq!(
            session.check(&plan(), None, "GET", "/next"),
            AuthOutcome::Accepted {
                user: "CORP\\alice".into()
            }
        );
        let mut bob = AuthSession::default();
        assert_eq!(
            ntlm_handshake(&mut bob, "Bob", "corp", "b0b"),
            AuthOutcome::Accepted {
                user: "CORP\\bob".into()
            }
        );
    }

    #[test]
    fn a_wrong_ntlm_password_or_domain_is_rejected_and_offered_again() {
        for (user, domain, password) in [
            ("alice", "", "nope"),
            ("bob", "OTHER", "b0b"),
            ("carol", "", "x"),
        ] {
            let mut session = AuthSession::default();
            let outcome = ntlm_handshake(&mut session, user, domain, password);
            assert!(
                matches!(outcome, AuthOutcome::Rejected { .. }),
                "{outcome:?}"
            );
            assert_eq!(
                challenges(&plan(), Some(&outcome)),
                challenges(&plan(), None)
            );
            assert_eq!(
                session.check(&plan(), None, "GET", "/"),
                AuthOutcome::Missing
            );
        }
    }

    #[test]
    fn an_answer_on_a_connection_without_a_challenge_is_rejected() {
        let mut first = AuthSession::default();
        let offer = format!("NTLM {}", b64(&msnlmp::negotiate_message()));
        let AuthOutcome::Continue { challenge } = first.check(&plan(), Some(&offer), "GET", "/")
        else {
            panic!("no challenge");
        };
        let type2 = unb64(challenge.strip_prefix("NTLM ").unwrap());
        let type3 = msnlmp::authenticate_message(&type2, "alice", "", "s3cret", [1; 8]).unwrap();
        // The answer lands on another connection (a load balancer's choice): no challenge there.
        let mut other = AuthSession::default();
        let outcome = other.check(&plan(), Some(&format!("NTLM {}", b64(&type3))), "GET", "/");
        let AuthOutcome::Rejected { why, .. } = outcome else {
            panic!("{outcome:?}");
        };
        assert!(why.contains("issued no challenge"), "{why}");
    }

    #[test]
    fn negotiate_wraps_ntlm_in_spnego() {
        let plan = plan();
        let mut session = AuthSession::default();
        let init = spnego::client_init(&msnlmp::negotiate_message());
        let first = format!("Negotiate {}", b64(&init));
        let AuthOutcome::Continue { challenge } =
            session.check(&plan, Some(&first), "CONNECT", "a:443")
        else {
            panic!("no challenge");
        };
        let token = unb64(challenge.strip_prefix("Negotiate ").unwrap());
        let type2 = spnego::server_mech_token(&token).unwrap();
        let type3 = msnlmp::authenticate_message(&type2, "alice", "", "s3cret", [2; 8]).unwrap();
        let answer = format!("Negotiate {}", b64(&spnego::client_response(&type3)));
        assert_eq!(
            session.check(&plan, Some(&answer), "CONNECT", "a:443"),
            AuthOutcome::Accepted {
                user: "CORP\\alice".into()
            }
        );
    }

    #[test]
    fn schemes_not_offered_are_unsupported() {
        let basic_not_offered = ProxyAuthPlan {
            schemes: vec![AuthScheme::Ntlm],
            ..plan()
        };
        assert!(matches!(
            check(&basic_not_offered, Some(&basic("alice:s3cret"))),
            AuthOutcome::Unsupported { .. }
        ));
        assert!(matches!(
            check(&basic_not_offered, Some("Digest username=\"alice\"")),
            AuthOutcome::Unsupported { .. }
        ));
    }

    #[test]
    fn notes_name_no_secret() {
        let mut session = AuthSession::default();
        let outcome = ntlm_handshake(&mut session, "alice", "", "hunter2");
        let note = outcome.note().unwrap();
        assert!(
            !note.contains("hunter2") && note.contains("wrong NTLMv2 response"),
            "{note}"
        );
    }

    proptest::proptest! {
        #[test]
        fn check_never_panics(value in ".{0,200}") {
            let _ = check(&plan(), Some(&value));
            let mut session = AuthSession::default();
            let _ = session.check(&plan(), Some(&format!("NTLM {value}")), "GET", "/");
            let _ = session.check(&plan(), Some(&format!("Negotiate {value}")), "GET", "/");
        }
    }
}
