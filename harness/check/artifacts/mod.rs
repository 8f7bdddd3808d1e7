//! Artifact readers: pure functions from a file's text to a typed result and findings.

mod error;
pub mod event_log;
pub mod netsh;
pub mod nps;
pub mod service_config;
pub mod store;
pub mod trust_settings;
pub mod vpn_profile;
pub mod xml;

use std::path::{Path, PathBuf};

pub use error::{line_col, malformed, ArtifactError};

use crate::check::codes;
use crate::check::config::ArtifactKind;
use crate::check::finding::Finding;

/// Guess the kind of an artifact from its name and content.
pub fn detect_kind(path: &Path, text: &str) -> Option<ArtifactKind> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let t = text.trim_start_matches('\u{feff}').trim_start();
    if name.ends_with(".exe.config")
        || name == "machine.config"
        || (t.contains("<configuration") && t.contains("<system.net"))
    {
        return Some(ArtifactKind::ServiceConfig);
    }
    if name.starts_with("trustsettings") || t.contains("<ConnectorTrustSettingsFile") {
        return Some(ArtifactKind::TrustSettings);
    }
    if t.contains("<VPNProfile") || name.contains("profile") && t.starts_with('<') {
        return Some(ArtifactKind::VpnProfile);
    }
    if t.contains("WinHTTP proxy settings")
        || t.contains("Direct access (no proxy server)")
        || t.contains("Proxy Server(s)")
    {
        return Some(ArtifactKind::NetshWinhttp);
    }
    let first = t.lines().next().unwrap_or("");
    if first.matches(',').count() >= 20
        && (first.contains("\"IAS\"")
            || first.contains(",IAS,")
            || name.starts_with("in") && name.ends_with(".log"))
    {
        return Some(ArtifactKind::NpsLog);
    }
    if first.matches(',').count() >= 20 {
        return Some(ArtifactKind::NpsLog);
    }
    if !t.is_empty() {
        return Some(ArtifactKind::EventLog);
    }
    None
}

/// Options a reader may need beyond the file itself.
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    /// A certificate folder (TrustSettings.xml, VPN profile).
    pub store: Option<PathBuf>,
    /// A machine.config to fall back to (service config).
    pub machine_config: Option<PathBuf>,
    /// The method the VPN profile expects, for the NPS log (e.g. "PEAP").
    pub expected_auth: Option<String>,
}

/// Read one artifact file of `kind` and return its findings (read errors become a finding naming the place).
pub fn read(kind: ArtifactKind, path: &Path, options: &ReadOptions) -> Vec<Finding> {
    let target = path.display().to_string();
    let text =
        match egresslab_certs::fs::read_regular_file(path, egresslab_certs::fs::MAX_INPUT_FILE) {
            Ok(b) => String::from_utf8_lossy(&b).into_owned(),
            Err(e) => {
                return vec![Finding::new(
                    codes::CONFIG_CONFIG_INVALID,
                    &target,
                    format!("cannot read {target}: {e}"),
                )]
            }
        };
    let result = match kind {
        ArtifactKind::ServiceConfig => {
            let machine = options.machine_config.as_ref().and_then(|p| {
                egresslab_certs::fs::read_regular_text(p, egresslab_certs::fs::MAX_INPUT_FILE).ok()
            });
            service_config::parse(&text)
                .map(|c| service_config::findings(&target, &c, machine.as_deref()))
        }
        ArtifactKind::NetshWinhttp => netsh::parse(&text).map(|n| netsh::findings(&target, &n)),
        ArtifactKind::TrustSettings => trust_settings::parse(&text)
            .map(|t| trust_settings::findings(&target, &t, options.store.as_deref())),
        ArtifactKind::EventLog => Ok(event_log::findings(&target, &text)),
        ArtifactKind::NpsLog => {
            nps::parse(&text).map(|r| nps::findings(&target, &r, options.expected_auth.as_deref()))
        }
        ArtifactKind::VpnProfile => vpn_profile::parse(&text)
            .map(|p| vpn_profile::findings(&target, &p, options.store.as_deref())),
    };
    result.unwrap_or_else(|e| {
        vec![Finding::new(
            codes::CONFIG_CONFIG_INVALID,
            &target,
            format!("{target}: {e}"),
        )]
    })
}
