//! `netsh winhttp show proxy` output (English, Japanese, German, French), which overrides the other proxy
//! settings.

use super::error::{malformed, ArtifactError};
use crate::check::codes;
use crate::check::finding::Finding;

/// What the output says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Netsh {
    /// "Direct access (no proxy server)."
    Direct,
    /// "Proxy Server(s) :  host:port" with its bypass list.
    Proxy {
        /// The proxy server string as printed.
        servers: String,
        /// Bypass entries ("(none)" gives an empty list).
        bypass: Vec<String>,
    },
}

/// A language Windows prints `netsh winhttp show proxy` in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    /// English.
    English,
    /// Japanese.
    Japanese,
    /// German.
    German,
    /// French.
    French,
}

/// The field labels of one language; each list holds the wordings seen in the field (the first is the
/// usual one).
struct Labels {
    language: Language,
    headers: &'static [&'static str],
    direct: &'static [&'static str],
    servers: &'static [&'static str],
    bypass: &'static [&'static str],
    none: &'static str,
}

/// The labels as each language's Windows prints them (compared case-insensitively, spaces and hyphens
/// ignored, so "Proxy Server(s)" and "ProxyServer(s)" are one label). docs/triage.md says where each
/// comes from.
const LABELS: &[Labels] = &[
    Labels {
        language: Language::English,
        headers: &["Current WinHTTP proxy settings"],
        direct: &["Direct access (no proxy server)"],
        servers: &["Proxy Server(s)", "Proxy Server"],
        bypass: &["Bypass List"],
        none: "(none)",
    },
    Labels {
        language: Language::Japanese,
        headers: &["現在の WinHTTP プロキシ設定"],
        direct: &["直接アクセス (プロキシ サーバーなし)"],
        servers: &["プロキシ サーバー"],
        bypass: &["バイパス一覧", "バイパス リスト"],
        none: "(なし)",
    },
    Labels {
        language: Language::German,
        headers: &["Aktuelle WinHTTP-Proxyeinstellungen"],
        direct: &["Direkter Zugriff (kein Proxyserver)"],
        servers: &["Proxyserver", "Proxyserver(s)", "Proxy-Server"],
        bypass: &["Umgehungsliste", "Verbindungen, die die Proxyliste umgehen"],
        none: "(keine)",
    },
    Labels {
        language: Language::French,
        headers: &[
            "Paramètres de proxy WinHTTP actuels",
            "Paramètres actuels du proxy WinHTTP",
        ],
        direct: &[
            "Accès direct (pas de serveur proxy)",
            "Accès direct (sans serveur proxy)",
        ],
        servers: &["Serveur(s) proxy", "Serveur proxy"],
        bypass: &["Liste de contournement"],
        none: "(aucun)",
    },
];

fn any_prefix(squashed: &str, wordings: &[&str]) -> bool {
    wordings.iter().any(|w| squashed.starts_with(&squash(w)))
}

fn any_label(label: &str, wordings: &[&str]) -> bool {
    wordings.iter().any(|w| squash(w) == label)
}

fn squash(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .flat_map(char::to_lowercase)
        .map(|c| match c {
            '（' => '(',
            '）' => ')',
            c => c,
        })
        .collect()
}

/// A line split at its first colon (ASCII or full-width) into a squashed label and a trimmed value.
fn field(line: &str) -> Option<(String, &str)> {
    let (i, colon) = line.char_indices().find(|(_, c)| *c == ':' || *c == '：')?;
    Some((squash(&line[..i]), line[i + colon.len_utf8()..].trim()))
}

/// Parse the output (any of the languages of [`Language`]).
pub fn parse(text: &str) -> Result<Netsh, ArtifactError> {
    parse_localised(text).map(|(n, _)| n)
}

/// Which language the output is in, from its header, direct-access line or field labels.
pub fn language(text: &str) -> Option<Language> {
    text.lines().find_map(|line| {
        let t = squash(line);
        LABELS.iter().find_map(|l| {
            let hit = any_prefix(&t, l.headers)
                || any_prefix(&t, l.direct)
                || field(line).is_some_and(|(label, _)| {
                    any_label(&label, l.servers) || any_label(&label, l.bypass)
                });
            hit.then_some(l.language)
        })
    })
}

/// Parse the output and say which language it was in.
pub fn parse_localised(text: &str) -> Result<(Netsh, Language), ArtifactError> {
    let mut servers = None;
    let mut bypass = Vec::new();
    let mut offset = 0;
    let mut first_content = None;
    let mut lang = None;
    for line in text.split_inclusive('\n') {
        let t = line.trim();
        let sq = squash(t);
        let header = LABELS.iter().find(|l| any_prefix(&sq, l.headers));
        if let Some(l) = header {
            lang = Some(l.language);
        } else if !t.is_empty() && first_content.is_none() {
            first_content = Some(offset + (line.len() - line.trim_start().len()));
        }
        if let Some(l) = LABELS.iter().find(|l| any_prefix(&sq, l.direct)) {
            return Ok((Netsh::Direct, l.language));
        }
        if let (None, Some((label, value))) = (header, field(t)) {
            if let Some(l) = LABELS.iter().find(|l| any_label(&label, l.servers)) {
                if value.is_empty() {
                    return Err(malformed(
                        text,
                        offset + line.find([':', '：']).map(|i| i + 1).unwrap_or(0),
                        "the proxy server line has no server",
                    ));
                }
                lang.get_or_insert(l.language);
                servers = Some(value.to_string());
            } else if let Some(l) = LABELS.iter().find(|l| any_label(&label, l.bypass)) {
                lang.get_or_insert(l.language);
                let none = LABELS.iter().any(|l| squash(l.none) == squash(value));
                if !none && !value.is_empty() {
                    bypass = value
                        .split(';')
                        .map(|s| s.trim().to_string())
                        .filter(|s| !s.is_empty())
                        .collect();
                }
            }
        }
        offset += line.len();
    }
    match servers {
        Some(servers) => Ok((
            Netsh::Proxy { servers, bypass },
            lang.unwrap_or(Language::English),
        )),
        None => Err(malformed(
            text,
            first_content.unwrap_or(0),
            "expected a direct-access line or a proxy server line (\"Direct access (no proxy server).\" or \
             \"Proxy Server(s) :  host:port\", or the same in Japanese, German or French)",
        )),
    }
}

/// Findings: a winhttp proxy overrides the other settings.
pub fn findings(target: &str, n: &Netsh) -> Vec<Finding> {
    match n {
        Netsh::Direct => vec![Finding::new(codes::CONFIG_PROXY_DIRECT, target, "netsh winhttp: direct access (no proxy server)")],
        Netsh::Proxy { servers, bypass } => vec![Finding::new(
            codes::CONFIG_NETSH_OVERRIDES,
            target,
            format!("netsh winhttp sets proxy {servers} (bypass: {}), which overrides the other proxy settings; effective proxy: {servers}", if bypass.is_empty() { "none".into() } else { bypass.join(";") }),
        )],
    }
}
