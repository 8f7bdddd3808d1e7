//! The NTLM step of a connection's [`AuthSession`]: a NEGOTIATE gets a CHALLENGE and is remembered
//! on the connection; the AUTHENTICATE that follows on the same connection is verified (NTLMv2) against
//! the user table. The messages and the arithmetic are [`crate::ntlm`]'s.

use base64::Engine;

use crate::lab::plan::ProxyAuthPlan;
use crate::ntlm as msnlmp;

use super::{random_bytes, AuthOutcome, AuthSession, Pending, DEFAULT_DOMAIN};

impl AuthSession {
    /// One NTLM leg, bare (`NTLM`) or inside `Negotiate` (SPNEGO, or a raw NTLM message, which
    /// RFC 4559 clients may send too).
    pub(super) fn ntlm(
        &mut self,
        plan: &ProxyAuthPlan,
        credentials: &str,
        negotiate: bool,
    ) -> AuthOutcome {
        let scheme = if negotiate { "Negotiate" } else { "NTLM" };
        let rejected = |user: Option<String>, why: String| AuthOutcome::Rejected {
            user,
            why: format!("{scheme}: {why}"),
            digest_only: false,
        };
        let pending = self.pending.take();
        let Ok(token) = base64::engine::general_purpose::STANDARD.decode(credentials) else {
            return rejected(None, "the token is not base64".to_owned());
        };
        let (message, wrapped) = if negotiate {
            match super::negotiate::unwrap(token) {
                Ok(unwrapped) => unwrapped,
                Err(error) => return rejected(None, error.to_string()),
            }
        } else {
            (token, false)
        };
        match msnlmp::message_type(&message) {
            Ok(1) if pending.is_some() => rejected(
                None,
                "a second NEGOTIATE while a challenge is waiting for its answer".to_owned(),
            ),
            Ok(1) => {
                let parsed = match msnlmp::parse_negotiate(&message) {
                    Ok(parsed) => parsed,
                    Err(error) => return rejected(None, error.to_string()),
                };
                let server_challenge: [u8; 8] = random_bytes();
                let domain = ntlm_domain(plan);
                let type2 = msnlmp::challenge_message(
                    &parsed,
                    server_challenge,
                    domain,
                    msnlmp::filetime_now(),
                );
                let token = super::negotiate::wrap(type2, wrapped);
                self.pending = Some(Pending {
                    server_challenge,
                    negotiate: wrapped,
                });
                self.bound = None;
                AuthOutcome::Continue {
                    challenge: format!(
                        "{scheme} {}",
                        base64::engine::general_purpose::STANDARD.encode(token)
                    ),
                }
            }
            Ok(3) => {
                let auth = match msnlmp::parse_authenticate(&message) {
                    Ok(auth) => auth,
                    Err(error) => return rejected(None, error.to_string()),
                };
                let user = Some(qualified(&auth.domain, &auth.user));
                let Some(pending) = pending else {
                    return rejected(
                        user,
                        "an AUTHENTICATE message on a connection that was issued no challenge \
                         (the connection changed between the challenge and the answer)"
                            .to_owned(),
                    );
                };
                if pending.negotiate != wrapped {
                    return rejected(user, "the answer changed its SPNEGO wrapping".to_owned());
                }
                match verify_ntlm(plan, &auth, &pending.server_challenge) {
                    Ok(Some(name)) => {
                        self.bound = Some(name.clone());
                        AuthOutcome::Accepted { user: name }
                    }
                    Ok(None) => rejected(
                        user,
                        "wrong NTLMv2 response (unknown user, other domain or wrong password)"
                            .to_owned(),
                    ),
                    Err(error) => rejected(user, error.to_string()),
                }
            }
            Ok(other) => rejected(None, format!("unexpected NTLM message type {other}")),
            Err(error) => rejected(None, error.to_string()),
        }
    }
}

/// The user of the table `auth` proves to be, named `DOMAIN\user`, if any. A table user names its
/// domain as `DOMAIN\user`; without one it is in [`ntlm_domain`]. The client may send its domain
/// empty (curl's `-U user:password`).
fn verify_ntlm(
    plan: &ProxyAuthPlan,
    auth: &msnlmp::Authenticate,
    server_challenge: &[u8; 8],
) -> Result<Option<String>, msnlmp::NtlmError> {
    let default = ntlm_domain(plan);
    let mut found = None;
    for (name, password) in &plan.users {
        let (domain, user) = split_user(name);
        let domain = domain.unwrap_or(default);
        let same_domain = auth.domain.is_empty() || auth.domain.eq_ignore_ascii_case(domain);
        if !same_domain || !auth.user.eq_ignore_ascii_case(user) {
            continue;
        }
        if msnlmp::verify_v2(auth, password, server_challenge)? && found.is_none() {
            found = Some(qualified(domain, user));
        }
    }
    Ok(found)
}

/// `DOMAIN\user`, or `user` when the domain is empty.
fn qualified(domain: &str, user: &str) -> String {
    if domain.is_empty() {
        user.to_owned()
    } else {
        format!("{domain}\\{user}")
    }
}

/// A table name split into its domain (before a backslash) and user.
fn split_user(name: &str) -> (Option<&str>, &str) {
    match name.split_once('\\') {
        Some((domain, user)) => (Some(domain), user),
        None => (None, name),
    }
}

/// The NTLM domain the proxy's challenges name: the first domain of the user table, else
/// [`DEFAULT_DOMAIN`].
pub(super) fn ntlm_domain(plan: &ProxyAuthPlan) -> &str {
    plan.users
        .iter()
        .find_map(|(name, _)| split_user(name).0)
        .unwrap_or(DEFAULT_DOMAIN)
}
