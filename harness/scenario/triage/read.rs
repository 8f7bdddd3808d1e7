//! Telling and reading each file of a customer folder: the artifact readers' kinds, plus what they do not
//! read (a pasted error text, a PAC file, a squid.conf, certificates).

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::TriageError;
use crate::check::artifacts::netsh::{self, Netsh};
use crate::check::artifacts::service_config::{self, ServiceConfig};
use crate::check::artifacts::trust_settings::{self, TrustSettings};
use crate::check::artifacts::vpn_profile::{self, VpnProfile};
use crate::check::artifacts::{self, event_log, nps, ReadOptions};
use crate::check::taxonomy::paste;
use crate::check::{ArtifactKind, Finding};

/// At most this many files of a folder are read (a customer folder is a handful of files).
pub const MAX_FILES: usize = 200;

/// What a file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FileKind {
    /// One of the artifact readers' kinds.
    Artifact(#[serde(serialize_with = "kind_name")] ArtifactKind),
    /// Text that `explain` recognises (a pasted error, curl output).
    ErrorText,
    /// A PAC / wpad.dat file.
    Pac,
    /// A squid.conf (for `egresslab import`).
    SquidConf,
    /// Certificates (the stand-in for a certificate store).
    Certificates,
    /// Nothing recognised it.
    Unknown,
}

fn kind_name<S: serde::Serializer>(k: &ArtifactKind, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format!("{k:?}"))
}

impl fmt::Display for FileKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FileKind::Artifact(ArtifactKind::ServiceConfig) => f.write_str("service .exe.config"),
            FileKind::Artifact(ArtifactKind::NetshWinhttp) => {
                f.write_str("netsh winhttp show proxy output")
            }
            FileKind::Artifact(ArtifactKind::TrustSettings) => f.write_str("TrustSettings.xml"),
            FileKind::Artifact(ArtifactKind::EventLog) => f.write_str("connector event log"),
            FileKind::Artifact(ArtifactKind::NpsLog) => f.write_str("NPS accounting log"),
            FileKind::Artifact(ArtifactKind::VpnProfile) => f.write_str("VPN ProfileXML"),
            FileKind::ErrorText => f.write_str("pasted error text"),
            FileKind::Pac => f.write_str("PAC file"),
            FileKind::SquidConf => f.write_str("squid.conf"),
            FileKind::Certificates => f.write_str("certificates"),
            FileKind::Unknown => f.write_str("unknown"),
        }
    }
}

/// One file of the report.
#[derive(Debug, Clone, Serialize)]
pub struct FileReport {
    /// The file name (relative to the folder).
    pub file: String,
    /// Its kind.
    pub kind: FileKind,
    /// The encoding it was read in.
    pub encoding: String,
    /// What it says, one line per point.
    pub says: Vec<String>,
    /// The readers' findings.
    pub findings: Vec<Finding>,
}

/// One pasted error text and what explain makes of it.
#[derive(Debug, Clone)]
pub struct Explained {
    /// The file.
    pub file: String,
    /// The text.
    pub text: String,
    /// The candidates, best first.
    pub candidates: Vec<paste::Candidate>,
}

/// Everything read from a folder, typed.
#[derive(Debug, Clone, Default)]
pub struct Folder {
    /// The per-file reports, in file-name order.
    pub reports: Vec<FileReport>,
    /// The service config (file, parsed).
    pub service: Option<(String, ServiceConfig)>,
    /// machine.config, if sent.
    pub machine: Option<(String, ServiceConfig)>,
    /// netsh output (file, parsed).
    pub netsh: Option<(String, Netsh)>,
    /// TrustSettings.xml (file, parsed).
    pub trust: Option<(String, TrustSettings)>,
    /// NPS log rows as sent.
    pub nps_rows: Vec<String>,
    /// The VPN profile (file, parsed, raw text).
    pub vpn_profile: Option<(String, VpnProfile, String)>,
    /// Event messages (file, message).
    pub events: Vec<(String, String)>,
    /// Pasted error texts and event messages, explained.
    pub explained: Vec<Explained>,
    /// The PAC script (file, text).
    pub pac: Option<(String, String)>,
    /// squid.conf files.
    pub squid: Vec<String>,
    /// The certificate folder standing in for the store, if any.
    pub store: Option<PathBuf>,
}

fn is_cert_name(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    [".pem", ".cer", ".crt", ".der", ".pfx", ".p12"]
        .iter()
        .any(|e| n.ends_with(e))
}

fn list(dir: &Path) -> Result<Vec<PathBuf>, TriageError> {
    let err = |source| TriageError::Folder {
        path: dir.to_owned(),
        source,
    };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(err)? {
        let path = entry.map_err(err)?.path();
        files.push(path);
        if files.len() >= MAX_FILES {
            tracing::warn!(folder = %dir.display(), "more than {MAX_FILES} entries; the rest are not read");
            break;
        }
    }
    files.sort();
    Ok(files)
}

/// The certificate folder: a `store/` (or `certs/`) subfolder, or the folder itself when it holds
/// certificate files.
fn find_store(dir: &Path, entries: &[PathBuf]) -> Option<PathBuf> {
    for sub in ["store", "certs", "certificates"] {
        let p = dir.join(sub);
        if p.is_dir() {
            return Some(p);
        }
    }
    entries
        .iter()
        .any(|p| {
            p.is_file()
                && p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(is_cert_name)
        })
        .then(|| dir.to_owned())
}

