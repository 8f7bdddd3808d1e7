//! `egresslab inspect`: read artifact files (service .exe.config, netsh output, TrustSettings.xml, event
//! text, NPS logs, VPN profile XML).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use egresslab::check::artifacts::{self, ReadOptions};
use egresslab::check::{ArtifactKind, Report};

use super::check::{emit, Format};

/// The artifact kinds, for `--kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    /// Service .exe.config (or machine.config).
    ServiceConfig,
    /// `netsh winhttp show proxy` output.
    Netsh,
    /// TrustSettings.xml.
    TrustSettings,
    /// Connector event-log text.
    Event,
    /// NPS accounting log.
    Nps,
    /// VPN ProfileXML.
    VpnProfile,
}

impl From<Kind> for ArtifactKind {
    fn from(k: Kind) -> Self {
        match k {
            Kind::ServiceConfig => ArtifactKind::ServiceConfig,
            Kind::Netsh => ArtifactKind::NetshWinhttp,
            Kind::TrustSettings => ArtifactKind::TrustSettings,
            Kind::Event => ArtifactKind::EventLog,
            Kind::Nps => ArtifactKind::NpsLog,
            Kind::VpnProfile => ArtifactKind::VpnProfile,
        }
    }
}

/// Arguments of `egresslab inspect`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Artifact files.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// The kind (detected from name and content when absent).
    #[arg(long, value_enum)]
    pub kind: Option<Kind>,
    /// Certificate folder (PEM/DER/PFX) standing in for a certificate store.
    #[arg(long)]
    pub store: Option<PathBuf>,
    /// machine.config for the .exe.config fallback.
    #[arg(long)]
    pub machine_config: Option<PathBuf>,
    /// The authentication method the VPN profile requires (for NPS logs), e.g. PEAP.
    #[arg(long)]
    pub expected_auth: Option<String>,
    /// Report format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// Run `egresslab inspect`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let start = Instant::now();
    let opts = ReadOptions {
        store: args.store.clone(),
        machine_config: args.machine_config.clone(),
        expected_auth: args.expected_auth.clone(),
    };
    let mut report = Report::default();
    for f in &args.files {
        let decoded = match artifacts::read_text(f) {
            Ok(d) => d,
            Err(e) => {
                eprintln!("egresslab inspect: {:#}", anyhow::Error::new(e));
                return Ok(ExitCode::from(2));
            }
        };
        let kind = match args.kind {
            Some(k) => k.into(),
            None => match artifacts::detect_kind(f, &decoded.text) {
                Ok(k) => k,
                Err(e) => {
                    eprintln!(
                        "egresslab inspect: {}: {e}; name the kind with --kind",
                        f.display()
                    );
                    return Ok(ExitCode::from(2));
                }
            },
        };
        if args.format == Format::Text {
            let lang = match kind {
                ArtifactKind::NetshWinhttp => artifacts::netsh::language(&decoded.text)
                    .map(|l| format!(", {l:?}"))
                    .unwrap_or_default(),
                _ => String::new(),
            };
            println!(
                "{}: {kind:?} ({}{}{lang})",
                f.display(),
                decoded.encoding,
                if decoded.crlf { ", CRLF" } else { "" }
            );
        }
        report.findings.extend(artifacts::read(kind, f, &opts));
    }
    report.elapsed = start.elapsed();
    Ok(emit(&report, args.format, "egresslab inspect"))
}
