//! The diagnosis taxonomy, read from the embedded `diagnoses.toml` (the one source of truth), and the
//! lookups `egresslab explain` uses: by code, by error number or string, by event-log text.

use std::sync::OnceLock;

use std::fmt;

use serde::{Deserialize, Serialize};

pub mod paste;

const SOURCE: &str = include_str!("diagnoses.toml");

/// How bad a finding is.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The check passed.
    Ok,
    /// Worth knowing, not a problem.
    Info,
    /// Works, but not as intended.
    Warning,
    /// Broken.
    Error,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Ok => "ok",
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        })
    }
}

/// One documented diagnosis.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Diagnosis {
    /// The stable dotted code.
    pub code: String,
    /// Default severity.
    pub severity: Severity,
    /// A short title.
    pub title: String,
    /// What the diagnosis means.
    pub meaning: String,
    /// What to do.
    #[serde(default)]
    pub steps: Vec<String>,
    /// The seed section it comes from.
    pub source: String,
    /// Error codes and short strings that map to it, compared whole (case-insensitive).
    #[serde(default)]
    pub matches: Vec<String>,
    /// For event messages: exact strings that must all occur in the text.
    #[serde(default)]
    pub patterns: Vec<String>,
    /// Known texts (English and Japanese messages, curl's and openssl's error texts) that `explain` finds
    /// inside pasted text, and whose long-enough fragments it recognises ([`paste`]).
    #[serde(default)]
    pub phrases: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    diagnosis: Vec<Diagnosis>,
}

/// The parsed taxonomy.
#[derive(Debug)]
pub struct Taxonomy {
    /// Every diagnosis in file order.
    pub entries: Vec<Diagnosis>,
}

/// Parse a taxonomy text (the embedded one, or another for tests).
pub fn parse(text: &str) -> Result<Taxonomy, toml::de::Error> {
    let file: File = toml::from_str(text)?;
    Ok(Taxonomy {
        entries: file.diagnosis,
    })
}

/// The embedded taxonomy, parsed once. A parse failure (caught by the unit tests) leaves it empty.
pub fn taxonomy() -> &'static Taxonomy {
    static CELL: OnceLock<Taxonomy> = OnceLock::new();
    CELL.get_or_init(|| match parse(SOURCE) {
        Ok(t) => t,
        Err(error) => {
            tracing::error!(%error, "embedded diagnoses.toml does not parse");
            Taxonomy {
                entries: Vec::new(),
            }
        }
    })
}

/// The diagnosis with this code.
pub fn lookup(code: &str) -> Option<&'static Diagnosis> {
    taxonomy().entries.iter().find(|d| d.code == code)
}

/// Collapse whitespace and unify quote characters, so pasted event text compares with the table's.
pub fn normalise(text: &str) -> String {
    let unified: String = text
        .chars()
        .map(|c| match c {
            '\u{2018}' | '\u{2019}' => '\'',
            '\u{201C}' | '\u{201D}' => '"',
            '\u{2013}' | '\u{2014}' => '-',
            c => c,
        })
        .collect();
    unified
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// The event diagnosis whose every pattern occurs in `text`, or `None` (never a guess). When several
/// match, the one with the most pattern text wins (the most specific).
pub fn match_event(text: &str) -> Option<&'static Diagnosis> {
    let hay = normalise(text);
    taxonomy()
        .entries
        .iter()
        .filter(|d| !d.patterns.is_empty())
        .filter(|d| d.patterns.iter().all(|p| hay.contains(&normalise(p))))
        .max_by_key(|d| d.patterns.iter().map(String::len).sum::<usize>())
}

/// Everything `query` can mean, best first: a code, an error number (alone or inside text), a known
/// message or a long-enough fragment of one, in English or Japanese ([`paste::candidates`] has the reasons).
pub fn explain(query: &str) -> Vec<&'static Diagnosis> {
    paste::candidates(query)
        .into_iter()
        .map(|c| c.diagnosis)
        .collect()
}

