//! `egresslab list`: list the built-in scenario catalog.

use std::process::ExitCode;

/// Arguments of `egresslab list`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Run `egresslab list`.
pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`egresslab list` is not built yet")
}
