//! The vocabularies a scenario may use from outside itself — certificate profiles, CA roles, diagnosis
//! codes, firewall vantages — and the client's proxy words; each defined once and resolved to its type
//! by validation.

use std::str::FromStr;

use egresslab_certs::{CaRole, Profile};

use crate::check::taxonomy;
use crate::check::Code;

/// A closed vocabulary: the words a scenario may write for one kind of thing, and the type each
/// word resolves to.
pub trait Vocabulary: Sized {
    /// What the words name, for error messages (`certificate profile`).
    const KIND: &'static str;
    /// The type a word stands for, if it is one of the vocabulary's.
    fn lookup(word: &str) -> Option<Self>;
    /// What would have been accepted, for error messages.
    fn expected() -> String;
}

impl Vocabulary for Profile {
    const KIND: &'static str = "certificate profile";
    fn lookup(word: &str) -> Option<Self> {
        Profile::from_str(word).ok()
    }
    fn expected() -> String {
        one_of(&profiles())
    }
}

impl Vocabulary for CaRole {
    const KIND: &'static str = "CA role";
    fn lookup(word: &str) -> Option<Self> {
        CaRole::from_str(word).ok()
    }
    fn expected() -> String {
        one_of(&ca_roles())
    }
}

impl Vocabulary for Code {
    const KIND: &'static str = "diagnosis code";
    fn lookup(word: &str) -> Option<Self> {
        taxonomy::lookup(word).map(|diagnosis| Code(diagnosis.code.as_str()))
    }
    fn expected() -> String {
        "a code of the taxonomy (harness/check/diagnoses.toml, `egresslab explain`)".to_owned()
    }
}

/// Certificate profile names of the certificate factory (kebab-case).
pub fn profiles() -> Vec<&'static str> {
    Profile::ALL.iter().map(Profile::name).collect()
}

/// CA role names of the certificate factory.
pub fn ca_roles() -> Vec<&'static str> {
    CaRole::ALL.iter().map(CaRole::name).collect()
}

/// How `[client] proxy` is written: one of these modes, or a proxy's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProxyWord {
    /// `direct` (the default): no proxy.
    Direct,
    /// `pac`: the scenario's PAC endpoint.
    Pac,
    /// `wpad`: WPAD with the `[names]` suffix.
    Wpad,
    /// Any other word: the name of a `[[proxy]]`.
    Named(String),
}

impl ProxyWord {
    /// The words that are modes, not proxy names.
    pub const MODES: &'static [&'static str] = &["direct", "pac", "wpad"];

    /// The meaning of `word`.
    pub fn of(word: &str) -> ProxyWord {
        match word {
            "direct" => ProxyWord::Direct,
            "pac" => ProxyWord::Pac,
            "wpad" => ProxyWord::Wpad,
            name => ProxyWord::Named(name.to_owned()),
        }
    }
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
    Code::lookup(code).is_some()
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
        assert_eq!(
            Code::lookup("proxy.auth_required"),
            Some(crate::check::codes::PROXY_AUTH_REQUIRED)
        );
    }

    #[test]
    fn words_resolve_to_their_types() {
        assert_eq!(Profile::lookup("sha512-rsa"), Some(Profile::Sha512Rsa));
        assert_eq!(CaRole::lookup("lab"), Some(CaRole::Lab));
        assert_eq!(CaRole::lookup("corporate"), None);
        assert_eq!(ProxyWord::of("wpad"), ProxyWord::Wpad);
        assert_eq!(ProxyWord::of("corp"), ProxyWord::Named("corp".to_owned()));
    }

    #[test]
    fn expected_lists_read_naturally() {
        assert_eq!(one_of(&[]), "nothing (none is defined)");
        assert_eq!(one_of(&["a"]), "`a`");
        assert_eq!(one_of(&["a", "b"]), "one of `a`, `b`");
    }
}