/// The Markdown documentation page (docs/diagnoses.md), generated from the taxonomy.
pub fn markdown() -> String {
    let mut out = String::from(
        "# Diagnosis codes\n\n<!-- Generated from harness/check/diagnoses.toml by \
         `egresslab explain --list --format markdown`; do not edit by hand. -->\n\n\
         Every finding egresslab reports carries one of these stable codes. Severity is the default; a \
         check may lower it (for instance report an `ok` code as `info`).\n\n\
         | code | severity | title |\n| --- | --- | --- |\n",
    );
    for d in &taxonomy().entries {
        out.push_str(&format!(
            "| [`{}`](#{}) | {} | {} |\n",
            d.code,
            anchor(&d.code),
            d.severity,
            d.title
        ));
    }
    for d in &taxonomy().entries {
        out.push_str(&format!("\n## `{}`\n\n", d.code));
        out.push_str(&format!("<a id=\"{}\"></a>\n\n", anchor(&d.code)));
        out.push_str(&format!(
            "**{}** — severity `{}`.\n\n{}\n\n",
            d.title, d.severity, d.meaning
        ));
        if !d.steps.is_empty() {
            out.push_str("Steps:\n\n");
            for s in &d.steps {
                out.push_str(&format!("1. {s}\n"));
            }
            out.push('\n');
        }
        out.push_str(&format!("Source: {}.\n", d.source));
        if !d.matches.is_empty() {
            let list: Vec<String> = d.matches.iter().map(|m| format!("`{m}`")).collect();
            out.push_str(&format!("\nMaps: {}.\n", list.join(", ")));
        }
        if !d.patterns.is_empty() {
            out.push_str("\nMatched event text (all must occur):\n\n");
            for p in &d.patterns {
                out.push_str(&format!("- `{p}`\n"));
            }
        }
        if !d.phrases.is_empty() {
            out.push_str("\nRecognised in pasted text (`egresslab explain`):\n\n");
            for p in &d.phrases {
                out.push_str(&format!("- `{p}`\n"));
            }
        }
    }
    out
}

fn anchor(code: &str) -> String {
    code.replace('.', "-")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::codes;

    /// The constants are generated by build.rs with a line scanner; this holds them against the real
    /// TOML parser: every generated constant resolves in the taxonomy, in file order, none missing.
    #[test]
    fn every_generated_code_resolves_in_the_taxonomy() {
        let t = parse(SOURCE).expect("diagnoses.toml parses");
        let from_file: Vec<&str> = t.entries.iter().map(|d| d.code.as_str()).collect();
        let generated: Vec<&str> = codes::ALL.iter().map(|c| c.0).collect();
        assert_eq!(generated, from_file, "build.rs misread diagnoses.toml");
        for code in codes::ALL {
            let entry =
                lookup(code.as_str()).unwrap_or_else(|| panic!("{code} is not in the taxonomy"));
            assert_eq!(entry.code, code.as_str());
        }
        assert_eq!(
            lookup(codes::NET_TCP_FILTERED.as_str()).map(|d| d.title.as_str()),
            Some("Connection timed out (filtered)")
        );
        assert_eq!(
            lookup(codes::VPN_CONDITIONAL_ACCESS_PROFILE_MISSING_EKU.as_str())
                .map(|d| d.title.as_str()),
            Some("VPN profile lacks the conditional-access EKU filter (\"Oops\" loop)")
        );
        let mut sorted = from_file.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), from_file.len(), "duplicate codes");
        for d in &t.entries {
            assert!(!d.source.is_empty(), "{} has no source", d.code);
            if d.severity != Severity::Ok && d.severity != Severity::Info {
                assert!(!d.steps.is_empty(), "{} has no steps", d.code);
            }
        }
    }

    #[test]
    fn explain_finds_codes_numbers_and_event_text() {
        assert_eq!(explain("809")[0].code, "vpn.ike_blocked");
        assert_eq!(explain("0x800B0109").len(), 2);
        assert!(explain("13801")
            .iter()
            .any(|d| d.code == "vpn.server_cert.name_mismatch"));
        assert_eq!(
            explain("AADSTS50059")[0].code,
            "event.registration.aadsts50059"
        );
        assert_eq!(explain("proxy.denied")[0].code, "proxy.denied");
        assert!(explain("something else entirely").is_empty());
    }

    #[test]
    fn event_matching_prefers_the_specific_row_and_never_guesses() {
        let aad = "Connector registration failed: Make sure you enabled application proxy in the Azure \
                   Management Portal and that you entered your Active Directory user name and password \
                   correctly. Error: 'AADSTS50059: No tenant-identifying information found in either the \
                   request or implied by any provided credentials and search by service principal URI has failed.'";
        assert_eq!(
            match_event(aad).map(|d| d.code.as_str()),
            Some("event.registration.aadsts50059")
        );
        let partial = "Connector registration failed: Make sure you enabled application proxy";
        assert!(match_event(partial).is_none());
    }
}
