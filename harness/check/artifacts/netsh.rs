//! `netsh winhttp show proxy` output (English), which overrides the other proxy settings.

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

/// Parse the output.
pub fn parse(text: &str) -> Result<Netsh, ArtifactError> {
    let mut servers = None;
    let mut bypass = Vec::new();
    let mut offset = 0;
    let mut first_content = None;
    for line in text.split_inclusive('\n') {
        let t = line.trim();
        if !t.is_empty()
            && !t.starts_with("Current WinHTTP proxy settings")
            && first_content.is_none()
        {
            first_content = Some(offset + (line.len() - line.trim_start().len()));
        }
        if t.starts_with("Direct access (no proxy server)") {
            return Ok(Netsh::Direct);
        }
        if let Some(rest) = t.strip_prefix("Proxy Server(s)") {
            let v = rest
                .trim_start()
                .strip_prefix(':')
                .map(str::trim)
                .unwrap_or("");
            if v.is_empty() {
                return Err(malformed(
                    text,
                    offset + line.find(':').map(|i| i + 1).unwrap_or(0),
                    "Proxy Server(s) line without a server",
                ));
            }
            servers = Some(v.to_string());
        } else if let Some(rest) = t.strip_prefix("Bypass List") {
            let v = rest
                .trim_start()
                .strip_prefix(':')
                .map(str::trim)
                .unwrap_or("");
            if v != "(none)" && !v.is_empty() {
                bypass = v
                    .split(';')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect();
            }
        }
        offset += line.len();
    }
    match servers {
        Some(servers) => Ok(Netsh::Proxy { servers, bypass }),
        None => Err(malformed(
            text,
            first_content.unwrap_or(0),
            "expected \"Direct access (no proxy server).\" or \"Proxy Server(s) : host:port\"",
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
