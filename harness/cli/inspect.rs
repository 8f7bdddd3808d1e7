//! `egresslab inspect`: read artifact files (service .exe.config, netsh output, TrustSettings.xml, NPS logs, VPN profile XML).

use std::process::ExitCode;

/// Arguments of `egresslab inspect`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Run `egresslab inspect`.
pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`egresslab inspect` is not built yet")
}
