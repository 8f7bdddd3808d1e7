//! `egresslab check`: run the diagnostic checks against any network, lab or real.

use std::process::ExitCode;

/// Arguments of `egresslab check`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Run `egresslab check`.
pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`egresslab check` is not built yet")
}
