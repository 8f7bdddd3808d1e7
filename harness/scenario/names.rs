//! The names a scenario may refer to outside itself: certificate profiles, CA roles, client proxy modes.

use egresslab_certs::{CaRole, Profile};

/// Certificate profile names of the certificate factory (kebab-case).
pub fn profiles() -> Vec<&'static str> {
    Profile::ALL.iter().map(Profile::name).collect()
}

/// CA role names of the certificate factory.
pub fn ca_roles() -> Vec<&'static str> {
    CaRole::ALL.iter().map(CaRole::name).collect()
}

/// `a`, `b` and `c` as an "expected" list for error messages.
pub fn one_of(names: &[&str]) -> String {
    let quoted: Vec<String> = names.iter().map(|name| format!("`{name}`")).collect();
    match quoted.len() {
        0 => "nothing (none is defined)".to_owned(),
        1 => quoted[0].clone(),
        _ => format!("one of {}", quoted.join(", ")),
    }
}

/// Whether a diagnosis code is well formed: dotted lowercase words (`proxy.auth_required`).
pub fn is_code(code: &str) -> bool {
    let parts: Vec<&str> = code.split('.').collect();
    parts.len() >= 2
        && parts.iter().all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        })
}

/// Whether a diagnosis code is one of the taxonomy's (harness/check/diagnoses.toml).
pub fn is_known_code(code: &str) -> bool {
    crate::check::taxonomy::lookup(code).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_dotted_lowercase() {
        assert!(is_code("proxy.auth_required"));
        assert!(is_code("net.tcp.filtered"));
        assert!(!is_code("proxy"));
        assert!(!is_code("Proxy.Auth"));
        assert!(!is_code("proxy..x"));
    }

    #[test]
    fn only_taxonomy_codes_are_known() {
        assert!(is_known_code("proxy.auth_required"));
        assert!(is_known_code("connector.servicebus_https_fallback"));
        assert!(!is_known_code("proxy.no_such_thing"));
    }

    #[test]
    fn expected_lists_read_naturally() {
        assert_eq!(one_of(&[]), "nothing (none is defined)");
        assert_eq!(one_of(&["a"]), "`a`");
        assert_eq!(one_of(&["a", "b"]), "one of `a`, `b`");
    }
}
