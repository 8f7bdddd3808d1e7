//! Basic (RFC 7617): `user:password` in base64, compared with the user table.

use base64::Engine;

use super::{known_user, AuthOutcome};
use crate::lab::plan::ProxyAuthPlan;

/// The `Proxy-Authenticate` value offering Basic.
pub(crate) fn challenge(realm: &str) -> String {
    format!("Basic realm=\"{}\"", realm.replace('"', "'"))
}

/// Check Basic credentials (the part after the scheme word).
pub(crate) fn check(plan: &ProxyAuthPlan, credentials: &str) -> AuthOutcome {
    let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(credentials.trim()) else {
        return rejected(None, "not base64");
    };
    let Some(colon) = decoded.iter().position(|b| *b == b':') else {
        return rejected(None, "no colon between user and password");
    };
    let (name, password) = (&decoded[..colon], &decoded[colon + 1..]);
    let user = String::from_utf8_lossy(name).into_owned();
    if known_user(plan, name, password) {
        AuthOutcome::Accepted { user }
    } else {
        rejected(Some(user), "unknown user or wrong password")
    }
}

fn rejected(user: Option<String>, why: &str) -> AuthOutcome {
    AuthOutcome::Rejected {
        user,
        why: format!("Basic: {why}"),
        digest_only: false,
    }
}
