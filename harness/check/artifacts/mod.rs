//! Artifact readers: pure functions from a file's text to a typed result and findings.

mod error;
pub mod event_log;
pub mod netsh;
pub mod nps;
pub mod service_config;
pub mod store;
pub mod text;
pub mod trust_settings;
pub mod vpn_profile;
pub mod xml;

use std::path::{Path, PathBuf};

pub use error::{line_col, malformed, ArtifactError};

use crate::check::codes;
use crate::check::config::ArtifactKind;
use crate::check::finding::Finding;

/// The kinds [`detect_kind`] tries, in order, each with what it looks for (the error of an unknown file
/// lists them).
pub const KINDS_TRIED: &[&str] = &[
    "service .exe.config (<configuration> with <system.net>, or a *.exe.config / machine.config name)",
    "TrustSettings.xml (<ConnectorTrustSettingsFile>)",
    "VPN ProfileXML (<VPNProfile>)",
    "netsh winhttp show proxy output (its header, direct-access line or field labels in English, Japanese, German or French)",
    "NPS accounting log (lines of at least 20 comma-separated fields)",
    "connector event-log text (a known connector event message, or Log Name: / Source: / Event ID: headers)",
];

/// Markers of an exported or copied Windows event.
const EVENT_MARKERS: &[&str] = &[
    "log name:",
    "event id:",
    "source:",
    "microsoft entra private network connector",
    "microsoft aad application proxy connector",
    "rasclient",
];

fn looks_like_event_log(text: &str) -> bool {
    let lower = text.to_lowercase();
    EVENT_MARKERS.iter().any(|m| lower.contains(m))
        || event_log::blocks(text)
            .iter()
            .any(|b| event_log::classify(b) != codes::EVENT_UNRECOGNISED)
}

/// Tell the kind of an artifact from its name and content; a file no reader recognises is an error that
/// lists the kinds tried ([`KINDS_TRIED`]), never a silent guess.
pub fn detect_kind(path: &Path, text: &str) -> Result<ArtifactKind, ArtifactError> {
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
        return Ok(ArtifactKind::ServiceConfig);
    }
    if t.contains("<ConnectorTrustSettingsFile") {
        return Ok(ArtifactKind::TrustSettings);
    }
    if t.contains("<VPNProfile") {
        return Ok(ArtifactKind::VpnProfile);
    }
    if netsh::language(t).is_some() {
        return Ok(ArtifactKind::NetshWinhttp);
    }
    let first = t.lines().next().unwrap_or("");
    if first.matches(',').count() >= 20 {
        return Ok(ArtifactKind::NpsLog);
    }
    if looks_like_event_log(t) {
        return Ok(ArtifactKind::EventLog);
    }
    Err(ArtifactError::UnknownKind {
        tried: KINDS_TRIED.iter().map(|k| k.to_string()).collect(),
    })
}

/// Read a file as Windows writes it (UTF-16LE/BE with a BOM, UTF-8 with or without one, CRLF).
pub fn read_text(path: &Path) -> Result<text::Decoded, ArtifactError> {
    let bytes = egresslab_certs::fs::read_regular_file(path, egresslab_certs::fs::MAX_INPUT_FILE)
        .map_err(|source| ArtifactError::Io {
        path: path.to_owned(),
        source,
    })?;
    text::decode(&bytes)
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
    let text = match read_text(path) {
        Ok(d) => d.text,
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