fn looks_like_squid(name: &str, text: &str) -> bool {
    name.to_ascii_lowercase().contains("squid")
        || text
            .lines()
            .map(str::trim_start)
            .any(|l| l.starts_with("http_port ") || l.starts_with("http_access "))
}

/// Read every file of `dir`.
pub fn read_folder(dir: &Path) -> Result<Folder, TriageError> {
    let entries = list(dir)?;
    let mut folder = Folder {
        store: find_store(dir, &entries),
        ..Folder::default()
    };
    for path in &entries {
        if path.is_dir() {
            if Some(path) == folder.store.as_ref() {
                let n = std::fs::read_dir(path).map(|r| r.count()).unwrap_or(0);
                folder.reports.push(FileReport {
                    file: format!("{}/", name_of(path)),
                    kind: FileKind::Certificates,
                    encoding: String::new(),
                    says: vec![format!("{n} files standing in for the certificate store")],
                    findings: vec![],
                });
            }
            continue;
        }
        read_one(&mut folder, path);
    }
    if folder.reports.is_empty() {
        return Err(TriageError::Empty {
            path: dir.to_owned(),
        });
    }
    Ok(folder)
}

/// An error with its causes, "outer: inner".
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        out.push_str(&format!(": {c}"));
        cur = c.source();
    }
    out
}

fn name_of(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

fn read_one(folder: &mut Folder, path: &Path) {
    let file = name_of(path);
    if is_cert_name(&file) {
        folder.reports.push(FileReport {
            file,
            kind: FileKind::Certificates,
            encoding: String::new(),
            says: vec!["a certificate file (part of the store stand-in)".into()],
            findings: vec![],
        });
        return;
    }
    let decoded = match artifacts::read_text(path) {
        Ok(d) => d,
        Err(e) => {
            folder.reports.push(FileReport {
                file,
                kind: FileKind::Unknown,
                encoding: String::new(),
                says: vec![format!("cannot be read: {}", with_causes(&e))],
                findings: vec![],
            });
            return;
        }
    };
    let encoding = format!(
        "{}{}",
        decoded.encoding,
        if decoded.crlf { ", CRLF" } else { "" }
    );
    let text = decoded.text;
    let mut report = FileReport {
        file: file.clone(),
        kind: FileKind::Unknown,
        encoding,
        says: vec![],
        findings: vec![],
    };
    match artifacts::detect_kind(path, &text) {
        Ok(kind) => {
            report.kind = FileKind::Artifact(kind);
            let opts = ReadOptions {
                store: folder.store.clone(),
                ..ReadOptions::default()
            };
            report.findings = artifacts::read(kind, path, &opts);
            report.says = report
                .findings
                .iter()
                .map(|f| format!("{} — {}", f.code, super::verdict::one_line(&f.summary)))
                .collect();
            keep_typed(folder, kind, &file, &text);
        }
        Err(tried) => {
            if text.contains("FindProxyForURL") {
                report.kind = FileKind::Pac;
                report.says.push("a PAC script (FindProxyForURL)".into());
                folder.pac = Some((file.clone(), text));
            } else if looks_like_squid(&file, &text) {
                report.kind = FileKind::SquidConf;
                report.says.push(
                    "a Squid configuration: `egresslab import` turns it into a lab of that proxy"
                        .into(),
                );
                folder.squid.push(file.clone());
            } else {
                let candidates = paste::candidates(&text);
                if candidates.is_empty() {
                    report.says.push(format!("not read: {tried}"));
                } else {
                    report.kind = FileKind::ErrorText;
                    for c in candidates.iter().take(3) {
                        report.says.push(format!(
                            "explain: {} ({})",
                            c.diagnosis.code,
                            c.why.join("; ")
                        ));
                    }
                    folder.explained.push(Explained {
                        file: file.clone(),
                        text,
                        candidates,
                    });
                }
            }
        }
    }
    folder.reports.push(report);
}

fn keep_typed(folder: &mut Folder, kind: ArtifactKind, file: &str, text: &str) {
    let file = file.to_string();
    match kind {
        ArtifactKind::ServiceConfig => {
            if let Ok(c) = service_config::parse(text) {
                if file.eq_ignore_ascii_case("machine.config") {
                    folder.machine = Some((file, c));
                } else {
                    folder.service = Some((file, c));
                }
            }
        }
        ArtifactKind::NetshWinhttp => {
            if let Ok(n) = netsh::parse(text) {
                folder.netsh = Some((file, n));
            }
        }
        ArtifactKind::TrustSettings => {
            if let Ok(t) = trust_settings::parse(text) {
                folder.trust = Some((file, t));
            }
        }
        ArtifactKind::VpnProfile => {
            if let Ok(p) = vpn_profile::parse(text) {
                folder.vpn_profile = Some((file, p, text.to_string()));
            }
        }
        ArtifactKind::NpsLog => {
            if nps::parse(text).is_ok() {
                folder.nps_rows.extend(
                    text.lines()
                        .filter(|l| !l.trim().is_empty())
                        .map(str::to_string),
                );
            }
        }
        ArtifactKind::EventLog => {
            for block in event_log::blocks(text) {
                let candidates = paste::candidates(&block);
                folder.events.push((file.clone(), block.clone()));
                if !candidates.is_empty() {
                    folder.explained.push(Explained {
                        file: file.clone(),
                        text: block,
                        candidates,
                    });
                }
            }
        }
    }
}
