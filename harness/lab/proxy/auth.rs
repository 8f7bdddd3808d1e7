//! Proxy authentication: Basic really checked, NTLM and Negotiate offered but never accepted.

use base64::Engine;

use crate::lab::plan::{AuthScheme, ProxyAuthPlan};

/// The result of checking a request's `Proxy-Authorization`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AuthOutcome {
    /// Basic credentials matched a user of the plan.
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
    },
    /// A scheme the lab offers but cannot complete (NTLM, Negotiate) or never offered.
    Unsupported {
        /// The scheme the client tried.
        scheme: String,
    },
}

impl AuthOutcome {
    /// The user name to record, if any.
    pub(crate) fn user(&self) -> Option<&str> {
        match self {
            AuthOutcome::Accepted { user } => Some(user),
            AuthOutcome::Rejected { user } => user.as_deref(),
            _ => None,
        }
    }
}

/// One `Proxy-Authenticate` value per configured scheme, in the plan's order.
pub(crate) fn challenges(plan: &ProxyAuthPlan) -> Vec<String> {
    plan.schemes
        .iter()
        .map(|scheme| match scheme {
            AuthScheme::Basic => format!("Basic realm=\"{}\"", plan.realm.replace('"', "'")),
            AuthScheme::Ntlm => "NTLM".to_owned(),
            AuthScheme::Digest => format!(
                "Digest realm=\"{}\", nonce=\"egresslab\", qop=\"auth\", stale=false",
                plan.realm.replace('"', "'")
            ),
            AuthScheme::Negotiate => "Negotiate".to_owned(),
        })
        .collect()
}

/// Check a `Proxy-Authorization` value against the plan.
pub(crate) fn check(plan: &ProxyAuthPlan, header: Option<&str>) -> AuthOutcome {
    let Some(value) = header.map(str::trim).filter(|v| !v.is_empty()) else {
        return AuthOutcome::Missing;
    };
    let (scheme, credentials) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("Basic") || !plan.schemes.contains(&AuthScheme::Basic) {
        return AuthOutcome::Unsupported {
            scheme: scheme.chars().take(32).collect(),
        };
    }
    let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(credentials.trim()) else {
        return AuthOutcome::Rejected { user: None };
    };
    let Some(colon) = decoded.iter().position(|b| *b == b':') else {
        return AuthOutcome::Rejected { user: None };
    };
    let (name, password) = (&decoded[..colon], &decoded[colon + 1..]);
    let user = String::from_utf8_lossy(name).into_owned();
    // Compare against every user so the time taken does not say which names exist.
    let mut matched = false;
    for (known, secret) in &plan.users {
        let hit = constant_time_eq(known.as_bytes(), name)
            & constant_time_eq(secret.as_bytes(), password);
        matched |= hit;
    }
    if matched {
        AuthOutcome::Accepted { user }
    } else {
        AuthOutcome::Rejected { user: Some(user) }
    }
}

/// Equality whose time depends only on the lengths.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for (i, x) in a.iter().enumerate() {
        let y = b.get(i).copied().unwrap_or(0);
        diff |= usize::from(x ^ y);
    }
    diff == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> ProxyAuthPlan {
        ProxyAuthPlan {
            schemes: vec![AuthScheme::Negotiate, AuthScheme::Ntlm, AuthScheme::Basic],
            realm: "corp proxy".into(),
            users: vec![("alice".into(), "s3cret".into())],
        }
    }

    fn basic(user_pass: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(user_pass)
        )
    }

    #[test]
    fn challenges_follow_the_plan_order() {
        assert_eq!(
            challenges(&plan()),
            ["Negotiate", "NTLM", "Basic realm=\"corp proxy\""]
        );
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
        assert_eq!(
            check(&plan, Some(&basic("alice:wrong"))),
            AuthOutcome::Rejected {
                user: Some("alice".into())
            }
        );
        assert_eq!(
            check(&plan, Some(&basic("alice:s3cretX"))),
            AuthOutcome::Rejected {
                user: Some("alice".into())
            }
        );
        assert_eq!(
            check(&plan, Some(&basic("bob:s3cret"))),
            AuthOutcome::Rejected {
                user: Some("bob".into())
            }
        );
        assert_eq!(
            check(&plan, Some("Basic !!!")),
            AuthOutcome::Rejected { user: None }
        );
        assert_eq!(check(&plan, None), AuthOutcome::Missing);
        assert_eq!(check(&plan, Some("  ")), AuthOutcome::Missing);
    }

    #[test]
    fn ntlm_and_negotiate_attempts_are_unsupported() {
        let outcome = check(
            &plan(),
            Some("NTLM TlRMTVNTUAABAAAAB4IIogAAAAAAAAAAAAAAAAAAAAAGAbEdAAAADw=="),
        );
        assert_eq!(
            outcome,
            AuthOutcome::Unsupported {
                scheme: "NTLM".into()
            }
        );
        let basic_not_offered = ProxyAuthPlan {
            schemes: vec![AuthScheme::Ntlm],
            ..plan()
        };
        assert!(matches!(
            check(&basic_not_offered, Some(&basic("alice:s3cret"))),
            AuthOutcome::Unsupported { .. }
        ));
    }

    proptest::proptest! {
        #[test]
        fn check_never_panics(value in ".{0,200}") {
            let _ = check(&plan(), Some(&value));
        }
    }
}
